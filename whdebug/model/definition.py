"""Load a MiniApp definition from JSON, JSON5 or a pasted JavaScript object literal."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whdebug.errors import STDIN, STDIN_NAME, DefinitionError, decode_text, read_input

CREDENTIAL = re.compile(r"\[\[\s*([^\[\]]+?)\s*\]\]")
"""`[[key]]` in a definition: the install's credentials, then its metadata."""
PARAMETER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
"""`{{key}}`: form fields, forwarded mappings, function outputs, auth.config, system values."""


@dataclass(frozen=True, slots=True)
class Definition:
    """A parsed MiniApp document; `data` is the document as loaded, never modified."""

    data: dict[str, Any]
    path: str | None = None
    """The file it was read from, for messages."""
    syntax: str = "json"
    """json | json5 (JSON5 or a JavaScript object literal)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ns(self) -> str | None:
        value = self.data.get("ns")
        return value if isinstance(value, str) else None

    @property
    def version(self) -> str | None:
        value = self.data.get("version")
        return value if isinstance(value, str) else None

    @property
    def label(self) -> str:
        return f"{self.ns or '?'}@{self.version or '?'}"

    @property
    def webhook(self) -> dict[str, Any]:
        value = self.data.get("webhook")
        return value if isinstance(value, dict) else {}

    @property
    def triggers(self) -> list[dict[str, Any]]:
        value = self.data.get("triggers")
        return [t for t in value if isinstance(t, dict)] if isinstance(value, list) else []

    @property
    def trigger_events(self) -> list[str]:
        return [t["event"] for t in self.triggers if isinstance(t.get("event"), str)]

    @property
    def auth(self) -> dict[str, Any]:
        value = self.data.get("auth")
        return value if isinstance(value, dict) else {}

    @property
    def auth_config(self) -> dict[str, Any]:
        value = self.auth.get("config")
        return value if isinstance(value, dict) else {}

    @property
    def sensitive_keys(self) -> list[str]:
        value = self.auth.get("sensitiveKeys")
        return [k for k in value if isinstance(k, str)] if isinstance(value, list) else []

    @property
    def sync_handlers(self) -> dict[str, Any]:
        sync = self.data.get("sync")
        webhooks = sync.get("webhooks") if isinstance(sync, dict) else None
        handlers = webhooks.get("handlers") if isinstance(webhooks, dict) else None
        return handlers if isinstance(handlers, dict) else {}

    @property
    def sources(self) -> dict[str, Any]:
        """Data sources (RPCs) by name, from a top-level `source` (Karzoun's docs), `sources`
        and/or `rpc` object."""
        merged: dict[str, Any] = {}
        for container in ("source", "rpc", "sources"):
            value = self.data.get(container)
            if isinstance(value, dict):
                merged.update(value)
        return merged

    @property
    def webhook_path(self) -> str | None:
        return f"/miniapps/{self.ns}/webhooks" if self.ns else None


def parse_definition(text: str, name: str = "<definition>") -> Definition:
    """Parse definition text; errors read `name:line:col: what` (1-based, as compilers print)."""
    text = text.removeprefix("\ufeff")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as json_error:
        data = _parse_json5(text, name, json_error)
        syntax = "json5"
    except RecursionError:
        raise DefinitionError(f"{name}:1:1: the definition is nested too deeply") from None
    else:
        syntax = "json"
    if not isinstance(data, dict):
        offset = _skip_blank(text, _skip_wrapper(text)[0])
        line, column = _line_column(text, offset)
        raise DefinitionError(
            f"{name}:{line}:{column}: the definition must be an object, not {_js_type(data)}"
        )
    too_deep = deeper_than(data, MAX_DEPTH)
    if too_deep is not None:
        raise DefinitionError(
            f"{name}: {_pointer(too_deep)}: nested more than {MAX_DEPTH} levels deep; whdebug "
            "reads definitions up to that depth (real ones nest far less)")
    surrogate = lone_surrogate(data)
    if surrogate is not None:
        location, _ = surrogate  # the value is never shown: it may be a secret
        pointer = _pointer(location)
        raise DefinitionError(
            f"{name}: {pointer}: holds a lone UTF-16 surrogate escape (such as "
            "\\ud800): JSON.parse keeps it, but as UTF-8 (an HMAC key, a header, a stored "
            "value) it becomes U+FFFD; write the character itself or its whole surrogate pair")
    return Definition(data=data, path=name, syntax=syntax)


MAX_DEPTH = 128
"""How deep a definition may nest: deeper, the recursive passes over it (lint, masking, redact)
would exhaust Python's stack, so it is refused with a message instead."""


def deeper_than(document: Any, limit: int) -> tuple[str | int, ...] | None:
    """The location of the first array or object nested more than `limit` levels deep."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while stack:
        location, node = stack.pop()
        if isinstance(node, dict | list):
            if len(location) >= limit:
                return location
            items = node.items() if isinstance(node, dict) else enumerate(node)
            stack.extend(((*location, key), child) for key, child in items)
    return None


def _pointer(location: tuple[str | int, ...]) -> str:
    """A JSON pointer (RFC 6901) to `location`; "/" for the whole document."""
    return "".join(f"/{str(step).replace('~', '~0').replace('/', '~1')}"
                   for step in location) or "/"


def lone_surrogate(document: Any) -> tuple[tuple[str | int, ...], str] | None:
    """(location, string) of the first string or key holding a lone UTF-16 surrogate (a JSON
    `"\\ud800"` escape), which has no UTF-8 bytes. Iterative: deep documents are fine."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while stack:
        location, node = stack.pop()
        if isinstance(node, str):
            if not _is_utf8(node):
                return location, node
        elif isinstance(node, dict):
            for key, child in reversed(list(node.items())):
                if not _is_utf8(key):
                    return (*location, key), key
                stack.append(((*location, key), child))
        elif isinstance(node, list):
            stack.extend(((*location, index), child)
                         for index, child in reversed(list(enumerate(node))))
    return None


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# `const app = `, `export default `, `module.exports = ` in front of the object literal.
_JS_PREFIX = re.compile(
    r"export\s+default\s+"
    r"|module\.exports\s*=\s*"
    r"|(?:export\s+)?(?:const|let|var)\s+(?P<name>[A-Za-z_$][\w$]*)\s*(?::[^=\n]*)?=\s*"
)
# `export default app;` or `module.exports = app;` after the literal assigned to `app`.
_JS_SUFFIX = r"(?:export\s+default\s+{0}|module\.exports\s*=\s*{0})(?![\w$])\s*;?"
_JSON5_ERROR = re.compile(r'Unexpected (?:end of input|"(?P<char>.*)") at column \d+$', re.DOTALL)


def _parse_json5(text: str, name: str, json_error: json.JSONDecodeError) -> Any:
    """Parse JSON5 or a JS object literal; the JS wrapper is blanked so offsets stay put."""
    value_start, variable = _skip_wrapper(text)
    if _skip_blank(text, value_start) == len(text):
        line, column = _line_column(text, len(text))
        raise DefinitionError(f"{name}:{line}:{column}: the definition is empty")
    source = " " * value_start + text[value_start:]
    source, shifts = _replace_templates(source, text, name) if "`" in source else (source, [])
    fast = _parse_json5_fast(source)
    if fast is not None:
        value, offset = fast
        end = _skip_trailer(text, _original_offset(offset, shifts), variable)
        if end == len(text):
            return value
    import json5  # only for a definition that is not JSON (a few ms at import)

    try:
        value, error, offset = json5.parse(source, consume_trailing=False)
    except RecursionError:
        raise DefinitionError(f"{name}:1:1: the definition is nested too deeply") from None
    offset = _original_offset(offset, shifts)
    if error is not None:
        line, column = _line_column(text, offset)
        if value_start == 0 and (json_error.lineno, json_error.colno) == (line, column):
            what = _describe_json_error(json_error.msg, text, offset)
        else:
            what = _describe_json5_error(error)
        raise DefinitionError(f"{name}:{line}:{column}: {what}")
    offset = _skip_trailer(text, offset, variable)
    if offset < len(text):
        line, column = _line_column(text, offset)
        raise DefinitionError(
            f"{name}:{line}:{column}: unexpected {_show_char(text[offset])} after the definition"
        )
    return value


def _parse_json5_fast(source: str) -> tuple[Any, int] | None:
    """The value of a well-formed object literal and the offset just past it, parsed by
    pyjson5 (C, a thousand times faster than json5 on a large definition); None when it is not
    that simple (a syntax error, a trailer holding a brace, deep nesting), so the caller parses
    with json5, which says where and what is wrong.

    The value ends at the last `}`: if the text up to it is one whole value, nothing after it
    can belong to that value, and the caller checks that only a JS trailer (`;`, comments,
    `export default x`) follows."""
    import pyjson5  # only for a definition that is not JSON (a few ms at import)

    end = source.rfind("}") + 1
    if end == 0:
        return None
    try:
        return pyjson5.decode(source[:end]), end
    except (pyjson5.Json5Exception, RecursionError, ValueError):
        return None


def _replace_templates(source: str, text: str, name: str) -> tuple[str, list[tuple[int, int]]]:
    """Each JavaScript template literal (`...`) as the double-quoted string it evaluates to, and
    the (end in the new text, characters added so far) of each, to map offsets back. A template
    holding `${...}` is an error: its value depends on JavaScript that whdebug does not run."""
    out: list[str] = []
    shifts: list[tuple[int, int]] = []
    added, start, index, length = 0, 0, 0, len(source)
    while index < length:
        char = source[index]
        if char in "'\"":
            index = _string_end(source, index)
        elif source.startswith("//", index):
            newline = source.find("\n", index)
            index = length if newline < 0 else newline
        elif source.startswith("/*", index):
            close = source.find("*/", index + 2)
            index = length if close < 0 else close + 2
        elif char == "`":
            end, cooked = _template(source, index, text, name)
            out.append(source[start:index])
            replacement = json.dumps(cooked, ensure_ascii=False)
            out.append(replacement)
            added += len(replacement) - (end - index)
            shifts.append((index + added + (end - index), added))
            start = index = end
        else:
            index += 1
    out.append(source[start:])
    return "".join(out), shifts


def _string_end(source: str, index: int) -> int:
    """Offset just past the quoted string starting at `index` (or at the end of its line)."""
    quote, index = source[index], index + 1
    while index < len(source) and source[index] not in (quote, "\n"):
        index += 2 if source[index] == "\\" else 1
    return index + 1


_TEMPLATE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v",
                     "0": "\0", "\n": "", "\r": ""}
