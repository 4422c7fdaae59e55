"""`whdebug diff`: what differs between two requests, and what the runtime does with each.

Pure: the two requests (and optionally their engine reports) in, a `RequestDiff` out.
Headers are aligned in order; JSON bodies are compared path by path with every token's
source text kept (number formatting, escapes, key order); other bodies byte by byte with
offsets; two reports step by step.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Literal

from whdebug.engine.report import Report
from whdebug.model.request import CapturedRequest
from whdebug.tools.jsontokens import Node, NotJson, parse_raw

__all__ = ["BodyChange", "ByteHunk", "HeaderRow", "PipelineRow", "RequestDiff",
           "diff_requests"]

HeaderStatus = Literal["same", "changed", "only-a", "only-b", "moved"]
ChangeKind = Literal["added", "removed", "changed", "type", "number-format", "escape",
                     "key-order", "layout"]

MAX_HUNKS = 200
"""Byte hunks kept (the count says how many there were)."""
MAX_CHANGES = 500
"""Body changes kept (the count says how many there were)."""


@dataclass(frozen=True, slots=True)
class HeaderRow:
    """One row of the side-by-side headers: A's header and B's, either possibly absent."""

    status: HeaderStatus
    a: tuple[str, str] | None
    b: tuple[str, str] | None


@dataclass(frozen=True, slots=True)
class BodyChange:
    """One difference between two JSON bodies, at a JSONPath."""

    path: str
    kind: ChangeKind
    a: str | None
    """A's value as written (None when absent)."""
    b: str | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class ByteHunk:
    """One changed span: A's bytes [a_start, a_end) became B's [b_start, b_end)."""

    a_start: int
    a_end: int
    b_start: int
    b_end: int
    a: bytes
    b: bytes


@dataclass(frozen=True, slots=True)
class PipelineRow:
    """One runtime step (or outcome field) as A and B went through it."""

    name: str
    a: str
    b: str
    a_reason: str = ""
    b_reason: str = ""

    @property
    def same(self) -> bool:
        return self.a == self.b


@dataclass(slots=True)
class RequestDiff:
    """Everything that differs between requests A and B."""

    a_label: str
    b_label: str
    request_line: list[tuple[str, str, str]]
    """(part, A, B) for each of method, path, query that differs."""
    headers: list[HeaderRow]
    body_kind: Literal["same", "json", "bytes"]
    a_size: int
    b_size: int
    body_changes: list[BodyChange] = field(default_factory=list)
    body_change_count: int = 0
    hunks: list[ByteHunk] = field(default_factory=list)
    hunk_count: int = 0
    body_note: str = ""
    """Why JSON bodies were compared as bytes, or other notes."""
    pipeline: list[PipelineRow] = field(default_factory=list)
    findings_only_a: list[str] = field(default_factory=list)
    findings_only_b: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        """The two requests are the same HTTP message (header name case counts)."""
        return (not self.request_line and self.body_kind == "same"
                and all(row.status == "same" for row in self.headers))

    @property
    def pipeline_same(self) -> bool:
        return all(row.same for row in self.pipeline) and not (
            self.findings_only_a or self.findings_only_b)


def diff_requests(a: CapturedRequest, b: CapturedRequest, *, a_label: str = "A",
                  b_label: str = "B", reports: tuple[Report, Report] | None = None
                  ) -> RequestDiff:
    """The difference between `a` and `b`; with `reports`, their pipelines step by step."""
    line = [(part, x, y) for part, x, y in (("method", a.method, b.method),
                                             ("path", a.path, b.path),
                                             ("query", a.query, b.query)) if x != y]
    result = RequestDiff(a_label, b_label, line, diff_headers(a.headers, b.headers),
                         "same", len(a.body), len(b.body))
    if a.body != b.body:
        _diff_bodies(result, a.body, b.body)
    cut = [label for label, request in ((a_label, a), (b_label, b)) if request.truncated]
    if cut:
        note = (f"{' and '.join(cut)} truncated: only the stored first bytes are compared")
        result.body_note = f"{result.body_note}; {note}" if result.body_note else note
    if reports is not None:
        result.pipeline = diff_pipelines(*reports)
        codes_a, codes_b = reports[0].codes(), reports[1].codes()
        result.findings_only_a = [code for code in codes_a if code not in codes_b]
        result.findings_only_b = [code for code in codes_b if code not in codes_a]
    return result


# --- headers -------------------------------------------------------------------------------


