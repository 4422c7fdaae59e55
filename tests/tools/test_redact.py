"""`whdebug redact`: secrets blanked in place, everything else byte for byte as written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_support import run
from conftest import FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st

from whdebug.engine.lint.definition import check_definition
from whdebug.errors import DefinitionError
from whdebug.model.definition import parse_definition
from whdebug.model.secrecy import config_secret_reason, is_secret_name
from whdebug.tools.redact import redact_text

LINT = FIXTURES / "definitions" / "lint"


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    """(old, new) for each line that differs; the line count must not change."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new)
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


class TestJson:
    def test_the_lint_fixture(self) -> None:
        text = (LINT / "secret-in-submission.json").read_text()
        redaction = redact_text(text, "secret-in-submission.json")
        assert changed_lines(text, redaction.text) == [
            ('      "webhookSecret": "wh-secret-do-not-ship",\n', '      "webhookSecret": "",\n'),
            ('      "apiToken": "tok-do-not-ship"\n', '      "apiToken": ""\n'),
        ]
        assert [(b.key, b.line) for b in redaction.blanked] == [("webhookSecret", 19),
                                                              ("apiToken", 20)]
        assert redaction.blanked[0].reason == "listed in auth.sensitiveKeys"
        assert redaction.blanked[1].reason.startswith("looks like a secret")

    def test_redacted_definition_passes_the_submission_secret_check(self) -> None:
        text = (LINT / "secret-in-submission.json").read_text()
        before = check_definition(parse_definition(text), submission=True)
        after = check_definition(parse_definition(redact_text(text).text), submission=True)
        assert "DEF_SECRET_IN_SUBMISSION" in [f.code for f in before]
        assert "DEF_SECRET_IN_SUBMISSION" not in [f.code for f in after]

    def test_sensitive_key_with_an_ordinary_name_is_blanked(self) -> None:
        text = json.dumps({"ns": "a", "auth": {"config": {"shopDomain": "x.myshopify.com",
                                                          "baseUrl": "https://a"},
                                               "sensitiveKeys": ["shopDomain"]}})
        redaction = redact_text(text)
        config = parse_definition(redaction.text).auth_config
        assert config == {"shopDomain": "", "baseUrl": "https://a"}

    @pytest.mark.parametrize("key", ["API_KEY", "Password", "accessToken", "client_secret",
                                     "signingSecret", "publicKey"])
    def test_secret_looking_names(self, key: str) -> None:
        assert is_secret_name(key)

    @pytest.mark.parametrize("key", ["baseUrl", "client_id", "storeUrl", "region"])
    def test_ordinary_names(self, key: str) -> None:
        assert not is_secret_name(key)

    def test_empty_and_null_values_are_not_reported(self) -> None:
        text = '{"auth": {"config": {"apiKey": "", "token": null}, "sensitiveKeys": []}}'
        redaction = redact_text(text)
        assert redaction.text == text
        assert redaction.blanked == ()

    def test_non_string_values_are_blanked(self) -> None:
        text = ('{"auth": {"config": {"apiKey": 12345, "token": {"a": [1, "}"]}, '
                '"password": [1, 2], "retries": 3}}}')
        redaction = redact_text(text)
        assert redaction.text == ('{"auth": {"config": {"apiKey": "", "token": "", '
                                  '"password": "", "retries": 3}}}')

    def test_escapes_in_keys_and_values(self) -> None:
        text = r'{"auth": {"config": {"api\u004bey": "a\"b\\", "x": "k\"ey"}}}'
        redaction = redact_text(text)
        assert redaction.text == r'{"auth": {"config": {"api\u004bey": "", "x": "k\"ey"}}}'
        assert redaction.blanked[0].key == "apiKey"

    def test_duplicate_auth_blocks_are_all_blanked(self) -> None:
        text = ('{"auth": {"config": {"apiKey": "first"}},\n'
                ' "auth": {"config": {"apiKey": "second"}}}')
        redaction = redact_text(text)
        assert "first" not in redaction.text and "second" not in redaction.text
        assert [b.line for b in redaction.blanked] == [1, 2]

    def test_crlf_bom_and_unicode_are_kept(self) -> None:
        text = ('\ufeff{\r\n  "name": "Café ☕",\r\n'
                '  "auth": {"config": {"apiKey": "ключ"}}\r\n}\r\n')
        redaction = redact_text(text)
        assert redaction.text == text.replace('"ключ"', '""')

    def test_nothing_outside_auth_config_changes(self) -> None:
        text = json.dumps({"ns": "a", "apiKey": "top", "webhook": {"token": "t"},
                           "auth": {"config": {"keep": "x"}, "token": "not-config"}})
        assert redact_text(text).text == text


