"""Transaction ids (dedupe): paths, overrides, separator, generated fallback, duplicates."""

from __future__ import annotations

import json
import re

from whdebug.engine._specs import TransactionSpec
from whdebug.engine.bodypaths import BodyPath
from whdebug.engine.patches import PatchOp, add
from whdebug.engine.paths import SAFE_INTEGER, Body, iter_leaves, js_string
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
        self._exact: dict[str, str] = {}
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
            self._exact.pop(transaction_id, None)

    def record_new_run(self, entries: list[tuple[str | None, str | int]]) -> bool:
        """The next requests, in order, as (accepted transaction id or None, source), each
        `record`ed when it has an id and `advance`d past, when none of them is a duplicate
        (of an earlier request, or of another in the run) and there is no window; False,
        and nothing changed, otherwise (enter them one by one then)."""
        if self.window is not None:
            return False
        seen = self._seen
        position = self._position
        fresh = {transaction_id: (source, position + offset)
                 for offset, (transaction_id, source) in enumerate(entries)
                 if transaction_id is not None}
        if len(fresh) != sum(1 for transaction_id, _ in entries if transaction_id is not None) \
                or not seen.keys().isdisjoint(fresh):
            return False
        seen.update(fresh)  # new ids: none has an exact form remembered (`record` pops it)
        self._position = position + len(entries)
        return True

    def remember_exact(self, transaction_id: str, exact: str) -> None:
        """The id just recorded came from an integer beyond 2**53: keep its every digit."""
        if transaction_id in self._seen:
            self._exact[transaction_id] = exact

    def exact_of(self, transaction_id: str) -> str | None:
        """The exact digits of the delivery that first carried a rounded id (None: unknown,
        or the id was not rounded)."""
        return self._exact.get(transaction_id)

    def advance(self) -> None:
        """One request went by; with a window, ids older than it are forgotten."""
        self._position += 1
        if self.window is not None and len(self._seen) > 4 * (self.window + 1):
            horizon = self._position - self.window
            self._seen = {k: v for k, v in self._seen.items() if v[1] >= horizon}
            self._exact = {k: v for k, v in self._exact.items() if k in self._seen}

    def __len__(self) -> int:
        return len(self._seen)


def _value(path: BodyPath, body: Body) -> tuple[str | None, str | None, bool]:
    """The value as JavaScript's String() gives it, with every digit (the same unless it is
    an integer beyond 2**53, which JSON.parse rounds), and whether it is such an integer."""
    found = body.select(path)
    if not found or found[0] is None:
        return None, None, False
    exact = found[0]
    if type(exact) is str:
        return exact or None, exact or None, False
    text = js_string(exact)
    if isinstance(exact, int) and not isinstance(exact, bool) and abs(exact) > SAFE_INTEGER:
        return text or None, str(exact), True
    return text or None, text or None, False


def string_id_path(body: Body, exact: str) -> tuple[str, str] | None:
    """A body string that holds the id's every digit (Shopify's `admin_graphql_api_id`:
    `gid://shopify/Order/820982911946154508`), which JSON.parse keeps exactly: its path and
    value."""
    if body.kind != "json" or "|" in exact or not exact.lstrip("-").isdigit():
        return None
    pattern = re.compile(rf"(?<![0-9]){re.escape(exact)}(?![0-9])")
    for path, value in iter_leaves(body.document, limit=2000):
        if isinstance(value, str) and "[" not in path and pattern.search(value):
            return path, value
    return None


