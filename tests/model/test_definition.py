"""Loading definitions: JSON, JSON5, pasted JavaScript literals, and where syntax errors are."""

from __future__ import annotations

import json
import re
from pathlib import Path

import json5
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paths import REPO

from whdebug.errors import DefinitionError
from whdebug.model.definition import load_definition, parse_definition

LINT = REPO / "fixtures" / "definitions" / "lint"
LOCATED = re.compile(r"^(?P<name>.+):(?P<line>\d+):(?P<column>\d+): \S")


def parse_error(text: str, name: str = "app.js") -> str:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(text, name)
    return str(caught.value)


class TestAccepted:
    def test_strict_json_takes_the_json_path(self) -> None:
        definition = parse_definition('{"ns": "github", "version": "1.0.0"}', "app.json")
        assert definition.syntax == "json"
        assert definition.data == {"ns": "github", "version": "1.0.0"}
        assert definition.path == "app.json"
        assert definition.label == "github@1.0.0"

    def test_json5_comments_quotes_trailing_commas(self) -> None:
        text = """{
          // line comment
          ns: 'github', /* block */
          "version": '1.0.0',
          triggers: [{event: 'push.', type: "miniapps:github",},],
        }"""
        definition = parse_definition(text)
        assert definition.syntax == "json5"
        assert definition.trigger_events == ["push."]
        assert definition.data["version"] == "1.0.0"

    @pytest.mark.parametrize(
        "text",
        [
            "const app = {ns: 'x'};",
            "let app = {ns: 'x'}",
            "var app={ns: 'x'};\n",
            "export const app = {ns: 'x'};\nexport default app;\n",
            "export default {ns: 'x'};",
            "module.exports = {ns: 'x'};",
            "const app = {ns: 'x'};\nmodule.exports = app;",
            "const app: MiniApp = {ns: 'x'}; // typed\n",
            "// MiniApp from the docs\n/* v1 */\nconst app = {\n  ns: 'x',\n};\n",
        ],
    )
    def test_javascript_wrappers_are_stripped(self, text: str) -> None:
        definition = parse_definition(text)
        assert definition.syntax == "json5"
        assert definition.data == {"ns": "x"}

    def test_utf8_bom_is_ignored(self) -> None:
        assert parse_definition('\ufeff{"ns": "x"}').data == {"ns": "x"}

    def test_a_definition_without_webhook_still_loads(self) -> None:
        definition = parse_definition('{"ns": "x", "version": "1.0.0"}')
        assert definition.webhook == {}
        assert definition.webhook_path == "/miniapps/x/webhooks"

    def test_sources_merge_rpc_and_sources(self) -> None:
        definition = parse_definition('{"rpc": {"rpc_a": {}}, "sources": {"rpc_b": {}}}')
        assert sorted(definition.sources) == ["rpc_a", "rpc_b"]

    def test_loads_the_clean_javascript_fixture(self) -> None:
        definition = load_definition(LINT / "js-literal-ok.js")
        assert definition.syntax == "json5"
        assert definition.ns == "acme-orders"
        assert definition.trigger_events == ["order.created", "order.updated"]
        assert definition.path == str(LINT / "js-literal-ok.js")


class TestSyntaxErrors:
    def test_json_error_names_line_and_column(self) -> None:
        text = '{\n  "ns": "x",\n  "version": "1.0.0"\n  "triggers": []\n}\n'
        assert parse_error(text, "app.json") == "app.json:4:3: expecting ',' delimiter"

    def test_json_unterminated_string(self) -> None:
        message = parse_error('{\n  "ns": "x\n}', "app.json")
        assert message.startswith("app.json:2:11: ")
        assert "string" in message

    def test_javascript_error_line_and_column_count_the_stripped_wrapper(self) -> None:
        text = "// pasted\nconst app = {\n  ns: 'x',\n  version: @,\n};\n"
        assert parse_error(text) == 'app.js:4:12: unexpected "@"'

    def test_error_on_the_wrapper_line(self) -> None:
        assert parse_error("const app = {ns: @};") == 'app.js:1:18: unexpected "@"'

    def test_missing_comma_in_javascript_fixture(self) -> None:
        with pytest.raises(DefinitionError) as caught:
            load_definition(LINT / "js-literal.js")
        assert str(caught.value) == f'{LINT / "js-literal.js"}:8:54: unexpected "d"'

    def test_unclosed_object(self) -> None:
        assert parse_error("const app = {\n  ns: 'x',\n") == (
            "app.js:3:1: unexpected end of input (missing closing bracket, brace or quote?)"
        )

    def test_statement_after_the_literal(self) -> None:
        text = "const app = {ns: 'x'};\nconsole.log(app);\n"
        assert parse_error(text) == 'app.js:2:1: unexpected "c" after the definition'

    def test_export_of_another_name_is_not_skipped(self) -> None:
        assert parse_error("const app = {};\nexport default other;").startswith("app.js:2:1: ")

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("[1, 2]", "app.js:1:1: the definition must be an object, not an array"),
            ('\n  "ns"', "app.js:2:3: the definition must be an object, not a string"),
            ("const app = [1];", "app.js:1:13: the definition must be an object, not an array"),
            ("null", "app.js:1:1: the definition must be an object, not null"),
        ],
    )
    def test_top_level_must_be_an_object(self, text: str, expected: str) -> None:
        assert parse_error(text) == expected

    @pytest.mark.parametrize("text", ["", "   \n", "// nothing here\n"])
    def test_empty(self, text: str) -> None:
        assert parse_error(text).endswith(": the definition is empty")

    def test_deep_nesting_is_an_error_not_a_crash(self) -> None:
        assert parse_error("[" * 100_000) == "app.js:1:1: the definition is nested too deeply"

    def test_messages_are_one_line(self) -> None:
        message = parse_error('{\n  ns: "x\n}')
        assert "\n" not in message
        assert message.startswith("app.js:2:")


