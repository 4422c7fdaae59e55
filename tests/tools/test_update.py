"""`check NEW --previous OLD`: an update judged against the approved definition, with the
docs' GitHub example (a JavaScript object literal, as the docs write it) as the approved one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_support import run
from tests.factories import NOW, sign
from whdebug.model.definition import parse_definition
from whdebug.model.request import CapturedRequest, Secrets
from whdebug.store.store import Store
from whdebug.tools.update import SemVer, compare_definitions, compare_update

SECRET = "gh-webhook-secret"
# The docs' GitHub example (examples/github.mdx), trimmed to the blocks an update touches.
GITHUB = """const githubMiniApp = {
  ns: "github",
  name: "github",
  type: "github",
  title: "GitHub",
  label: "GitHub",
  description: "Automate GitHub workflows: issues, PRs, deployments, and more.",
  shortDescription: "GitHub issues, PRs, CI/CD automation",
  status: "private",
  version: "1.0.0",
  category: "developer",
  icon: "https://cdn.karzoun.com/miniapps/github/icon.svg",
  logo: "https://cdn.karzoun.com/miniapps/github/logo.svg",
  docsUrl: "https://docs.github.com/en/rest",
  auth: {
    type: "bearer_token",
    sensitiveKeys: ["accessToken", "webhookSecret"],
    config: { accessToken: "", webhookSecret: "" },
  },
  triggers: [
    { type: "miniapps:github", event: "push.received", label: "Push Received" },
    { type: "miniapps:github", event: "pull_request.opened", label: "PR Opened" },
    { type: "miniapps:github", event: "issue.opened", label: "Issue Opened" },
  ],
  // Webhook: header + body composite event
  webhook: {
    eventExtraction: {
      source: "header",
      path: "X-GitHub-Event",
      compositeStrategy: {
        parts: [
          { source: "header", path: "X-GitHub-Event" },
          { source: "body", path: "$.action" },
        ],
        separator: ".",
      },
    },
    transactionId: { paths: ["$.delivery"], fallback: "generate" },
    verification: {
      type: "hmac-sha256",
      headerName: "X-Hub-Signature-256",
      secretKey: "webhookSecret", // Resolves from credentials (per-repo secret)
    },
    response: { statusCode: 200, body: { ok: true } },
  },
};
"""


def github(*edits: tuple[str, str]) -> str:
    text = GITHUB
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return text


BUMPED = ('version: "1.0.0"', 'version: "1.1.0"')


def compare(*edits: tuple[str, str]) -> list[tuple[str, str]]:
    old = parse_definition(GITHUB, "old.js")
    new = parse_definition(github(*edits), "new.js")
    return [(f.code, f.message) for f in compare_definitions(old, new)]


def codes(*edits: tuple[str, str]) -> list[str]:
    return [code for code, _ in compare(*edits)]


def delivery(event: str, action: str | None, delivery_id: str) -> CapturedRequest:
    body: dict[str, object] = {"delivery": delivery_id}
    if action is not None:
        body["action"] = action
    raw = json.dumps(body).encode()
    return CapturedRequest(
        method="POST", path="/miniapps/github/webhooks", query="",
        headers=(("Content-Type", "application/json"), ("X-GitHub-Event", event),
                 ("X-Hub-Signature-256", sign(raw, SECRET, "github"))),
        body=raw)


def write_http(folder: Path, name: str, request: CapturedRequest) -> None:
    head = [f"{request.method} {request.path} HTTP/1.1"]
    head += [f"{name_}: {value}" for name_, value in request.headers]
    (folder / name).write_bytes("\r\n".join(head).encode() + b"\r\n\r\n" + request.body)


class TestVersion:
    def test_semver_precedence(self) -> None:
        order = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "1.0.0-beta.11", "1.0.0-rc.1",
                 "1.0.0", "1.0.1", "1.1.0", "2.0.0"]
        parsed = [SemVer.parse(text) for text in order]
        assert None not in parsed
        assert parsed == sorted(parsed)  # type: ignore[type-var]
        assert SemVer.parse("1.0") is None

    def test_same_version_is_an_error_with_the_next_version_as_fix(self) -> None:
        old = parse_definition(GITHUB, "old.js")
        new = parse_definition(github(("description: \"Automate", "description: \"Run")))
        found = compare_definitions(old, new)
        assert [f.code for f in found] == ["UPD_VERSION_NOT_BUMPED"]
        assert found[0].severity == "error"
        assert found[0].fix == 'set version to "1.1.0"'

    def test_a_lower_version_goes_backwards(self) -> None:
        found = compare(('version: "1.0.0"', 'version: "0.9.0"'))
        assert found[0][0] == "UPD_VERSION_NOT_BUMPED"
        assert "backwards" in found[0][1]

    def test_a_prerelease_of_the_same_version_is_lower(self) -> None:
        assert codes(('version: "1.0.0"', 'version: "1.0.0-rc.1"')) == ["UPD_VERSION_NOT_BUMPED"]

    def test_minor_and_patch_bumps_pass(self) -> None:
        assert codes(BUMPED) == []
        assert codes(('version: "1.0.0"', 'version: "1.0.1"')) == []

    def test_not_semver_cannot_be_compared(self) -> None:
        assert codes(('version: "1.0.0"', 'version: "v2"')) == ["UPD_VERSION_NOT_SEMVER"]

    def test_breaking_change_with_a_minor_bump_is_a_warning_to_bump_major(self) -> None:
        old = parse_definition(GITHUB, "old.js")
        new = parse_definition(github(BUMPED, ('"issue.opened"', '"issues.opened"')))
        found = {f.code: f for f in compare_definitions(old, new)}
        assert found["UPD_VERSION_NOT_MAJOR"].severity == "warning"
        assert found["UPD_VERSION_NOT_MAJOR"].fix is not None
        assert '"2.0.0"' in found["UPD_VERSION_NOT_MAJOR"].fix


class TestStatic:
    def test_ns_changed(self) -> None:
        found = compare(BUMPED, ('ns: "github"', 'ns: "github-app"'))
        assert [code for code, _ in found] == ["UPD_NS_CHANGED"]
        assert '"github" to "github-app"' in found[0][1]

    def test_removed_and_renamed_triggers_are_listed(self) -> None:
        found = dict(compare(
            ('version: "1.0.0"', 'version: "2.0.0"'),
            ('{ type: "miniapps:github", event: "push.received", label: "Push Received" },', ""),
            ('event: "issue.opened"', 'event: "issues.opened"')))
        message = found["UPD_TRIGGER_REMOVED"]
        assert '"push.received"' in message
        assert '"issue.opened" (renamed to "issues.opened")' in message
        assert "silently stop" in message
        assert "pull_request.opened" not in message

    def test_an_added_trigger_is_fine(self) -> None:
        assert codes(BUMPED, ('triggers: [', 'triggers: [\n    { type: "miniapps:github", '
                                             'event: "release.published", label: "R" },')) == []

    @pytest.mark.parametrize(("edit", "shown"), [
        (('secretKey: "webhookSecret"', 'secretKey: "signingSecret"'),
         'secretKey "webhookSecret" -> "signingSecret"'),
        (('headerName: "X-Hub-Signature-256"', 'headerName: "X-Hub-Signature"'),
         'headerName "X-Hub-Signature-256" -> "X-Hub-Signature"'),
    ])
    def test_verification_changes_mean_401(self, edit: tuple[str, str], shown: str) -> None:
        found = dict(compare(('version: "1.0.0"', 'version: "2.0.0"'), edit))
        assert list(found) == ["UPD_VERIFICATION_CHANGED"]
        assert shown in found["UPD_VERIFICATION_CHANGED"]
        assert "401" in found["UPD_VERIFICATION_CHANGED"]

    def test_header_case_is_no_change(self) -> None:
        assert codes(BUMPED, ('headerName: "X-Hub-Signature-256"',
                              'headerName: "x-hub-signature-256"')) == []

    def test_added_sensitive_key_form_field_and_scope_need_reauthorisation(self) -> None:
        old = GITHUB.replace('config: { accessToken: "", webhookSecret: "" },',
                             'config: { accessToken: "", webhookSecret: "", scope: "repo" },')
        new = github(
            BUMPED,
            ('sensitiveKeys: ["accessToken", "webhookSecret"]',
             'sensitiveKeys: ["accessToken", "webhookSecret", "refreshToken"]'),
            ('config: { accessToken: "", webhookSecret: "" },',
             'config: { accessToken: "", webhookSecret: "", scope: "repo read:org" },\n'
             '    form: { orgName: { type: "text", label: "Organisation", required: true } },'))
        found = compare_definitions(parse_definition(old), parse_definition(new))
        assert [f.code for f in found] == ["UPD_REAUTH_REQUIRED"]
        message = found[0].message
        assert 'sensitive key "refreshToken"' in message
        assert 'install form field "orgName"' in message
        assert 'OAuth scope "read:org"' in message
        assert '"repo"' not in message

    def test_scopes_in_the_auth_url_query(self) -> None:
        def oauth(scope: str, *edits: tuple[str, str]) -> str:
            return github(*edits, ('type: "bearer_token",',
                                   'type: "oauth2",\n    auth_url: { url: "https://github.com/'
                                   f'login/oauth/authorize?client_id={{{{client_id}}}}&scope='
                                   f'{scope}&redirect_uri={{{{redirect_uri}}}}" }},'))
        old = parse_definition(oauth("repo"))
        new = parse_definition(oauth("repo%20admin%3Arepo_hook", BUMPED))
        found = compare_definitions(old, new)
        assert [f.code for f in found] == ["UPD_REAUTH_REQUIRED"]
        assert '"admin:repo_hook"' in found[0].message


class TestReplay:
    NEW_EXTRACTION = ('compositeStrategy: {', 'fallback: { source: "body", path: "$.action" },'
                      '\n      compositeStrategy: {')

    def deliveries(self) -> list[tuple[str, CapturedRequest]]:
        return [("pr", delivery("pull_request", "opened", "d-1")),
                ("push", delivery("push", None, "d-2")),
                ("issue", delivery("issues", "opened", "d-3"))]

    def test_changed_extraction_lists_the_deliveries_whose_outcome_changes(self) -> None:
        old = parse_definition(GITHUB)
        # Body-only extraction: pull_request.opened is lost, push is unchanged (no trigger).
        new = parse_definition(github(
            BUMPED, ('source: "header",\n      path: "X-GitHub-Event",\n      compositeStrategy',
                     'source: "body",\n      path: "$.action",\n      unusedStrategy')))
        from whdebug.model.request import as_capture
        result = compare_update(
            old, new, [(n, as_capture(r)) for n, r in self.deliveries()],
            Secrets({"webhookSecret": SECRET}, {}), now=NOW, source="the test")
        found = {f.code: f for f in result.findings}
        assert "UPD_OUTCOME_CHANGED" in found and found["UPD_OUTCOME_CHANGED"].severity == "error"
        assert "pr: fires pull_request.opened" in found["UPD_OUTCOME_CHANGED"].message
        changed = {c.delivery: c for c in result.changes if c.outcome_changed}
        assert set(changed) == {"pr"}
        # push and issues fired nothing before and after (other events): listed, no outcome
        assert {c.delivery for c in result.changes} == {"pr", "push", "issue"}
        assert changed["pr"].after.status == "no-trigger"
        assert changed["pr"].after.event == "opened"
        assert result.deliveries == 3

    def test_changed_transaction_path_warns_about_retries(self) -> None:
        old = parse_definition(GITHUB)
        new = parse_definition(github(BUMPED, ('paths: ["$.delivery"]', 'paths: ["$.id"]')))
        from whdebug.model.request import as_capture
        result = compare_update(
            old, new, [(n, as_capture(r)) for n, r in self.deliveries()],
            Secrets({"webhookSecret": SECRET}, {}), now=NOW)
        assert [f.code for f in result.findings] == ["UPD_TRANSACTION_ID_CHANGED"]
        assert "3 of 3 deliveries" in result.findings[0].message

    def test_no_deliveries_says_what_to_do(self) -> None:
        old = parse_definition(GITHUB)
        new = parse_definition(github(BUMPED, ('paths: ["$.delivery"]', 'paths: ["$.id"]')))
        result = compare_update(old, new, None, Secrets({}, {}), now=NOW)
        assert [f.code for f in result.findings] == ["UPD_NOT_REPLAYED"]
        assert "--samples" in (result.findings[0].fix or "")

    def test_unchanged_paths_replay_nothing(self) -> None:
        old, new = parse_definition(GITHUB), parse_definition(github(BUMPED))
        result = compare_update(old, new, None, Secrets({}, {}), now=NOW)
        assert result.findings == () and result.deliveries is None


class TestCommand:
    @pytest.fixture
    def files(self, tmp_path: Path) -> tuple[Path, Path]:
        old, new = tmp_path / "old.js", tmp_path / "new.js"
        old.write_text(GITHUB)
        return old, new

    def test_breaking_update_exits_1_with_every_problem(self, files: tuple[Path, Path]) -> None:
        old, new = files
        new.write_text(github(('ns: "github"', 'ns: "gh"'),
                              ('event: "push.received"', 'event: "push"')))
        result = run("check", str(new), "--previous", str(old))
        assert result.exit_code == 1, result.output
        for code in ("UPD_VERSION_NOT_BUMPED", "UPD_NS_CHANGED", "UPD_TRIGGER_REMOVED"):
            assert code in result.stdout
        assert "update of" in result.stdout

    def test_a_good_update_exits_0(self, files: tuple[Path, Path], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
        old, new = files
        monkeypatch.chdir(tmp_path)
        new.write_text(github(BUMPED))
        result = run("check", str(new), "--previous", str(old))
        assert result.exit_code == 0, result.output
        assert "ok as an update of github@1.0.0" in result.stdout

    def test_json_lists_the_changed_deliveries_from_samples(self, files: tuple[Path, Path],
                                                            tmp_path: Path) -> None:
        old, new = files
        new.write_text(github(BUMPED, ('separator: "."', 'separator: "_"')))
        samples = tmp_path / "samples"
        samples.mkdir()
        write_http(samples, "1-pr.http", delivery("pull_request", "opened", "d-1"))
        write_http(samples, "2-issue.http", delivery("issues", "opened", "d-2"))
        result = run("check", str(new), "--previous", str(old), "--samples", str(samples),
                     "--credential", f"webhookSecret={SECRET}", "--json")
        assert result.exit_code == 1, result.output
        document = json.loads(result.stdout)
        assert SECRET not in result.stdout
        assert document["ok"] is False
        update = document["update"]
        assert update["previous"] == {"ns": "github", "version": "1.0.0", "path": str(old)}
        assert update["changed_paths"] == ["eventExtraction"]
        assert update["deliveries"] == 2
        pr = [c for c in update["changes"] if c["delivery"] == "1-pr.http"][0]
        assert pr["outcome_changed"] is True
        assert pr["before"]["triggers"] == ["pull_request.opened"]
        assert pr["after"]["event"] == "pull_request_opened"
        assert pr["after"]["status"] == "no-trigger"
        assert "UPD_OUTCOME_CHANGED" in [f["code"] for f in document["findings"]]

    def test_stored_captures_are_replayed(self, files: tuple[Path, Path],
                                          tmp_path: Path) -> None:
        old, new = files
        new.write_text(github(BUMPED, ('separator: "."', 'separator: "_"')))
        store_path = tmp_path / "captures.db"
        with Store.open(store_path, create=True) as store:
            store.insert(delivery("pull_request", "opened", "d-1"))
        result = run("check", str(new), "--previous", str(old), "--store", str(store_path),
                     "--credential", f"webhookSecret={SECRET}")
        assert result.exit_code == 1, result.output
        assert "capture #1" in result.stdout
        assert "UPD_OUTCOME_CHANGED" in result.stdout

    def test_unreadable_previous_is_one_line_exit_2(self, files: tuple[Path, Path],
                                                   tmp_path: Path) -> None:
        old, new = files
        new.write_text(github(BUMPED))
        result = run("check", str(new), "--previous", str(tmp_path / "missing.js"))
        assert result.exit_code == 2
        assert result.stderr.startswith("whdebug: --previous:")
        assert len(result.stderr.splitlines()) == 1

    def test_an_empty_store_says_there_was_nothing_to_replay(self, files: tuple[Path, Path],
                                                              tmp_path: Path) -> None:
        old, new = files
        new.write_text(github(BUMPED, ('paths: ["$.delivery"]', 'paths: ["$.id"]')))
        store_path = tmp_path / "empty.db"
        Store.open(store_path, create=True).close()
        result = run("check", str(new), "--previous", str(old), "--store", str(store_path),
                     "--json")
        assert result.exit_code == 0, result.output
        document = json.loads(result.stdout)
        (upd,) = [f for f in document["findings"] if f["code"].startswith("UPD_")]
        assert upd["code"] == "UPD_NOT_REPLAYED" and "is empty" in upd["message"]
        assert document["update"]["deliveries"] == 0