"""What an escape means in a template literal; any other character escapes to itself."""


_TEMPLATE_CODE = re.compile(
    r"\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|u\{([0-9a-fA-F]{1,6})\})")


def _template(source: str, index: int, text: str, name: str) -> tuple[int, str]:
    """(offset past the closing backtick, the string value) of the template at `index`."""
    cooked: list[str] = []
    position = index + 1
    while position < len(source):
        char = source[position]
        if char == "`":
            return position + 1, "".join(cooked)
        if char == "\\" and position + 1 < len(source):
            escaped = source[position + 1]
            code = _TEMPLATE_CODE.match(source, position)
            number = int(code.group(1) or code.group(2) or code.group(3), 16) if code else -1
            if code is not None and number <= 0x10FFFF:
                cooked.append(chr(number))
                position = code.end()
                continue
            if escaped in "123456789xu":
                line, column = _line_column(text, position)
                raise DefinitionError(
                    f"{name}:{line}:{column}: invalid escape \\{escaped} in a template literal; "
                    "write the character itself")
            cooked.append(_TEMPLATE_ESCAPES.get(escaped, escaped))
            position += 3 if source.startswith("\\\r\n", position) else 2
        elif source.startswith("${", position):
            close = source.find("}", position)
            shown = source[position:close + 1]
            shown = shown if 0 <= close - position <= 40 and "\n" not in shown else "${...}"
            line, column = _line_column(text, position)
            raise DefinitionError(
                f"{name}:{line}:{column}: template literal with a substitution {shown}: whdebug "
                "does not run JavaScript; write the value out as a plain string")
        elif char == "\r":
            cooked.append("\n")
            position += 2 if source.startswith("\r\n", position) else 1
        else:
            cooked.append(char)
            position += 1
    line, column = _line_column(text, index)
    raise DefinitionError(f"{name}:{line}:{column}: template literal (`) is never closed")


