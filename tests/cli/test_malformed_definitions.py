"""Any JSON value in any definition field is a finding with a pointer, never an internal error.

The property test takes definitions written the way Karzoun's docs write them (GitHub's
example, Salla with sync handlers, an OAuth app with an RPC source and actions), replaces one
field anywhere in the tree with any JSON value, and runs every command that reads a
definition: replay, check (also --json and --samples), sync, bundle, redact, sign, source and
urls.
"""

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

REQUESTS = FIXTURES / "requests"


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / "definitions" / name).read_text())
    return loaded


# (definition, a request it replays, samples for check/sync, payload to sign, an RPC source)
BASES: dict[str, tuple[dict[str, Any], Path, Path, Path, str]] = {
    "github": (_load("github.json"), REQUESTS / "github-pr-opened.http",
               REQUESTS, FIXTURES / "samples" / "salla" / "order.created.json", "rpc_repos"),
    "github-docs": (_load("github-docs-example.json"), REQUESTS / "github-push.http",
                    REQUESTS, FIXTURES / "samples" / "salla" / "order.created.json",
                    "rpc_repos"),
    "salla": (_load("salla.json"), REQUESTS / "salla-order-created.http",
              FIXTURES / "samples" / "salla", FIXTURES / "samples" / "salla" / "order.created.json",
              "rpc_products_list"),
    "oauth": (_load("auth/oauth-clean.json"), REQUESTS / "acme-contact-created.http",
              FIXTURES / "samples" / "salla",
              FIXTURES / "samples" / "salla" / "customer.created.json", "rpc_products_list"),
}
RPC_RESPONSE = FIXTURES / "rpc" / "salla-products.json"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(["$.", "$[", "[[x]]", "{{x}}", "", "hmac-sha256", "\ud800", "a\udc00"]),
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


LOCATIONS = [(name, location) for name, base in BASES.items() for location in paths(base[0])]


def replaced(document: dict[str, Any], location: tuple[Any, ...], value: Any) -> dict[str, Any]:
    document = copy.deepcopy(document)
    node = document
    for step in location[:-1]:
        node = node[step]
    node[location[-1]] = value
    return document


def commands(tmp_path: Path, base: str, definition: str) -> list[list[str]]:
    _, request, samples, payload, rpc = BASES[base]
    credential = ["--credential", "webhookSecret=property-test-secret"]
    return [
        ["replay", "--definition", definition, "--file", str(request)],
        ["replay", "--definition", definition, "--file", str(request), "--json", "-v",
         *credential],
        ["check", definition],
        ["check", definition, "--json"],
        ["check", definition, "--samples", str(samples), "--json", *credential],
        ["sync", definition, "--samples", str(samples)],
        ["bundle", "--definition", definition, "-o", str(tmp_path / "b.zip"), str(request),
         *credential],
        ["redact", definition],
        ["sign", "--definition", definition, str(payload), *credential],
        ["source", definition, rpc, "--response", str(RPC_RESPONSE)],
        ["urls", definition, "--api-url", "https://api.example.test"],
    ]


def run_all(tmp_path: Path, base: str, document: Any, only: tuple[str, ...] = ()) -> None:
    definition = tmp_path / "app.json"
    definition.write_text(json.dumps(document))
    for args in commands(tmp_path, base, str(definition)):
        if only and args[0] not in only:
            continue
        (tmp_path / "b.zip").unlink(missing_ok=True)
        result = run(*args)
        assert "internal error" not in result.output, (args, result.output)
        assert result.exit_code in (0, 1, 2), (args, result.output)
        if result.exit_code == 2:
            assert len(result.stderr.splitlines()) == 1, (args, result.stderr)


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
    run_all(tmp_path, "github", replaced(BASES["github"][0], location, value))


@pytest.mark.parametrize(("base", "location", "value"), [
    ("github", ("triggers", 0, "event"), ["push"]),
    ("github", ("webhook", "verification", "type"), ["hmac-sha256"]),
    ("github", ("webhook", "verification", "type"), {}),
])
def test_issue_cases_give_def_schema_with_a_pointer(tmp_path: Path, base: str,
                                                    location: tuple[Any, ...],
                                                    value: Any) -> None:
    definition = tmp_path / "app.json"
    definition.write_text(json.dumps(replaced(BASES[base][0], location, value)))
    result = run("check", str(definition), "--json")
    pointer = "/" + "/".join(str(step) for step in location)
    schema = [f for f in json.loads(result.stdout)["findings"] if f["code"] == "DEF_SCHEMA"]
    assert result.exit_code == 1
    assert pointer in {f.get("pointer") for f in schema}, schema
    result = run("replay", "--definition", str(definition), "--file", str(BASES[base][1]),
                 "--json")
    report = json.loads(result.stdout.splitlines()[0])
    assert result.exit_code == 1
    assert pointer in {f.get("pointer") for f in report["findings"]
                       if f["code"] == "DEF_SCHEMA"}