def unsafe_integer_finding(result: TransactionResult, first: str | None = None,
                           duplicate_of: str | None = None,
                           body: Body | None = None) -> Finding:
    """TX_UNSAFE_INTEGER: a warning for a rounded id; an error when it makes a different
    delivery (`first`, the exact id of `duplicate_of`) look like this one. With the `body`,
    a string field holding the same digits becomes the first transactionId path (a patch)."""
    exact = result.exact_id or ""
    found = string_id_path(body, exact) if body is not None else None
    paths = ("/webhook/transactionId/overrides/"
             + (result.override or "").replace("~", "~0").replace("/", "~1") + "/paths"
             if result.override else "/webhook/transactionId/paths")
    if found is not None:
        string_path, value = found
        shown = json.dumps(value if len(value) <= 80 else value[:77] + "...",
                           ensure_ascii=False)
        held = ("holds the same id as a string" if value == exact
                else "holds every digit of the id in a string")
        advice = (f"put {string_path} first in transactionId.paths: its value {shown} {held}, "
                  "which JSON.parse keeps exactly")
        patch: tuple[PatchOp, ...] | None = (add(paths + "/0", string_path),)
    else:
        advice = ("point transactionId.paths at a string id first, such as "
                  "$.admin_graphql_api_id (Shopify), which JSON.parse keeps exactly")
        patch = None
    if first is not None and duplicate_of is not None:
        return finding(
            "TX_UNSAFE_INTEGER",
            f"transaction id {result.exact_id} and the id {first} of {duplicate_of} are "
            f"different, but JavaScript cannot tell them apart: the runtime's JSON.parse reads "
            f"both as {result.id}, so this delivery is dropped as a duplicate and its "
            "automations never fire",
            advice, step="dedupe", severity="error", pointer=paths, patch=patch)
    return finding(
        "TX_UNSAFE_INTEGER",
        f"transaction id {result.exact_id} is beyond JavaScript's safe integers (2^53): the "
        + (f"runtime's JSON.parse reads it as {result.id}, so" if result.exact_id != result.id
           else "runtime's JSON.parse stores the nearest double, which prints the same digits;")
        + " different ids near it read as the same number, and the later one is dropped as a "
        "duplicate"
        + (f"; whdebug cannot tell whether {duplicate_of} carried this exact id (a retry) or "
           "another one (a lost delivery)" if duplicate_of else ""),
        advice, step="dedupe", pointer=paths, patch=patch)


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
    paths = tuple([path.text for path in compiled])
    separator = spec.separator
    pairs = [_value(path, body) for path in compiled]
    exact_id: str | None
    if separator and len(paths) > 1:
        values = [pair[0] for pair in pairs]
        exacts = [pair[1] for pair in pairs]
        transaction_id = separator.join(v or "" for v in values) if any(values) else None
        exact_id = separator.join(v or "" for v in exacts) if any(exacts) else None
        unsafe = any(v != e or big for v, e, big in pairs)
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
        transaction_id, exact_id, unsafe = None, None, False
        for pair in pairs:
            if pair[0]:
                transaction_id, exact_id, unsafe = pair
                break
    if transaction_id is not None:
        result = TransactionResult(transaction_id, False, None, paths, override,
                                   exact_id if unsafe else None)
        return result, findings
    for path in paths:
        header = _similar_header(path, request)
        if header:
            findings.append(_path_is_header(path, header, spec.generate))
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
        return TransactionResult(None, True, None, paths, override), findings
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


_DOCS_HEADER_PATHS = {"$.delivery": "GitHub delivery header"}
"""Paths Karzoun's webhooks guide itself describes as a provider header."""


def _path_is_header(path: str, header: str, generate: bool) -> Finding:
    """TX_PATH_IS_HEADER: the docs name header-like paths; whether the runtime reads the
    header for them is not documented, so both outcomes are stated."""
    docs = _DOCS_HEADER_PATHS.get(path.strip())
    promise = (f"Karzoun's webhooks guide lists {path} as the \"{docs}\" (its GitHub example "
               "uses it), but does not say how a body JSONPath reads a header" if docs else
               "the docs do not say whether a transactionId path can read a header")
    without = ("the runtime generates a random id, so retries are not deduplicated"
               if generate else "no id is found and there is no fallback")
    return finding(
        "TX_PATH_IS_HEADER",
        f"transactionId path {path} finds nothing in the body, but header {header} exists: "
        f"{promise}. If the runtime reads {header} for it, dedupe works on that header; if it "
        f"reads only the body (whdebug's model), {without}",
        f"to be safe either way, add a body field that is unique per delivery after {path} in "
        "transactionId.paths (the first non-empty path wins), or ask Karzoun whether "
        f"{path} reads {header}",
        step="dedupe", pointer="/webhook/transactionId/paths")


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