def diff_headers(a: tuple[tuple[str, str], ...],
                 b: tuple[tuple[str, str], ...]) -> list[HeaderRow]:
    """A's and B's headers side by side in their order, aligned by name."""
    names_a = [name.lower() for name, _ in a]
    names_b = [name.lower() for name, _ in b]
    rows: list[HeaderRow] = []
    matcher = difflib.SequenceMatcher(None, names_a, names_b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for x, y in zip(a[i1:i2], b[j1:j2], strict=True):
                rows.append(HeaderRow("same" if x == y else "changed", x, y))
            continue
        rows.extend(_pair_block(list(a[i1:i2]), list(b[j1:j2])))
    return _mark_moved(rows)


def _pair_block(left: list[tuple[str, str]],
                right: list[tuple[str, str]]) -> list[HeaderRow]:
    rows: list[HeaderRow] = []
    remaining = list(right)
    for header in left:
        partner = next((other for other in remaining
                        if other[0].lower() == header[0].lower()), None)
        if partner is None:
            rows.append(HeaderRow("only-a", header, None))
        else:
            remaining.remove(partner)
            rows.append(HeaderRow("same" if header == partner else "changed", header, partner))
    rows.extend(HeaderRow("only-b", None, header) for header in remaining)
    return rows


def _mark_moved(rows: list[HeaderRow]) -> list[HeaderRow]:
    """A header only in A whose same name and value is only in B elsewhere: moved."""
    only_b = {(row.b[0].lower(), row.b[1]): index for index, row in enumerate(rows)
              if row.status == "only-b" and row.b is not None}
    for index, row in enumerate(rows):
        if row.status != "only-a" or row.a is None:
            continue
        partner = only_b.pop((row.a[0].lower(), row.a[1]), None)
        if partner is not None:
            rows[index] = HeaderRow("moved", row.a, None)
            rows[partner] = HeaderRow("moved", None, rows[partner].b)
    return rows


# --- bodies --------------------------------------------------------------------------------


def _as_json(body: bytes) -> Node | None:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.strip() or text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        return parse_raw(text)
    except (NotJson, RecursionError):
        return None


def _diff_bodies(result: RequestDiff, a: bytes, b: bytes) -> None:
    node_a, node_b = _as_json(a), _as_json(b)
    if node_a is not None and node_b is not None:
        changes: list[BodyChange] = []
        _walk(node_a, node_b, "$", changes)
        if not changes:
            changes.append(BodyChange("$", "layout", _layout(a), _layout(b),
                                      "the same tokens, laid out differently"))
        result.body_kind = "json"
        result.body_change_count = len(changes)
        result.body_changes = changes[:MAX_CHANGES]
    else:
        result.body_kind = "bytes"
        if (node_a is None) != (node_b is None):
            which = result.a_label if node_a is None else result.b_label
            result.body_note = f"{which}'s body is not JSON: compared byte by byte"
    hunks = byte_hunks(a, b)
    result.hunk_count = len(hunks)
    result.hunks = hunks[:MAX_HUNKS]


def _layout(body: bytes) -> str:
    """How a JSON body is laid out, in a few words."""
    parts = []
    if b"\r\n" in body:
        parts.append("CRLF lines")
    elif b"\n" in body.strip():
        indent = _indent(body)
        parts.append(f"pretty ({indent})" if indent else "multi-line")
    else:
        parts.append("compact" if b": " not in body and b", " not in body else "one line")
    if body.endswith(b"\n"):
        parts.append("trailing newline")
    if body[:1].isspace():
        parts.append("leading whitespace")
    return ", ".join(parts)


def _indent(body: bytes) -> str:
    for line in body.splitlines()[1:]:
        stripped = line.lstrip(b" \t")
        if stripped and len(stripped) < len(line):
            width = len(line) - len(stripped)
            return ("tab" if line[:1] == b"\t" else
                    f"{width} space" + ("s" if width > 1 else ""))
    return ""


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if key.isidentifier():
        return f"{parent}.{key}"
    return f"{parent}[{_quote(key)}]"


def _quote(key: str) -> str:
    return "'" + key.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _shown(node: Node) -> str:
    """A value as written: scalars exactly, containers summarised."""
    if node.kind == "object":
        return "{…}" if node.members else "{}"
    if node.kind == "array":
        return f"[…{len(node.items)}]" if node.items else "[]"
    return node.raw


def _walk(a: Node, b: Node, path: str, out: list[BodyChange]) -> None:
    if a.kind != b.kind or (a.kind == "literal" and type(a.value) is not type(b.value)):
        out.append(BodyChange(path, "type", _shown(a), _shown(b),
                              f"{_type_name(a)} became {_type_name(b)}"))
    elif a.kind == "object":
        _walk_object(a, b, path, out)
    elif a.kind == "array":
        for index, (x, y) in enumerate(zip(a.items, b.items, strict=False)):
            _walk(x, y, _path(path, index), out)
        for index in range(len(b.items), len(a.items)):
            out.append(BodyChange(_path(path, index), "removed", _shown(a.items[index]), None))
        for index in range(len(a.items), len(b.items)):
            out.append(BodyChange(_path(path, index), "added", None, _shown(b.items[index])))
    elif a.raw != b.raw:
        out.append(_scalar_change(a, b, path))


def _type_name(node: Node) -> str:
    if node.kind == "literal":
        return "null" if node.value is None else "a boolean"
    return {"object": "an object", "array": "an array", "string": "a string",
            "number": "a number"}[node.kind]


def _walk_object(a: Node, b: Node, path: str, out: list[BodyChange]) -> None:
    values_a, values_b = dict(a.members), dict(b.members)
    common_a = [key for key in a.keys() if key in values_b]
    common_b = [key for key in b.keys() if key in values_a]
    if common_a != common_b:
        out.append(BodyChange(path, "key-order", ", ".join(common_a), ", ".join(common_b),
                              "the same keys in another order (JSON.stringify keeps the "
                              "parsed order)"))
    for key, value in a.members:
        if key in values_b:
            _walk(value, values_b[key], _path(path, key), out)
        else:
            out.append(BodyChange(_path(path, key), "removed", _shown(value), None))
    for key, value in b.members:
        if key not in values_a:
            out.append(BodyChange(_path(path, key), "added", None, _shown(value)))


def _scalar_change(a: Node, b: Node, path: str) -> BodyChange:
    if a.kind == "string" and a.value == b.value:
        return BodyChange(path, "escape", a.raw, b.raw, _escape_note(a.raw, b.raw))
    if a.kind == "number":
        if a.value == b.value:
            return BodyChange(path, "number-format", a.raw, b.raw,
                              "the same number written differently (JSON.stringify writes "
                              f"{_js_number(a.value)})")
        if float(a.value) == float(b.value):
            return BodyChange(path, "changed", a.raw, b.raw,
                              "different numbers, but the same to JavaScript (beyond a "
                              "double's precision: an id above 2^53 is rounded)")
    return BodyChange(path, "changed", a.raw, b.raw)


def _js_number(value: Any) -> str:
    number = float(value)
    if number.is_integer() and abs(number) < 1e21:
        return str(int(number))
    return repr(number)


def _escape_note(a: str, b: str) -> str:
    """Which escapes one side has and the other does not (both decode to the same text)."""
    escapes = []
    for side, raw, other in (("A", a, b), ("B", b, a)):
        found = sorted({raw[i:i + (6 if raw[i + 1] == "u" else 2)]
                        for i in range(len(raw) - 1) if raw[i] == "\\"}
                       - _escapes_in(other))
        if found:
            escapes.append(f"{side} writes {' '.join(found[:6])}")
    text = "; ".join(escapes) or "other escapes"
    return f"the same text, escaped differently: {text} (JSON.stringify drops them)"


def _escapes_in(raw: str) -> set[str]:
    return {raw[i:i + (6 if raw[i + 1] == "u" else 2)]
            for i in range(len(raw) - 1) if raw[i] == "\\"}


def byte_hunks(a: bytes, b: bytes) -> list[ByteHunk]:
    """The changed spans between `a` and `b` with their offsets.

    A linear walk that resynchronises after each difference on the nearest `ANCHOR` equal
    bytes within `WINDOW` (found with `bytes.find`, so a periodic JSON body stays fast);
    past `HUNK_LIMIT` spans, or with no anchor in reach, the rest is one span.
    """
    hunks: list[ByteHunk] = []
    i = j = 0
    end_a, end_b = len(a), len(b)
    while True:
        i, j = _common(a, b, i, j)
        if i == end_a or j == end_b:
            if i < end_a or j < end_b:
                hunks.append(ByteHunk(i, end_a, j, end_b, a[i:], b[j:]))
            return hunks
        step = None if len(hunks) >= HUNK_LIMIT else _resync(a, b, i, j)
        if step is None:
            suffix = 0
            while (suffix < min(end_a - i, end_b - j)
                   and a[end_a - 1 - suffix] == b[end_b - 1 - suffix]):
                suffix += 1
            hunks.append(ByteHunk(i, end_a - suffix, j, end_b - suffix,
                                  a[i:end_a - suffix], b[j:end_b - suffix]))
            return hunks
        di, dj = step
        hunks.append(ByteHunk(i, i + di, j, j + dj, a[i:i + di], b[j:j + dj]))
        i, j = i + di, j + dj


ANCHOR = 8
"""Equal bytes that end a changed span (fewer at the very end of a body)."""
WINDOW = 4096
"""How far ahead a changed span may reach on each side."""
HUNK_LIMIT = 1000


def _common(a: bytes, b: bytes, i: int, j: int) -> tuple[int, int]:
    """Past the equal bytes at a[i:], b[j:] (compared in blocks, then byte by byte)."""
    block = 256
    while a[i:i + block] == b[j:j + block] and i + block <= len(a) and j + block <= len(b):
        i, j = i + block, j + block
    while i < len(a) and j < len(b) and a[i] == b[j]:
        i, j = i + 1, j + 1
    return i, j


def _resync(a: bytes, b: bytes, i: int, j: int) -> tuple[int, int] | None:
    """The smallest (di, dj) after which ANCHOR bytes of a and b are equal again."""
    best: tuple[int, int] | None = None
    limit_a = min(len(a) - i, WINDOW)
    for di in range(limit_a + 1):
        if best is not None and di >= best[0] + best[1]:
            break
        start = i + di
        anchor = a[start:start + ANCHOR]
        if len(anchor) < ANCHOR and start + len(anchor) != len(a):
            continue
        if not anchor:
            dj = len(b) - j  # the rest of b was added
            if dj <= WINDOW and (best is None or di + dj < sum(best)):
                best = (di, dj)
            break
        stop = j + WINDOW + len(anchor)
        if best is not None:
            stop = min(stop, j + best[0] + best[1] - di + len(anchor))
        found = b.find(anchor, j, stop)
        if found >= 0 and (len(anchor) == ANCHOR or found + len(anchor) == len(b)):
            dj = found - j
            if best is None or di + dj < sum(best):
                best = (di, dj)
    if best == (0, 0):
        return None  # pragma: no cover - only called where the bytes differ
    return best


# --- pipelines -----------------------------------------------------------------------------


def diff_pipelines(a: Report, b: Report) -> list[PipelineRow]:
    """Each step of the runtime for A and B, then the outcome, event, triggers and id."""
    rows: list[PipelineRow] = []
    steps_b = {step.name: step for step in b.steps}
    names = [step.name for step in a.steps]
    names += [step.name for step in b.steps if step.name not in names]
    steps_a = {step.name: step for step in a.steps}
    for name in names:
        x, y = steps_a.get(name), steps_b.get(name)
        rows.append(PipelineRow(name, x.status if x else "—", y.status if y else "—",
                                x.reason if x else "", y.reason if y else ""))
    rows.append(PipelineRow("signature", a.signature.verdict, b.signature.verdict))
    rows.append(PipelineRow("event", _text(a.event.value), _text(b.event.value)))
    rows.append(PipelineRow("triggers", ", ".join(a.outcome.triggers) or "—",
                            ", ".join(b.outcome.triggers) or "—"))
    rows.append(PipelineRow("transaction", _text(a.transaction.id), _text(b.transaction.id)))
    rows.append(PipelineRow("outcome", a.outcome.status, b.outcome.status,
                            a.outcome.summary, b.outcome.summary))
    rows.append(PipelineRow("answer", str(a.outcome.http_status), str(b.outcome.http_status)))
    return rows


def _text(value: str | None) -> str:
    return "—" if value is None else value


def diff_json(diff: RequestDiff) -> dict[str, Any]:
    """The diff as JSON-ready builtins (`whdebug.diff/1`); bytes as latin-1 text."""
    def header(pair: tuple[str, str] | None) -> dict[str, str] | None:
        return None if pair is None else {"name": pair[0], "value": pair[1]}

    document: dict[str, Any] = {
        "schema": "whdebug.diff/1",
        "a": diff.a_label,
        "b": diff.b_label,
        "same": diff.same,
        "request_line": [{"part": part, "a": x, "b": y} for part, x, y in diff.request_line],
        "headers": [{"status": row.status, "a": header(row.a), "b": header(row.b)}
                    for row in diff.headers],
        "body": {
            "kind": diff.body_kind,
            "a_size": diff.a_size,
            "b_size": diff.b_size,
            "note": diff.body_note or None,
            "changes": [{"path": c.path, "kind": c.kind, "a": c.a, "b": c.b,
                         "note": c.note or None} for c in diff.body_changes],
            "change_count": diff.body_change_count,
            "hunks": [{"a_offset": h.a_start, "a_length": h.a_end - h.a_start,
                       "b_offset": h.b_start, "b_length": h.b_end - h.b_start,
                       "a": h.a.decode("latin-1"), "b": h.b.decode("latin-1")}
                      for h in diff.hunks],
            "hunk_count": diff.hunk_count,
        },
    }
    if diff.pipeline:
        document["pipeline"] = {
            "same": diff.pipeline_same,
            "rows": [{"name": row.name, "a": row.a, "b": row.b,
                      "a_reason": row.a_reason or None, "b_reason": row.b_reason or None}
                     for row in diff.pipeline],
            "findings_only_a": diff.findings_only_a,
            "findings_only_b": diff.findings_only_b,
        }
    return document
