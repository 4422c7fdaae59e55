"""`whdebug codes`, `whdebug explain CODE`, and docs/codes.md generated from the registry."""

from __future__ import annotations

import json
import tomllib

from tests.cli_support import error_line, run
from tests.paths import REPO
from whdebug.cli.output.codes import codes_markdown
from whdebug.engine.codes import every_code, explain, registry

DOCS_PAGES = REPO.parent / "shared" / "reference" / "karzoun-miniapps-docs"


def test_every_registry_code_is_explained() -> None:
    """Codes are never removed or renamed (SPEC), so an entry without a registry code can only
    be one that another branch registers; only registry codes are ever listed."""
    texts = tomllib.loads((REPO / "whdebug" / "engine" / "codes.toml").read_text("utf-8"))
    assert set(registry()) - set(texts) == set()
    assert {info.code for info in every_code()} == set(registry())
    for code, text in texts.items():
        assert text.get("summary") and text.get("fix") and text.get("runtime"), code
        assert text.get("docs", "").startswith("/miniapps/"), code


def test_docs_pages_exist_in_the_reference() -> None:
    if not DOCS_PAGES.exists():
        return  # the reference copy is not shipped with the repository
    for info in every_code():
        page = info.docs.removeprefix("/miniapps/")
        assert (DOCS_PAGES / f"{page}.mdx").exists(), (info.code, info.docs)


def test_docs_codes_md_is_current() -> None:
    """Regenerate with `whdebug codes --markdown > docs/codes.md`."""
    current = (REPO / "docs" / "codes.md").read_text("utf-8")
    assert current == codes_markdown(every_code()), \
        "docs/codes.md is stale: run `whdebug codes --markdown > docs/codes.md`"


def test_codes_lists_every_code_with_its_severity() -> None:
    result = run("codes")
    assert result.exit_code == 0, result.output
    for code, severity in registry().items():
        line = next(line for line in result.stdout.splitlines()
                    if line.strip().startswith(code + " "))
        assert severity in line


def test_codes_json() -> None:
    result = run("codes", "--json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["schema"] == "whdebug.codes/1"
    by_code = {entry["code"]: entry for entry in document["codes"]}
    assert set(by_code) == set(registry())
    assert by_code["UPD_TRIGGER_REMOVED"]["severity"] == "error"
    assert by_code["TX_DUPLICATE"]["group"] == "dedupe"


def test_codes_markdown_matches_the_file_the_docs_ship() -> None:
    result = run("codes", "--markdown")
    assert result.exit_code == 0
    assert result.stdout == (REPO / "docs" / "codes.md").read_text("utf-8")


def test_explain_says_meaning_runtime_fix_and_page() -> None:
    result = run("explain", "tx_duplicate")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    info = explain("TX_DUPLICATE")
    assert info is not None
    assert text.startswith("TX_DUPLICATE warning")
    for label, value in (("means:", info.summary), ("runtime:", info.runtime),
                         ("fix:", info.fix), ("docs:", info.docs)):
        assert f"{label} {value}" in text


def test_explain_accepts_lower_case_and_hyphens() -> None:
    result = run("explain", "sig-body-modified")
    assert result.exit_code == 0
    assert result.stdout.startswith("SIG_BODY_MODIFIED  error")


def test_explain_json() -> None:
    result = run("explain", "UPD_NS_CHANGED", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["docs"] == "/miniapps/guides/submission"


def test_unknown_code_is_one_line_with_close_matches() -> None:
    result = run("explain", "SIG_MISMACH")
    assert result.exit_code == 2
    assert result.stdout == ""
    line = error_line(result)
    assert line.startswith("whdebug: unknown finding code 'SIG_MISMACH'; did you mean "
                           "SIG_MISMATCH or ")  # the closest first, then up to two more
    assert line.endswith("?") and line.count(" or ") <= 2


def test_unknown_code_without_a_close_match_points_to_codes() -> None:
    result = run("explain", "banana")
    assert result.exit_code == 2
    assert "`whdebug codes` lists every code" in error_line(result)