@pytest.mark.parametrize("document", [[], "x", 1, None, [{"ns": "a"}]])
def test_a_definition_that_is_no_object(tmp_path: Path, document: Any) -> None:
    run_all(tmp_path, "github", document)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(where=st.sampled_from(LOCATIONS), value=json_values)
def test_any_value_anywhere(tmp_path: Path, where: tuple[str, tuple[Any, ...]],
                            value: Any) -> None:
    base, location = where
    run_all(tmp_path, base, replaced(BASES[base][0], location, value))


@pytest.mark.parametrize("location", [("auth", "config", "webhookSecret"), ("triggers", 0, "event"),
                                      ("webhook", "verification", "headerName")])
def test_lone_surrogate_anywhere_is_one_line_naming_the_pointer(
        tmp_path: Path, location: tuple[Any, ...]) -> None:
    """It has no UTF-8 bytes (an HMAC key, a header): refused, and the value never shown."""
    document = replaced(BASES["github"][0], location, "Zq\ud800-secret-part")
    run_all(tmp_path, "github", document)
    definition = tmp_path / "app.json"
    pointer = "/" + "/".join(str(step) for step in location)
    for args in (["replay", "--definition", str(definition), "--file", str(BASES["github"][1])],
                 ["sign", "--definition", str(definition), str(BASES["github"][3]),
                  "--credential", "webhookSecret=x"],
                 ["check", str(definition), "--samples", str(FIXTURES / "samples" / "salla")]):
        result = run(*args)
        assert result.exit_code == 2, result.output
        line = result.stderr.strip()
        assert f"{pointer}: holds a lone UTF-16 surrogate" in line and "\n" not in line
        assert "secret-part" not in result.output


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [120, 129, 400, 850])
def test_a_field_nested_deep(tmp_path: Path, depth: int) -> None:
    """Found by hand: JSON parsing took 850 levels, but redact's scanner and the masking of
    `check --samples` recurse per level. Deeper than 128 levels is one line naming where."""
    document = replaced(BASES["github"][0], ("webhook", "response", "body"), nested(depth))
    run_all(tmp_path, "github", document)
    result = run("check", str(tmp_path / "app.json"), "--samples", str(REQUESTS))
    if depth + 3 <= 128:  # the body sits 3 levels down
        assert result.exit_code == 1, result.output
    else:
        assert result.exit_code == 2, result.output
        assert result.stderr.strip().endswith(
            "/webhook/response/body" + "/0" * 125 + ": nested more than 128 levels deep; "
            "whdebug reads definitions up to that depth (real ones nest far less)")


@pytest.mark.parametrize("header", ["2025-13-01T00:00:00Z", "X Hub", "X-Hub:256", "é"])
def test_a_header_name_no_request_can_carry(tmp_path: Path, header: str) -> None:
    """Found by a run of the property test's mutations: sign printed its notes, then failed.

    Salla's event is read from the body, so sign needs no --event for it.
    """
    document = replaced(BASES["salla"][0], ("webhook", "verification", "headerName"), header)
    run_all(tmp_path, "salla", document)
    definition = str(tmp_path / "app.json")
    result = run("check", definition, "--json")
    schema = [f for f in json.loads(result.stdout)["findings"] if f["code"] == "DEF_SCHEMA"]
    assert result.exit_code == 1
    assert [f["pointer"] for f in schema] == ["/webhook/verification/headerName"]
    assert "is not an HTTP header name" in schema[0]["message"]
    result = run("sign", "--definition", definition, str(BASES["salla"][3]),
                 "--credential", "webhookSecret=property-test-secret")
    if header == "é":  # a .http file can still hold it (latin-1): signed as the definition says
        assert result.exit_code == 0 and b"\r\n\xe9: " in result.stdout_bytes
    else:
        assert result.exit_code == 2
        assert result.stderr.count("\n") == 1 and "invalid header name" in result.stderr
