"""Any JSON value in any definition field is a finding with a pointer, never an internal error."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cli_support import run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paths import FIXTURES

GITHUB = json.loads((FIXTURES / "definitions" / "github.json").read_text())
REQUEST = str(FIXTURES / "requests" / "github-pr-opened.http")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6)


def paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location in the document: keys of objects, indexes of arrays."""
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += paths(value, (*prefix, index))
    return found


PATHS = paths(GITHUB)


def replaced(location: tuple[Any, ...], value: Any) -> dict[str, Any]:
    document = copy.deepcopy(GITHUB)
    node = document
    for step in location[:-1]:
        node = node[step]
    node[location[-1]] = value
    return document


def run_all(tmp_path: Path, document: dict[str, Any]) -> None:
    definition = tmp_path / "app.json"
    definition.write_text(json.dumps(document))
    for args in (["replay", "--definition", str(definition), "--file", REQUEST],
                 ["replay", "--definition", str(definition), "--file", REQUEST, "--json", "-v"],
                 ["check", str(definition)], ["check", str(definition), "--json"]):
        result = run(*args)
        assert "internal error" not in result.output, (args, result.output)
        assert result.exit_code in (0, 1, 2), (args, result.output)
        if result.exit_code == 2:
            assert len(result.stderr.splitlines()) == 1, result.stderr


@pytest.mark.parametrize(("location", "value"), [
    (("triggers", 0, "event"), ["push"]),
    (("webhook", "verification", "type"), ["hmac-sha256"]),
    (("webhook", "verification", "type"), {}),
    (("webhook", "eventExtraction"), 5),
    (("webhook", "transactionId", "paths"), "x"),
    (("triggers",), {"0": 1}),
    (("auth", "config"), []),
])
def test_named_cases(tmp_path: Path, location: tuple[Any, ...], value: Any) -> None:
    run_all(tmp_path, replaced(location, value))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(location=st.sampled_from(PATHS), value=json_values)
def test_any_value_anywhere(tmp_path: Path, location: tuple[Any, ...], value: Any) -> None:
    run_all(tmp_path, replaced(location, value))
