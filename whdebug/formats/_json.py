"""JSON request files decoded into msgspec Structs; every problem is one RequestFileError line.

msgspec decodes (and type-checks) the whole file in one pass. What it refuses but JSON allows
(a UTF-16 file, NaN, a lone UTF-16 surrogate escape) goes through `json.loads` instead, so a
file reads the same either way and a bad one gets the same message: `file:line:col: problem`
for broken JSON text, `file: where: problem` for a wrong value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from whdebug.errors import RequestFileError

T = TypeVar("T")

Where = Callable[[str], str]
"""How a format names a location, from msgspec's path (`$.log.entries[0].request`)."""
Problem = Callable[[str, str], "tuple[str, str] | None"]
"""A format's own wording for (path, expected type): (path, problem), or None for the default."""

_BOM = b"\xef\xbb\xbf"
_VALIDATION = re.compile(r"^(?P<text>.*?)(?: - at `(?P<path>\$[^`]*)`)?$", re.DOTALL)
_EXPECTED = re.compile(r"^Expected `(?P<type>[^`]+)`")
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`")
_BYTE = re.compile(r"\s*\(byte (?P<offset>\d+)\)$")
_WORDS = {
    "str": "expected a string",
    "int": "expected an integer",
    "bool": "expected true or false",
    "array": "expected a list",
    "object": "expected an object",
}


def decode_file(data: bytes, decoder: msgspec.json.Decoder[T], name: str, where: Where,
                problem: Problem | None = None) -> T:
    """`data` decoded as the decoder's type; RequestFileError names the file and the place."""
    text = data[len(_BOM):] if data.startswith(_BOM) else data
    try:
        return decoder.decode(text)
    except msgspec.ValidationError as error:
        raise _invalid(error, name, where, problem) from None
    except msgspec.DecodeError as error:
        refused = str(error)
    document = _loads(data, name, refused)
    converted: T = convert_value(document, decoder.type, name, where, problem)
    return converted


def convert_value(document: Any, kind: Any, name: str, where: Where,
                  problem: Problem | None = None) -> Any:
    """A parsed JSON value as `kind`, with the same messages as `decode_file`."""
    surrogate = _lone_surrogate(document, "$")
    if surrogate is not None:
        path, value = surrogate
        raise RequestFileError(f"{name}: {where(path)}: {value!r} holds a lone UTF-16 surrogate, "
                               "which is no text (nor any byte)")
    try:
        return msgspec.convert(document, kind)
    except msgspec.ValidationError as error:
        raise _invalid(error, name, where, problem) from None


def _loads(data: bytes, name: str, refused: str) -> Any:
    """What `json.loads` makes of a file msgspec refused, or the one-line reason it is bad."""
    try:
        return json.loads(data)
    except json.JSONDecodeError as error:
        raise RequestFileError(f"{name}:{error.lineno}:{error.colno}: {error.msg}") from None
    except UnicodeDecodeError:
        raise RequestFileError(f"{name}: not UTF-8 JSON") from None
    except RecursionError:
        raise RequestFileError(f"{name}: {_BYTE.sub('', refused)}") from None


def _lone_surrogate(value: Any, path: str) -> tuple[str, str] | None:
    """The first string (or key) holding a lone surrogate, with its msgspec-style path."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path, value
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _lone_surrogate(item, f"{path}[{index}]")
            if found is not None:
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            found = _lone_surrogate(key, path) or _lone_surrogate(item, f"{path}.{key}")
            if found is not None:
                return found
    return None


def _invalid(error: msgspec.ValidationError, name: str, where: Where,
             problem: Problem | None) -> RequestFileError:
    match = _VALIDATION.match(str(error))
    assert match is not None  # the pattern matches any text
    text, path = match["text"], match["path"] or "$"
    missing = _MISSING.match(text)
    if missing is not None:
        field = missing["field"]
        return RequestFileError(f"{name}: {where(f'{path}.{field}')}: missing")
    expected = _EXPECTED.match(text)
    kind = expected["type"] if expected is not None else ""
    own = problem(path, kind) if problem is not None else None
    if own is not None:
        path, words = own
    else:
        words = _WORDS.get(kind.split(" ")[0], text[:1].lower() + text[1:])
    return RequestFileError(f"{name}: {where(path)}: {words}")


def field_error(name: str, where: str, problem: str) -> RequestFileError:
    """A value that decoded but does not make sense (`file: where: problem`)."""
    return RequestFileError(f"{name}: {where}: {problem}")