class TestLoad:
    def test_missing_file(self, tmp_path: Path) -> None:
        path = tmp_path / "nope.json"
        with pytest.raises(DefinitionError) as caught:
            load_definition(path)
        assert str(caught.value) == f"definition file not found ({path})"

    def test_directory(self, tmp_path: Path) -> None:
        with pytest.raises(DefinitionError, match="is a directory"):
            load_definition(tmp_path)

    def test_not_utf8(self, tmp_path: Path) -> None:
        path = tmp_path / "latin1.json"
        path.write_bytes(b'{"ns": "caf\xe9"}')
        with pytest.raises(DefinitionError, match="not UTF-8"):
            load_definition(path)

    def test_crlf_file(self, tmp_path: Path) -> None:
        path = tmp_path / "app.js"
        path.write_bytes(b"const app = {\r\n  ns: 'x',\r\n  version: @,\r\n};\r\n")
        with pytest.raises(DefinitionError) as caught:
            load_definition(path)
        assert str(caught.value).startswith(f"{path}:3:12: ")


# json5.dumps mangles astral characters in keys and writes "\\00" for NUL + "0": avoid both.
bmp_text = st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs", "Cc")), max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | bmp_text,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(bmp_text, children, max_size=3),
    max_leaves=12,
)
documents = st.dictionaries(bmp_text, json_values, max_size=4)


class TestProperties:
    @given(documents)
    def test_json_round_trips(self, document: dict[str, object]) -> None:
        assert parse_definition(json.dumps(document)).data == document

    @given(documents)
    def test_javascript_literal_round_trips(self, document: dict[str, object]) -> None:
        text = f"const app = {json5.dumps(document, quote_keys=False)};\nexport default app;\n"
        assert parse_definition(text).data == document

    @given(st.text(alphabet="{}[]:,'\"/*\n ab1;=", max_size=30))
    def test_any_text_parses_or_names_a_real_position(self, text: str) -> None:
        try:
            parse_definition(text, "f.js")
        except DefinitionError as error:
            located = LOCATED.match(str(error))
            assert located is not None, str(error)
            assert "\n" not in str(error)
            lines = text.split("\n")
            line = int(located["line"])
            assert 1 <= line <= len(lines)
            assert 1 <= int(located["column"]) <= len(lines[line - 1]) + 1


DOCS_CORPUS = sorted((REPO / "tests" / "docs_corpus").glob("*.js"))


@pytest.mark.parametrize("path", DOCS_CORPUS, ids=[p.name for p in DOCS_CORPUS])
def test_docs_definitions_parse_without_the_slow_parser(
        path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A definition written as the docs write it (module.exports = {...}; comments, unquoted
    keys, trailing commas, template literals) is parsed by pyjson5 alone, and to the value
    json5 gives (json5 takes seconds on a large definition)."""
    text = path.read_text(encoding="utf-8")
    slow = parse_definition(text, str(path))
    monkeypatch.setattr(json5, "parse", _refuse)
    fast = parse_definition(text, str(path))
    assert fast.data == slow.data and fast.syntax == "json5"


def _refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("the slow JSON5 parser ran")


@pytest.mark.parametrize("trailer", [
    ";\n// the end }\n",
    "\n/* } */\nexport default app;\n",
])
def test_a_brace_after_the_definition_still_parses(trailer: str) -> None:
    text = "const app = {\n  ns: 'acme',\n  version: '1.0.0',\n}" + trailer
    assert parse_definition(text, "app.js").data == {"ns": "acme", "version": "1.0.0"}


@pytest.mark.parametrize(("text", "where"), [
    ("module.exports = {ns: 'acme',}\n}\n", "app.js:2:1"),
    ("module.exports = {ns: 'acme'} x\n", "app.js:1:31"),
])
def test_text_after_the_definition_is_still_an_error(text: str, where: str) -> None:
    with pytest.raises(DefinitionError) as error:
        parse_definition(text, "app.js")
    assert str(error.value).startswith(where), str(error.value)
