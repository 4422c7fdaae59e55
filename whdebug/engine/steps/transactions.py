"""Transaction ids (dedupe): paths, overrides, separator, generated fallback, duplicates."""

from __future__ import annotations

import re

from whdebug.engine._specs import TransactionSpec
from whdebug.engine.bodypaths import BodyPath
from whdebug.engine.paths import Body, js_string
from whdebug.engine.report import Finding, TransactionResult, finding
from whdebug.model.request import CapturedRequest


class DedupeIndex:
    """Transaction ids already accepted, with the request that first carried each.

    With a `window`, a request is deduplicated only against the last `window` requests
    before it (`advance` counts each request, accepted or not).
    """

    def __init__(self, window: int | None = None) -> None:
        self.window = window
        self._seen: dict[str, tuple[str | int, int]] = {}
        self._position = 0

    def lookup(self, transaction_id: str) -> str | int | None:
        found = self._seen.get(transaction_id)
        if found is None:
            return None
        source, position = found
        if self.window is not None and self._position - position > self.window:
            return None
        return source

    def record(self, transaction_id: str, source: str | int) -> None:
        if self.lookup(transaction_id) is None:
            self._seen[transaction_id] = (source, self._position)

    def advance(self) -> None:
        """One request went by; with a window, ids older than it are forgotten."""
        self._position += 1
        if self.window is not None and len(self._seen) > 4 * (self.window + 1):
            horizon = self._position - self.window
            self._seen = {k: v for k, v in self._seen.items() if v[1] >= horizon}

    def __len__(self) -> int:
        return len(self._seen)


def _value(path: BodyPath, body: Body) -> str | None:
    found = body.select(path)
    if not found or found[0] is None:
        return None
    text = js_string(found[0])
    return text or None


def extract_transaction(
    spec: TransactionSpec | None, event: str | None, request: CapturedRequest, body: Body
) -> tuple[TransactionResult, list[Finding]]:
    """The id the runtime dedupes on (duplicate lookup is the caller's, see DedupeIndex)."""
    findings: list[Finding] = []
    if spec is None:
        findings.append(
            finding(
                "TX_GENERATED",
                "no webhook.transactionId: every delivery counts as new, so a "
                "provider retry fires your automations twice",
                'add "transactionId": {"paths": ["$.id"]} pointing at the delivery or event id',
                step="dedupe",
                severity="info",
                pointer="/webhook/transactionId",
            )
        )
        return TransactionResult(None, True, None), findings
    compiled = spec.paths
    override = None
    if event is not None and event in spec.overrides:
        compiled = spec.overrides[event]
        override = event
    paths = [path.text for path in compiled]
    separator = spec.separator
    values = [_value(path, body) for path in compiled]
    if separator and len(paths) > 1:
        transaction_id = separator.join(v or "" for v in values) if any(values) else None
        for path, value in zip(paths, values, strict=True):
            if value is None and transaction_id is not None:
                findings.append(
                    finding(
                        "TX_NOT_FOUND",
                        f"transactionId path {path} finds nothing; the joined id "
                        f"{transaction_id!r} has an empty part",
                        f"fix or remove {path}",
                        step="dedupe",
                    )
                )
    else:
        transaction_id = next((v for v in values if v), None)
    if transaction_id is not None:
        return TransactionResult(transaction_id, False, None, tuple(paths), override), findings
    for path in paths:
        header = _similar_header(path, request)
        if header:
            findings.append(
                finding(
                    "TX_PATH_IS_HEADER",
                    f"transactionId path {path} finds nothing in the body, but "
                    f"header {header} exists: the provider sends this id as a header",
                    "point transactionId.paths at a body field "
                "(whdebug's model of the runtime reads "
                    "only the body); the header cannot be used",
                    step="dedupe",
                    pointer="/webhook/transactionId/paths",
                )
            )
    if spec.generate:
        findings.append(
            finding(
                "TX_GENERATED",
                f"no transaction id found ({', '.join(paths) or 'no paths'}); the "
                "runtime generates a random one, so dedupe cannot catch provider retries",
                "point transactionId.paths at a stable delivery or event id",
                step="dedupe",
                pointer="/webhook/transactionId/paths",
            )
        )
        return TransactionResult(None, True, None, tuple(paths), override), findings
    findings.append(
        finding(
            "TX_NOT_FOUND",
            f"no transaction id found ({', '.join(paths) or 'no paths'}) and no "
            "fallback: the runtime may reject or mis-dedupe this delivery",
            'point transactionId.paths at a stable id, or add "fallback": "generate"',
            step="dedupe",
            pointer="/webhook/transactionId",
        )
    )
    return TransactionResult(None, False, None, tuple(paths), override), findings


def _similar_header(path: str, request: CapturedRequest) -> str | None:
    last = re.split(r"[.\[\]$'\"]+", path.strip())
    words = [w.lower() for w in last if w]
    if not words:
        return None
    word = re.sub(r"[^a-z0-9]", "", words[-1])
    if len(word) < 4:
        return None
    for name, _ in request.headers:
        if word in re.sub(r"[^a-z0-9]", "", name.lower()):
            return name
    return None