class TestJsLiteral:
    def test_comments_quotes_and_wrapper_are_kept(self) -> None:
        text = (
            "// pasted from the docs\n"
            "const app = {\n"
            "  ns: 'acme', /* inline */ version: '1.0.0',\n"
            "  auth: {\n"
            "    type: 'apikey',\n"
            "    config: { apiKey: 'k-1', 'webhookSecret': \"w-2\", baseUrl: 'https://x', },\n"
            "    sensitiveKeys: ['webhookSecret'],\n"
            "  },\n"
            "};\n"
            "export default app;\n"
        )
        redaction = redact_text(text, "app.js")
        assert changed_lines(text, redaction.text) == [(
            "    config: { apiKey: 'k-1', 'webhookSecret': \"w-2\", baseUrl: 'https://x', },\n",
            "    config: { apiKey: '', 'webhookSecret': \"\", baseUrl: 'https://x', },\n",
        )]
        assert parse_definition(redaction.text).auth_config["webhookSecret"] == ""

    def test_parse_errors_are_raised_not_guessed(self) -> None:
        with pytest.raises(DefinitionError, match=r"js-literal\.js:8:54"):
            redact_text((LINT / "js-literal.js").read_text(), "js-literal.js")


keys = st.sampled_from(["apiKey", "webhookSecret", "baseUrl", "client_id", "Token", "region",
                        "password2", "shop", "k\"ey", "ключ"])
values = st.one_of(st.text(max_size=12), st.integers(), st.none(), st.booleans(),
                   st.lists(st.integers(), max_size=2),
                   st.dictionaries(st.sampled_from(["a", "}"]), st.text(max_size=3),
                                   max_size=2))


@settings(max_examples=200, deadline=None)
@given(config=st.dictionaries(keys, values, max_size=6),
       sensitive=st.lists(keys, max_size=3, unique=True),
       indent=st.sampled_from([None, 2, 4, "\t"]), ascii_only=st.booleans())
def test_only_secret_values_change(config: dict[str, Any], sensitive: list[str],
                                   indent: Any, ascii_only: bool) -> None:
    document = {"ns": "x", "version": "1.0.0",
                "auth": {"type": "apikey", "config": config, "sensitiveKeys": sensitive},
                "triggers": [{"event": "apiKey"}]}
    text = json.dumps(document, indent=indent, ensure_ascii=ascii_only)
    redaction = redact_text(text)
    parsed = parse_definition(redaction.text).data
    original = parse_definition(text)
    expected = {key: ("" if config_secret_reason(original, key) and value not in ("", None)
                      else value)
                for key, value in config.items()}
    assert parsed["auth"]["config"] == expected
    assert {key: value for key, value in parsed.items() if key != "auth"} == {
        key: value for key, value in document.items() if key != "auth"}
    assert {b.key for b in redaction.blanked} == {
        key for key, value in config.items() if expected[key] != value}
    # Text outside auth.config is byte for byte the same.
    before, after = text.split('"config":', 1), redaction.text.split('"config":', 1)
    assert before[0] == after[0]
    assert text[text.index('"sensitiveKeys"'):] == redaction.text[
        redaction.text.index('"sensitiveKeys"'):]
    if not redaction.blanked:
        assert redaction.text == text


# --- the command ----------------------------------------------------------------------------


class TestRedactCommand:
    def test_stdout_and_stderr(self) -> None:
        path = LINT / "secret-in-submission.json"
        result = run("redact", str(path))
        assert result.exit_code == 0
        assert result.stdout_bytes == redact_text(path.read_text()).text.encode()
        assert result.stderr.splitlines() == [
            "redact: blanked auth.config.webhookSecret (line 19): listed in auth.sensitiveKeys",
            "redact: blanked auth.config.apiToken (line 20): looks like a secret (add it to "
            "auth.sensitiveKeys)",
        ]
        assert "do-not-ship" not in result.stdout + result.stderr

    def test_output_file_keeps_crlf(self, tmp_path: Path) -> None:
        source = tmp_path / "app.json"
        source.write_bytes(b'{\r\n  "auth": {"config": {"apiKey": "abc123"}}\r\n}\r\n')
        out = tmp_path / "out.json"
        result = run("redact", str(source), "-o", str(out))
        assert result.exit_code == 0
        assert result.stdout == ""
        assert out.read_bytes() == b'{\r\n  "auth": {"config": {"apiKey": ""}}\r\n}\r\n'
        assert f"redact: wrote {out}" in result.stderr
        assert "abc123" not in result.stderr

    def test_nothing_to_blank(self) -> None:
        path = FIXTURES / "definitions" / "salla.json"
        result = run("redact", str(path))
        assert result.exit_code == 0
        assert result.stdout_bytes == path.read_bytes()
        assert result.stderr.startswith("redact: nothing to blank")

    @pytest.mark.parametrize(("name", "message"), [
        ("missing.json", "definition file not found"),
        ("js-literal.js", "js-literal.js:8:54"),
    ])
    def test_errors(self, name: str, message: str) -> None:
        result = run("redact", str(LINT / name))
        assert result.exit_code == 2
        assert len(result.stderr.splitlines()) == 1 and message in result.stderr
        assert result.stdout == ""

    def test_not_utf8(self, tmp_path: Path) -> None:
        path = tmp_path / "latin1.json"
        path.write_bytes(b'{"name": "caf\xe9"}')
        result = run("redact", str(path))
        assert result.exit_code == 2
        assert "not UTF-8" in result.stderr