def _original_offset(offset: int, shifts: list[tuple[int, int]]) -> int:
    """An offset in the text with templates replaced, as an offset in the text as written."""
    added = 0
    for end, total in shifts:
        if end > offset:
            break
        added = total
    return offset - added


def _skip_wrapper(text: str) -> tuple[int, str | None]:
    """Offset just past a leading `const x =` (or similar) and the variable name, if any."""
    offset = _skip_blank(text, 0)
    match = _JS_PREFIX.match(text, offset)
    if match is None:
        return 0, None
    return match.end(), match.group("name")


def _skip_trailer(text: str, offset: int, variable: str | None) -> int:
    """Offset past `;`, comments and `export default x;` after the value."""
    offset = _skip_blank(text, offset)
    if text.startswith(";", offset):
        offset = _skip_blank(text, offset + 1)
    if variable is not None:
        match = re.compile(_JS_SUFFIX.format(re.escape(variable))).match(text, offset)
        if match is not None:
            offset = _skip_blank(text, match.end())
    return offset


def _skip_blank(text: str, offset: int) -> int:
    """Offset of the first character that is not whitespace or a complete comment."""
    length = len(text)
    while offset < length:
        if text[offset].isspace():
            offset += 1
        elif text.startswith("//", offset):
            newline = text.find("\n", offset)
            offset = length if newline < 0 else newline + 1
        elif text.startswith("/*", offset):
            close = text.find("*/", offset + 2)
            if close < 0:
                return offset
            offset = close + 2
        else:
            return offset
    return offset


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _describe_json_error(message: str, text: str, offset: int) -> str:
    line_break = text[offset : offset + 1] in ("\r", "\n")
    if message.startswith("Invalid control character") and line_break:
        return "line break inside a string (missing closing quote?)"
    message = message.removesuffix(" at")
    return message[:1].lower() + message[1:]


def _describe_json5_error(error: str) -> str:
    match = _JSON5_ERROR.search(error)
    if match is None:
        return error.splitlines()[0] if error else "invalid JSON5"
    char = match.group("char")
    if char is None:
        return "unexpected end of input (missing closing bracket, brace or quote?)"
    # json5 reports the farthest position it tried, often the blank just past the real mistake.
    if char in "\r\n":
        return "syntax error at the end of this line"
    if char.isspace():
        return "syntax error just before this point"
    return f"unexpected {_show_char(char)}"


def _show_char(char: str) -> str:
    if char in "\r\n":
        return "end of line"
    return f'"{char}"' if char.isprintable() else repr(char)


def _js_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"


def load_definition(path: str | Path) -> Definition:
    """Read and parse a definition file (`-`: standard input)."""
    name = STDIN_NAME if str(path) == STDIN else str(path)
    text = decode_text(read_input(path, "definition", DefinitionError), name, "definition",
                       DefinitionError)
    return parse_definition(text, name)
