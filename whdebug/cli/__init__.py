"""The `whdebug` command line: every command, its flags, its output and its exit status.

Exit status: 0 success, 1 a finding the command exists to report (a request that would not
fire, an error-level lint finding), 2 bad input. Every error is one `whdebug: ...` line on
stderr; a traceback only with WHDEBUG_DEBUG=1. Heavy modules are imported inside commands
so `whdebug --help` stays fast.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from whdebug import __version__
from whdebug.errors import WhdebugError, decode_text, read_input

if TYPE_CHECKING:
    from rich.console import Console

    from whdebug.engine.report import Finding, Report
    from whdebug.model.definition import Definition
    from whdebug.model.request import CapturedRequest, Secrets
    from whdebug.store.store import CaptureSummary, Store
    from whdebug.tools.resend import Answer

F = TypeVar("F", bound=Callable[..., Any])

MASK = "[masked]"
_MIN_SECRET_LENGTH = 4
_SUMMARY_BATCH = 1000
_NO_TUI_HINT = "use whdebug replay/serve/list"


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _fail(message: str, exit_code: int = 2) -> int:
    click.echo(f"whdebug: {_one_line(message)}", err=True)
    return exit_code


class WhdebugGroup(click.Group):
    """The command group; turns every error into one `whdebug: ...` line on stderr."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            code = super().main(args, prog_name or "whdebug", complete_var,
                                standalone_mode=False,
                                windows_expand_args=windows_expand_args, **extra)
        except click.UsageError as error:
            message = error.format_message().rstrip(".")
            if error.ctx is not None:
                message += f" (see '{error.ctx.command_path} --help')"
            code = _fail(message, error.exit_code)
        except click.ClickException as error:
            code = _fail(error.format_message(), error.exit_code)
        except click.Abort:
            code = _fail("interrupted", 130)
        except WhdebugError as error:
            code = _fail(str(error), error.exit_code)
        except Exception as error:
            if os.environ.get("WHDEBUG_DEBUG") == "1":
                raise
            code = _fail(f"internal error: {type(error).__name__}: {error}")
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


@click.group(cls=WhdebugGroup, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="whdebug",
                      message="%(prog)s %(version)s")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Replay Karzoun MiniApp webhooks offline and explain why they fail.

    Without a command, starts the TUI with a receiver on 127.0.0.1:8787.
    """
    if ctx.invoked_subcommand is None:
        _start_tui(ctx, listen=True)


# --- shared option parsing ---------------------------------------------------------------


def _analysis_options(func: F) -> F:
    """Flags shared by every command that analyses requests (SPEC: common analysis flags)."""
    options = [
        click.option("--credentials", "credentials_file", metavar="FILE",
                     help="JSON object file: the tenant's installed-app credentials."),
        click.option("--credential", "credential_pairs", metavar="KEY=VALUE", multiple=True,
                     help="One credential (repeatable); wins over --credentials."),
        click.option("--config", "config_pairs", metavar="KEY=VALUE", multiple=True,
                     help="Override a global auth.config value (repeatable)."),
        click.option("--missing-part", type=click.Choice(["empty", "skip", "undefined"]),
                     default="empty", show_default=True,
                     help="How a missing composite event part joins."),
        click.option("--nullish", is_flag=True,
                     help="Resolve the secret with ?? (an empty credential is kept) "
                          "instead of ||."),
        click.option("--now", "now_text", metavar="ISO8601",
                     help="The time to judge timestamps against (default: now, UTC)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def parse_now(value: str | None) -> datetime:
    """`--now`: ISO 8601 with or without Z or an offset (naive means UTC); default: now."""
    if value is None:
        return datetime.now(UTC)
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise WhdebugError(f"--now: not an ISO 8601 time ({value})") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_pairs(flag: str, pairs: Sequence[str]) -> dict[str, str]:
    """`KEY=VALUE` arguments; the value is never echoed in an error (it may be a secret)."""
    parsed: dict[str, str] = {}
    for number, pair in enumerate(pairs, 1):
        key, separator, value = pair.partition("=")
        if not separator:
            raise WhdebugError(f'{flag}: expected KEY=VALUE (argument {number} has no "=")')
        if not key.strip():
            raise WhdebugError(f"{flag}: expected KEY=VALUE (argument {number} has no key)")
        parsed[key.strip()] = value
    return parsed


def read_credentials(path: str) -> dict[str, Any]:
    """A credentials file: one JSON object. Errors never quote the file's content."""
    text = decode_text(read_input(path, "credentials"), path, "credentials")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise WhdebugError(
            f"{path}:{error.lineno}:{error.colno}: credentials file is not valid JSON "
            f"({error.msg})") from None
    if not isinstance(data, dict):
        raise WhdebugError("credentials file must hold a JSON object of KEY: VALUE", path)
    return data


def load_secrets(credentials_file: str | None, credential_pairs: Sequence[str],
                 config_pairs: Sequence[str]) -> Secrets:
    from whdebug.model.request import Secrets

    credentials: dict[str, Any] = {}
    if credentials_file is not None:
        credentials.update(read_credentials(credentials_file))
    credentials.update(parse_pairs("--credential", credential_pairs))
    return Secrets(credentials=credentials, config=parse_pairs("--config", config_pairs))


def _secret_values(secrets: Secrets, definition: Definition) -> tuple[str, ...]:
    """Every secret string known to this run, longest first, for the last-line redaction."""
    values = set(secrets.values())
    sensitive = set(definition.sensitive_keys)
    values.update(value for key, value in definition.auth_config.items()
                  if key in sensitive and isinstance(value, str))
    return tuple(sorted((v for v in values if len(v) >= _MIN_SECRET_LENGTH), key=len,
                        reverse=True))


def _scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    """`value` (a report or any part of it) with every secret string replaced by MASK."""
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {field.name: _scrub(getattr(value, field.name), secrets)
                   for field in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    if isinstance(value, tuple):
        return tuple(_scrub(item, secrets) for item in value)
    if isinstance(value, list):
        return [_scrub(item, secrets) for item in value]
    if isinstance(value, dict):
        return {key: _scrub(item, secrets) for key, item in value.items()}
    return value


def _report_line(report: Report, secrets: tuple[str, ...]) -> tuple[Report, str]:
    """The report (redacted if a secret slipped into it) and its one-line JSON form."""
    line = json.dumps(report.to_json(), separators=(",", ":"))
    if any(json.dumps(secret)[1:-1] in line for secret in secrets):
        report = _scrub(report, secrets)
        line = json.dumps(report.to_json(), separators=(",", ":"))
    return report, line


def _stdout_console() -> Console:
    from rich.console import Console

    stream = sys.stdout
    encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("-", "")
    if encoding != "utf8" and hasattr(stream, "reconfigure"):
        # An ASCII or legacy terminal gets '?' for a symbol rather than a crash.
        stream.reconfigure(errors="replace")
    return Console(highlight=False)


class _Tally:
    """The closing summary, built from batches so a long replay does not keep every report."""

    def __init__(self, trigger_events: list[str]) -> None:
        self.trigger_events = trigger_events
        self.batch: list[Report] = []
        self.summaries: list[dict[str, Any]] = []
        self.all_ok = True

    def add(self, report: Report) -> None:
        self.all_ok = self.all_ok and report.ok
        self.batch.append(report)
        if len(self.batch) >= _SUMMARY_BATCH:
            self._flush()

    def _flush(self) -> None:
        from whdebug.engine.report import summarize

        if self.batch or not self.summaries:
            self.summaries.append(summarize(self.batch, self.trigger_events))
        self.batch = []

    def summary(self) -> dict[str, Any]:
        self._flush()
        merged = dict(self.summaries[0])
        outcomes: dict[str, int] = {}
        never = set(merged["triggers_never_fired"])
        requests = 0
        for part in self.summaries:
            requests += part["requests"]
            for status, count in part["outcomes"].items():
                outcomes[status] = outcomes.get(status, 0) + count
            never &= set(part["triggers_never_fired"])
        merged["requests"] = requests
        merged["outcomes"] = outcomes
        merged["triggers_never_fired"] = [event for event in merged["triggers_never_fired"]
                                          if event in never]
        return merged


# --- replay -------------------------------------------------------------------------------


def _capture_ids(store: Store, ids: Sequence[int], all_captures: bool,
                 last: int | None) -> list[int]:
    from whdebug.errors import StoreError

    existing = store.ids()
    chosen: set[int] = set()
    if all_captures:
        chosen.update(existing)
    elif last is not None:
        chosen.update(existing[-last:])
    known = set(existing)
    for capture_id in ids:
        if capture_id not in known:
            raise StoreError(f"no capture #{capture_id}", str(store.path))
        chosen.add(capture_id)
    return sorted(chosen)


def _earlier_captures(store: Store, chosen: Sequence[int], window: int | None) -> list[int]:
    """Captures not replayed that the runtime would have seen before the replayed ones.

    Every capture older than the first chosen one (only the newest `window` of them with
    --dedupe-window) and those between chosen ones; their accepted transaction ids seed
    the dedupe index, so a redelivery reports TX_DUPLICATE against the original capture.
    """
    if not chosen:
        return []
    first, last, picked = chosen[0], chosen[-1], set(chosen)
    existing = store.ids()
    before = [capture_id for capture_id in existing if capture_id < first]
    if window is not None:
        before = before[len(before) - window:] if window else []
    return before + [capture_id for capture_id in existing
                     if first < capture_id < last and capture_id not in picked]


def _read_files(files: Sequence[str]) -> list[CapturedRequest]:
    from whdebug.formats.http import read_request_file

    requests: list[CapturedRequest] = []
    for file in files:
        requests.extend(read_request_file(file))
    return requests


@main.command(short_help="Analyse captures or request files; print a report for each.")
@click.argument("capture_ids", metavar="[ID]...", nargs=-1, type=click.IntRange(min=1))
@click.option("--file", "files", metavar="F", multiple=True,
              help="A .http, .har or .json request file (repeatable).")
@click.option("--definition", "definition_path", metavar="FILE",
              help="The MiniApp definition (.json, JSON5 or a JS object literal).")
@click.option("--profile", "profile_name", metavar="NAME",
              help="A built-in profile instead of --definition: karzoun-tenant "
                   "(--credential secret=... [--credential token=...]).")
@_analysis_options
@click.option("--all", "all_captures", is_flag=True, help="Every capture in the store.")
@click.option("--last", type=click.IntRange(min=1), metavar="N",
              help="The newest N captures in the store.")
@click.option("--store", "store_path", metavar="PATH",
              help="Capture store (default: $WHDEBUG_STORE or .whdebug/captures.db).")
@click.option("--dedupe-window", type=click.IntRange(min=0), metavar="N",
              help="Remember only the last N transaction ids (default: all).")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON report per line, then one summary line.")
@click.option("-v", "--verbose", is_flag=True,
              help="Also show signature attempts, event parts and suggestions.")
@click.pass_context
def replay(ctx: click.Context, capture_ids: tuple[int, ...], files: tuple[str, ...],
           definition_path: str | None, profile_name: str | None,
           credentials_file: str | None,
           credential_pairs: tuple[str, ...], config_pairs: tuple[str, ...],
           missing_part: str, nullish: bool, now_text: str | None, all_captures: bool,
           last: int | None, store_path: str | None, dedupe_window: int | None,
           as_json: bool, verbose: bool) -> None:
    """Analyse captures (by ID, --all, --last) or request files, and print a report each.

    Exit status 0 when every request would be accepted and fire a trigger (or is a
    correctly answered challenge), 1 otherwise, 2 on bad input.
    """
    uses_store = bool(capture_ids) or all_captures or last is not None
    if not files and not uses_store:
        raise click.UsageError("nothing to replay: give --file F, capture IDs, --all or "
                               "--last N", ctx)
    if (definition_path is None) == (profile_name is None):
        raise click.UsageError("give --definition FILE or --profile NAME (one of them)", ctx)
    from whdebug.engine import AnalysisOptions, DedupeIndex, analyze
    from whdebug.model.definition import load_definition

    now = parse_now(now_text)
    secrets = load_secrets(credentials_file, credential_pairs, config_pairs)
    profile = None
    if profile_name is not None:
        from whdebug.tools.profiles import get_profile

        profile = get_profile(profile_name)
        definition = profile.definition
    else:
        assert definition_path is not None
        definition = load_definition(definition_path)
    file_requests = _read_files(files)
    store: Store | None = None
    ids: list[int] = []
    earlier: list[int] = []
    if uses_store:
        from whdebug.store.store import Store, default_store_path

        store = Store.open(store_path or default_store_path(), create=False)
        ctx.call_on_close(store.close)
        ids = _capture_ids(store, capture_ids, all_captures, last)
        earlier = _earlier_captures(store, ids, dedupe_window)

    options = AnalysisOptions(missing_part=missing_part, nullish=nullish)
    dedupe = DedupeIndex(window=dedupe_window)

    def run(request: CapturedRequest, options: AnalysisOptions) -> Report:
        """Analyse one request; an accepted transaction id is recorded in `dedupe`."""
        if profile is not None:
            from whdebug.tools.profiles import analyze_profile

            try:
                return analyze_profile(request, profile, secrets, now=now, options=options,
                                       dedupe=dedupe)
            finally:
                dedupe.advance()
        try:
            return analyze(request, definition, secrets, now=now, options=options,
                           dedupe=dedupe)
        finally:
            dedupe.advance()

    def requests() -> Iterator[CapturedRequest]:
        """The chosen captures, oldest first, then the files; earlier captures only seed."""
        seeding = dataclasses.replace(options, diagnose=False)
        chosen = set(ids)
        for capture_id in sorted(chosen.union(earlier)):
            assert store is not None
            request = store.get(capture_id)
            if capture_id in chosen:
                yield request
            else:
                run(request, seeding)
        yield from file_requests

    secret_values = _secret_values(secrets, definition)
    tally = _Tally(definition.trigger_events)
    console = None if as_json else _stdout_console()
    for request in requests():
        report = run(request, options)
        report, line = _report_line(report, secret_values)
        tally.add(report)
        if console is None:
            click.echo(line)
        else:
            from whdebug.cli.output.report import render_report

            render_report(console, report, verbose=verbose)
            console.print()
    summary = tally.summary()
    if console is None:
        click.echo(json.dumps(summary, separators=(",", ":")))
    else:
        from whdebug.cli.output.report import render_summary

        if not summary["requests"]:
            console.print("no captures to replay")
        if profile is None:
            render_summary(console, summary, definition)
        else:
            from whdebug.cli.output.report import format_outcomes

            count = summary["requests"]
            console.print(f"summary ({profile.name}): {count} request"
                          f"{'' if count == 1 else 's'} — "
                          f"{format_outcomes(summary['outcomes'])}", highlight=False)
    ctx.exit(0 if tally.all_ok else 1)


# --- check --------------------------------------------------------------------------------


def _check_json(findings: Sequence[Finding], definition: Definition | None,
                path: str) -> str:
    document = {
        "schema": "whdebug.check/1",
        "definition": {
            "ns": definition.ns if definition else None,
            "version": definition.version if definition else None,
            "path": path,
        },
        "findings": [item.to_json() for item in findings],
        "ok": not any(item.severity == "error" for item in findings),
    }
    return json.dumps(document, separators=(",", ":"))


@main.command()
@click.argument("definition_path", metavar="DEFINITION")
@click.option("--submission", is_flag=True,
              help="Judge it as a draft submitted to Karzoun (no filled-in secrets, ...).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object with every finding.")
@click.option("--samples", "samples_dir", metavar="DIR",
              help="Also replay every sample in DIR (.http, .har, .json exports, or bare JSON "
                   "payloads signed on the fly) and print a readiness table (implies "
                   "--submission).")
@click.option("--credentials", "credentials_file", metavar="FILE",
              help="With --samples: JSON object file, the install's credentials.")
@click.option("--credential", "credential_pairs", metavar="KEY=VALUE", multiple=True,
              help="With --samples: one credential (repeatable).")
@click.option("--config", "config_pairs", metavar="KEY=VALUE", multiple=True,
              help="With --samples: override a global auth.config value (repeatable).")
@click.option("--now", "now_text", metavar="ISO8601",
              help="With --samples: the time to sign and judge timestamps at (default: now).")
@click.pass_context
def check(ctx: click.Context, definition_path: str, submission: bool, as_json: bool,
          samples_dir: str | None = None, credentials_file: str | None = None,
          credential_pairs: tuple[str, ...] = (), config_pairs: tuple[str, ...] = (),
          now_text: str | None = None) -> None:
    """Lint a definition: schema, naming, security and cross-references.

    With --samples DIR, also replay every sample and report readiness for review: the
    triggers each sample fires, triggers and sync handlers no sample reaches, and whether
    every sample verifies (--json: schema whdebug.readiness/1).

    Exit status 0 without error-level findings (with --samples: nothing blocks review), 1
    with, 2 when it cannot be read or parsed (the DEF_PARSE finding is printed, and the
    error on stderr).
    """
    secrets_given = credentials_file is not None or credential_pairs or config_pairs
    if samples_dir is None and (secrets_given or now_text is not None):
        raise click.UsageError("--credentials, --credential, --config and --now need "
                               "--samples DIR", ctx)
    from whdebug.cli.output.report import render_check
    from whdebug.engine.lint.definition import check_definition, parse_finding
    from whdebug.errors import DefinitionError
    from whdebug.model.definition import load_definition

    definition: Definition | None
    try:
        definition = load_definition(definition_path)
    except DefinitionError as error:
        findings = [parse_finding(error)]
        definition = None
        failure: DefinitionError | None = error
    else:
        if samples_dir is not None:
            secrets = load_secrets(credentials_file, credential_pairs, config_pairs)
            _check_samples(ctx, definition, definition_path, samples_dir, secrets,
                           parse_now(now_text), as_json)
            return
        findings = check_definition(definition, submission=submission)
        failure = None
    if as_json:
        click.echo(_check_json(findings, definition, definition_path))
    else:
        render_check(_stdout_console(), findings, definition, path=definition_path)
    if failure is not None:
        raise failure
    ctx.exit(1 if any(item.severity == "error" for item in findings) else 0)


# --- demo ---------------------------------------------------------------------------------


def _demo_root() -> Any:
    """The bundled demo data (an importlib.resources Traversable)."""
    from importlib import resources

    return resources.files("whdebug") / "demo"


def _demo_scenarios(root: Any) -> list[dict[str, Any]]:
    manifest = root / "manifest.json"
    if not manifest.is_file():
        raise WhdebugError("the bundled demo data is missing", "whdebug/demo/manifest.json")
    try:
        data = json.loads(manifest.read_text("utf-8"))
    except (ValueError, OSError) as error:
        raise WhdebugError(f"the demo manifest cannot be read: {error}",
                           "whdebug/demo/manifest.json") from None
    scenarios = data.get("scenarios") if isinstance(data, dict) else data
    if not isinstance(scenarios, list) or not all(
            isinstance(item, dict) and isinstance(item.get("definition"), str)
            and isinstance(item.get("files", []), list) for item in scenarios):
        raise WhdebugError("the demo manifest is not a list of scenarios",
                           "whdebug/demo/manifest.json")
    return scenarios


def _demo_requests(root: Any, files: list[str]) -> list[CapturedRequest]:
    from importlib import resources

    from whdebug.formats.http import read_request_file

    requests: list[CapturedRequest] = []
    for name in files:
        with resources.as_file(root / name) as path:
            for request in read_request_file(path):
                requests.append(dataclasses.replace(request, file=name))
    return requests


@main.command(short_help="The TUI on bundled example webhooks.")
@click.option("-v", "--verbose", is_flag=True,
              help="Without a terminal: show every detail of each report.")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True,
              help="Port of the demo's receiver.")
@click.option("--listen/--no-listen", default=True, show_default=True,
              help="Run the demo's receiver.")
@click.pass_context
def demo(ctx: click.Context, verbose: bool, port: int, listen: bool) -> None:
    """Open the TUI on the bundled example webhooks (text replay without a terminal)."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        from whdebug.tui import run_demo

        ctx.exit(run_demo(_tui_options({"port": port, "listen": listen})))
    from rich.text import Text

    from whdebug.cli.output.report import format_outcomes, render_report, render_summary
    from whdebug.engine import DedupeIndex, analyze
    from whdebug.model.definition import parse_definition
    from whdebug.model.request import Secrets

    root = _demo_root()
    scenarios = [item for item in _demo_scenarios(root) if item.get("demo", True) is not False]
    console = _stdout_console()
    totals: dict[str, int] = {}
    count = 0
    for number, scenario in enumerate(scenarios, 1):
        definition_name = scenario["definition"]
        definition = parse_definition((root / definition_name).read_text("utf-8"),
                                      definition_name)
        requests = _demo_requests(root, scenario.get("files", []))
        secrets = Secrets(credentials=dict(scenario.get("credentials") or {}),
                          config=dict(scenario.get("config") or {}))
        now = parse_now(scenario.get("now"))
        title = f"── demo {number}/{len(scenarios)}: {scenario.get('name') or definition_name}"
        if scenario.get("description"):
            title += f" — {scenario['description']}"
        console.print(Text(title, style="bold"))
        secret_values = _secret_values(secrets, definition)
        dedupe = DedupeIndex()
        tally = _Tally(definition.trigger_events)
        for request in requests:
            report = analyze(request, definition, secrets, now=now, dedupe=dedupe)
            report, _ = _report_line(report, secret_values)
            tally.add(report)
            render_report(console, report, verbose=verbose)
            console.print()
        summary = tally.summary()
        render_summary(console, summary, definition)
        console.print()
        count += summary["requests"]
        for status, n in summary["outcomes"].items():
            totals[status] = totals.get(status, 0) + n
    # One line even when longer than the terminal, so scripts can read the count.
    console.print(Text(f"demo: {count} requests in {len(scenarios)} scenarios — "
                       f"{format_outcomes(totals)}", style="bold"), soft_wrap=True)
    ctx.exit(0)


# --- TUI entry points ---------------------------------------------------------------------


def _tui_options(options: dict[str, Any]) -> Any:
    """TuiOptions from the tui/demo flags; the credentials file is passed on to be watched."""
    from pathlib import Path

    from whdebug.tui import TuiOptions

    now_text = options.get("now_text")
    store_path = options.get("store_path")
    definition_path = options.get("definition_path")
    profile_name = options.get("profile_name")
    if profile_name is not None:
        from whdebug.tools.profiles import get_profile

        get_profile(profile_name)  # an unknown name is an error before the TUI starts
    credentials_file = options.get("credentials_file")
    if credentials_file and not Path(credentials_file).is_file():
        raise WhdebugError("credentials file not found", credentials_file)
    return TuiOptions(
        store_path=Path(store_path) if store_path else None,
        definition_path=Path(definition_path) if definition_path else None,
        profile=profile_name,
        credentials_path=Path(credentials_file) if credentials_file else None,
        credentials=parse_pairs("--credential", options.get("credential_pairs") or ()),
        config=parse_pairs("--config", options.get("config_pairs") or ()),
        listen=options.get("listen", True),
        port=options.get("port", 8787),
        missing_part=options.get("missing_part", "empty"),
        nullish=bool(options.get("nullish")),
        now=parse_now(now_text) if now_text else None,
    )


def _start_tui(ctx: click.Context, **options: Any) -> None:
    """Start the TUI when there is a terminal; without one, say what to use instead.

    The options are checked first, so a bad one is reported even without a terminal.
    """
    tui_options = _tui_options(options)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise WhdebugError(f"the TUI needs a terminal; {_NO_TUI_HINT}")
    from whdebug.tui import run_tui

    ctx.exit(run_tui(tui_options))


@main.command()
@click.option("--listen/--no-listen", default=True, show_default=True,
              help="Run the embedded receiver.")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True)
@click.option("--definition", "definition_path", metavar="FILE")
@click.option("--profile", "profile_name", metavar="NAME",
              help="A built-in profile instead of --definition: karzoun-tenant "
                   "(--credential secret=... [--credential token=...]).")
@_analysis_options
@click.option("--store", "store_path", metavar="PATH")
@click.pass_context
def tui(ctx: click.Context, /, **options: Any) -> None:
    """The TUI: live capture list, pipeline, signature lab, event lab."""
    if options.get("definition_path") and options.get("profile_name") is not None:
        raise click.UsageError("give --definition FILE or --profile NAME, not both", ctx)
    _start_tui(ctx, **options)


# --- submission: sign, check --samples, redact ----------------------------------------------

_SIGN_SCHEMES = ("github", "shopify", "woocommerce", "salla", "slack", "stripe",
                 "standard-webhooks", "karzoun")
"""`whdebug.tools.signing.SCHEMES`, repeated so `--help` does not import the engine."""


def _parse_headers(pairs: Sequence[str]) -> list[tuple[str, str]]:
    """`--header NAME:VALUE` arguments; the value is never echoed (it may be a token)."""
    headers: list[tuple[str, str]] = []
    for number, pair in enumerate(pairs, 1):
        name, separator, value = pair.partition(":")
        if not separator or not name.strip() or any(c.isspace() for c in name.strip()):
            raise WhdebugError(f"--header: expected NAME:VALUE (argument {number})")
        headers.append((name.strip(), value.strip()))
    return headers


def _read_payload(path: str) -> bytes:
    """The payload's exact bytes; `-` reads standard input."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise WhdebugError("payload file not found", path) from None
    except IsADirectoryError:
        raise WhdebugError("payload path is a directory", path) from None
    except OSError as error:
        raise WhdebugError(f"cannot read payload: {error.strerror}", path) from None


def _send(url: str, request: CapturedRequest) -> int:
    """POST the exact body and headers to `url`; print the answer; 0 for a 2xx status."""
    from urllib.parse import urlsplit, urlunsplit

    import httpx

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise WhdebugError(f"--send: expected an http:// or https:// URL, got {url!r}")
    path = parts.path if parts.path not in ("", "/") else request.path
    query = "&".join(item for item in (parts.query, request.query) if item)
    target = urlunsplit((parts.scheme, parts.netloc, path, query, ""))
    headers = [(name, value) for name, value in request.headers
               if name.lower() not in ("content-length", "host")]
    try:
        response = httpx.post(target, content=request.body, headers=headers, timeout=10.0)
    except httpx.HTTPError as error:
        raise WhdebugError(f"cannot send to {target}: {error}") from None
    click.echo(f"HTTP {response.status_code} {response.reason_phrase}".rstrip())
    if response.content:
        click.echo(response.text)
    return 0 if 200 <= response.status_code < 300 else 1


@main.command(short_help="Build a correctly signed .http request from a definition.")
@click.argument("payload_path", metavar="PAYLOAD")
@click.option("--definition", "definition_path", metavar="FILE",
              help="The MiniApp definition whose verification and event extraction to use.")
@click.option("--profile", "profile_name", metavar="NAME",
              help="A built-in profile instead of --definition: karzoun-tenant "
                   "(--credential secret=... [--credential token=...]).")
@_analysis_options
@click.option("--event", metavar="EVENT",
              help="Put EVENT where eventExtraction reads it (a header or query part; a body "
                   "path must already hold it in PAYLOAD).")
@click.option("--header", "header_pairs", metavar="NAME:VALUE", multiple=True,
              help="Add or replace a header (repeatable).")
@click.option("--scheme", type=click.Choice(_SIGN_SCHEMES),
              help="Sign as this provider really does, instead of per the definition.")
@click.option("-o", "--output", "output_path", metavar="FILE",
              help="Write the .http request to FILE (default: standard output).")
@click.option("--send", "send_url", metavar="URL",
              help="POST the request to URL and print the status and body.")
@click.pass_context
def sign(ctx: click.Context, payload_path: str, definition_path: str | None,
         profile_name: str | None, credentials_file: str | None,
         credential_pairs: tuple[str, ...], config_pairs: tuple[str, ...], missing_part: str,
         nullish: bool, now_text: str | None, event: str | None,
         header_pairs: tuple[str, ...], scheme: str | None, output_path: str | None,
         send_url: str | None) -> None:
    """Build the request a provider would send with PAYLOAD as its exact body.

    The signature follows the definition's webhook.verification (or --scheme), with the
    secret resolved as the runtime does (credentials, then auth.config). PAYLOAD is a file
    or - for standard input. Writes the .http request to standard output unless -o or
    --send is given; notes go to standard error.
    """
    if (definition_path is None) == (profile_name is None):
        raise click.UsageError("give --definition FILE or --profile NAME (one of them)", ctx)
    if output_path is not None and send_url is not None:
        raise click.UsageError("give -o FILE or --send URL, not both", ctx)
    from whdebug.formats.http import format_http
    from whdebug.model.definition import load_definition
    from whdebug.tools.signing import sign_request

    now = parse_now(now_text)
    secrets = load_secrets(credentials_file, credential_pairs, config_pairs)
    headers = _parse_headers(header_pairs)
    if profile_name is not None:
        from whdebug.tools.profiles import get_profile

        profile = get_profile(profile_name)
        definition = profile.definition
        scheme = scheme or profile.scheme
    else:
        assert definition_path is not None
        definition = load_definition(definition_path)
    payload = _read_payload(payload_path)
    signed = sign_request(payload, definition, secrets, now=now, event=event, scheme=scheme,
                          headers=headers, nullish=nullish, missing_part=missing_part)
    if signed.signature_headers:
        how = ("per the definition's verification" if signed.scheme == "definition"
               else f"as {signed.scheme} signs")
        click.echo(f"sign: {', '.join(signed.signature_headers)} {how}, secret from "
                   f"{signed.secret_source}.{signed.secret_key} ({signed.secret_hint})",
                   err=True)
    click.echo(f"sign: event {signed.event!r}" if signed.event is not None
               else "sign: the runtime extracts no event from this request", err=True)
    for notice in signed.notices:
        click.echo(f"note: {_one_line(notice)}", err=True)
    data = format_http(signed.request)
    if send_url is not None:
        ctx.exit(_send(send_url, signed.request))
    if output_path is not None:
        try:
            Path(output_path).write_bytes(data)
        except OSError as error:
            raise WhdebugError(f"cannot write: {error.strerror}", output_path) from None
        click.echo(f"sign: wrote {output_path} ({len(data)} bytes)", err=True)
    else:
        stdout = sys.stdout.buffer
        stdout.write(data)
        stdout.flush()


def _check_samples(ctx: click.Context, definition: Definition, path: str, samples_dir: str,
                   secrets: Secrets, now: datetime, as_json: bool) -> None:
    """`check --samples`: the readiness table (or JSON); exit 1 when anything blocks review."""
    from whdebug.engine.lint.definition import check_definition
    from whdebug.tools.readiness import assess, load_samples

    lint = check_definition(definition, submission=True)
    samples = load_samples(samples_dir, definition, secrets, now=now)
    readiness = assess(definition, samples, secrets, now=now, lint=lint, path=path,
                       samples_dir=samples_dir)
    if as_json:
        document = _scrub(readiness.to_json(), _secret_values(secrets, definition))
        click.echo(json.dumps(document, separators=(",", ":")))
    else:
        from whdebug.cli.output.readiness import render_readiness

        render_readiness(_stdout_console(), readiness)
    ctx.exit(0 if readiness.ready else 1)


def _read_text_exactly(path: str) -> str:
    """A definition's text with its line endings and BOM kept (no newline translation)."""
    data = read_input(path, "definition")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise WhdebugError("definition file is not UTF-8 text", path) from None


@main.command(short_help="Blank every sensitive value of a definition (for support requests).")
@click.argument("definition_path", metavar="DEFINITION")
@click.option("-o", "--output", "output_path", metavar="FILE",
              help="Write the redacted definition to FILE (default: standard output).")
def redact(definition_path: str, output_path: str | None) -> None:
    """Blank every auth.config value that is a secret: keys in auth.sensitiveKeys and keys
    with secret, token, password or key in their name.

    Only those values change; comments, order and layout stay as written. What was blanked
    is listed on standard error, never the values.
    """
    from whdebug.tools.redact import redact_text

    redaction = redact_text(_read_text_exactly(definition_path), definition_path)
    data = redaction.text.encode("utf-8")
    if output_path is not None:
        try:
            Path(output_path).write_bytes(data)
        except OSError as error:
            raise WhdebugError(f"cannot write: {error.strerror}", output_path) from None
    else:
        stdout = sys.stdout.buffer
        stdout.write(data)
        stdout.flush()
    for blanked in redaction.blanked:
        click.echo(f"redact: blanked {blanked.describe()}", err=True)
    if not redaction.blanked:
        click.echo("redact: nothing to blank (auth.config holds no secret values)", err=True)
    elif output_path is not None:
        click.echo(f"redact: wrote {output_path}", err=True)


# --- troubleshooting: urls, source, sync, bundle --------------------------------------------


@main.command(short_help="Print the OAuth redirect URI and webhook URL to register.")
@click.argument("definition_path", metavar="DEFINITION")
@click.option("--api-url", required=True, metavar="URL",
              help="Karzoun's SAAS_API_URL (the API origin, e.g. https://api.example.com).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object (whdebug.urls/1).")
@click.pass_context
def urls(ctx: click.Context, definition_path: str, api_url: str, as_json: bool) -> None:
    """Print what to register with the provider: the OAuth redirect URI
    {SAAS_API_URL}/miniapps/{ns}/oauth2 and the webhook URL {SAAS_API_URL}/miniapps/{ns}/webhooks.

    Checks the ns (lowercase kebab-case) and flags a trailing slash or a path already in
    --api-url. Exit status 0 when both are clean, 1 when something is flagged, 2 on bad input.
    """
    from whdebug.model.definition import load_definition
    from whdebug.tools.endpoints import build_endpoints

    endpoints = build_endpoints(load_definition(definition_path), api_url)
    if as_json:
        click.echo(json.dumps(endpoints.to_json(), separators=(",", ":")))
    else:
        from whdebug.cli.output.views import render_urls

        render_urls(_stdout_console(), endpoints)
    ctx.exit(0 if endpoints.ok else 1)


def _read_response(path: str) -> Any:
    """A saved JSON response; errors never quote its content (it may hold tokens)."""
    data = read_input(path, "response")
    try:
        return json.loads(data)
    except json.JSONDecodeError as error:
        raise WhdebugError(f"{path}:{error.lineno}:{error.colno}: the response is not JSON "
                           f"({error.msg}); save the provider's raw JSON body") from None
    except UnicodeDecodeError:
        raise WhdebugError("the response file is not UTF-8 JSON", path) from None


@main.command(short_help="Test an RPC source: its dropdown options, offline or live.")
@click.argument("definition_path", metavar="DEFINITION")
@click.argument("source_key", metavar="RPC_KEY")
@click.option("--response", "response_path", metavar="FILE",
              help="A saved JSON response of the source (offline).")
@click.option("--call", "call", is_flag=True, help="Send the source's request to the provider.")
@click.option("--credentials", "credentials_file", metavar="FILE",
              help="JSON object file: the install's credentials (and metadata) for [[key]].")
@click.option("--credential", "credential_pairs", metavar="KEY=VALUE", multiple=True,
              help="One [[key]] value (repeatable); wins over --credentials.")
@click.option("--config", "config_pairs", metavar="KEY=VALUE", multiple=True,
              help="Override an auth.config value for {{key}} (repeatable).")
@click.option("--param", "param_pairs", metavar="KEY=VALUE", multiple=True,
              help="A form field or system value for {{key}} (repeatable).")
@click.option("--timeout", type=click.FloatRange(0.1, 120), default=10.0, show_default=True,
              help="Seconds to wait for the provider.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object (whdebug.source/1).")
@click.option("-v", "--verbose", is_flag=True, help="List every option.")
@click.pass_context
def source(ctx: click.Context, definition_path: str, source_key: str,
           response_path: str | None, call: bool, credentials_file: str | None,
           credential_pairs: tuple[str, ...], config_pairs: tuple[str, ...],
           param_pairs: tuple[str, ...], timeout: float, as_json: bool, verbose: bool) -> None:
    """Show the options an RPC source's dropdown gets, or exactly why it is empty.

    --response FILE applies dataPath, valueField and labelField to a saved response.
    --call resolves [[key]] and {{key}} in the URL, headers and query, sends the request
    (no redirect to another host) and reads the answer; secrets are masked in all output.
    Exit status 0 when there are options and no error, 1 otherwise, 2 on bad input.
    """
    if (response_path is None) == (not call):
        raise click.UsageError("give exactly one of --response FILE or --call", ctx)
    from whdebug.model.definition import load_definition
    from whdebug.tools.sources import SOURCE_SCHEMA, extract_options, find_source

    definition = load_definition(definition_path)
    pointer, spec = find_source(definition, source_key)
    document: dict[str, Any] = {"schema": SOURCE_SCHEMA, "source": source_key,
                                "pointer": pointer}
    if response_path is not None:
        options = extract_options(spec, _read_response(response_path), pointer=pointer)
        ok = options.ok
        document.update(mode="response", options=options.to_json(), ok=ok)
        if not as_json:
            from whdebug.cli.output.views import render_options

            render_options(_stdout_console(), source_key, options, verbose=verbose)
    else:
        from whdebug.tools.provider_client import call_source
        from whdebug.tools.sources import resolve_source_request

        if not isinstance(spec.get("url"), str) or not spec["url"].strip():
            raise WhdebugError(f'source "{source_key}" has no "url" to call', definition_path)
        secrets = load_secrets(credentials_file, credential_pairs, config_pairs)
        request = resolve_source_request(definition, spec, credentials=secrets.credentials,
                                         config=secrets.config,
                                         params=parse_pairs("--param", param_pairs))
        result = call_source(definition, spec, pointer, request, timeout=timeout)
        ok = (result.options is not None and result.options.ok
              and not any(f.severity == "error" for f in result.findings))
        document.update(mode="call", **result.to_json(),
                        findings=[f.to_json() for f in result.findings],
                        options=result.options.to_json() if result.options else None, ok=ok)
        if not as_json:
            from whdebug.cli.output.views import render_source_call

            render_source_call(_stdout_console(), source_key, result, verbose=verbose)
    if as_json:
        click.echo(json.dumps(document, separators=(",", ":")))
    ctx.exit(0 if ok else 1)


def _sample_requests(paths: Sequence[str], definition: Definition) -> list[CapturedRequest]:
    """Every sample in the given files and directories (.http, .har, .json), sorted by name."""
    from whdebug.tools.syncpreview import SAMPLE_SUFFIXES, parse_sample

    files: list[tuple[Path, str]] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file()
                           and not p.name.startswith(".")
                           and p.suffix.lower() in SAMPLE_SUFFIXES)
            if not found:
                raise WhdebugError("no .http, .har or .json samples in this directory", given)
            files.extend((p, p.name) for p in found)
        elif path.is_file():
            files.append((path, given))
        else:
            raise WhdebugError("sample file or directory not found", given)
    requests: list[CapturedRequest] = []
    for path, name in files:
        try:
            data = path.read_bytes()
        except OSError as error:
            raise WhdebugError(f"cannot read sample: {error.strerror}", name) from None
        found_requests = parse_sample(data, name, definition)
        if len(found_requests) > 1:
            found_requests = [dataclasses.replace(r, file=f"{name}#{n}")
                              for n, r in enumerate(found_requests, 1)]
        requests.extend(found_requests)
    return requests


@main.command(short_help="Preview the record each sync handler writes for sample payloads.")
@click.argument("definition_path", metavar="DEFINITION")
@click.option("--samples", "sample_paths", metavar="DIR|FILE", multiple=True, required=True,
              help="Sample payloads: .http, .har, .json capture exports or bare JSON "
                   "(a directory: every such file in it; repeatable).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object (whdebug.sync/1).")
@click.pass_context
def sync(ctx: click.Context, definition_path: str, sample_paths: tuple[str, ...],
         as_json: bool) -> None:
    """For each sample, pick the sync.webhooks.handlers entry for its event and show the
    record the runtime would write: each mapped field, its value and the transforms applied.

    Flags a recordType other than order/abandonedCart, an empty or unstable mapping.code,
    handlers without a trigger and a legacy-only webhook.ecommerce block. Exit status 0 when
    nothing is wrong, 1 otherwise, 2 on bad input.
    """
    from whdebug.model.definition import load_definition
    from whdebug.tools.syncpreview import preview_sync

    definition = load_definition(definition_path)
    preview = preview_sync(definition, _sample_requests(sample_paths, definition))
    if as_json:
        click.echo(json.dumps(preview.to_json(), separators=(",", ":")))
    else:
        from whdebug.cli.output.views import render_sync

        render_sync(_stdout_console(), preview)
    ctx.exit(0 if preview.ok else 1)


def _bundle_requests(ctx: click.Context, inputs: Sequence[str],
                     store_path: str | None) -> list[CapturedRequest]:
    """Capture ids (read from the store) and request files, in the order given."""
    from whdebug.formats.http import read_request_file

    store: Store | None = None
    requests: list[CapturedRequest] = []
    for item in inputs:
        if item.isdigit() and not Path(item).exists():
            if store is None:
                from whdebug.store.store import Store, default_store_path

                store = Store.open(store_path or default_store_path(), create=False)
                ctx.call_on_close(store.close)
            requests.append(store.get(int(item)))
        else:
            requests.extend(read_request_file(item))
    return requests


@main.command(short_help="Zip what a support request needs; refuses if a secret would leak.")
@click.argument("inputs", metavar="CAPTURE_OR_FILE...", nargs=-1, required=True)
@click.option("--definition", "definition_path", metavar="FILE", required=True,
              help="The MiniApp definition (it is redacted in the bundle).")
@click.option("-o", "--output", "output_path", metavar="ZIP", required=True,
              help="The zip file to write.")
@click.option("--store", "store_path", metavar="PATH",
              help="Capture store for capture ids (default: $WHDEBUG_STORE or "
                   ".whdebug/captures.db).")
@click.option("--credentials", "credentials_file", metavar="FILE",
              help="JSON object file: the install's credentials.")
@click.option("--credential", "credential_pairs", metavar="KEY=VALUE", multiple=True,
              help="One credential (repeatable).")
@click.option("--config", "config_pairs", metavar="KEY=VALUE", multiple=True,
              help="Override an auth.config value (repeatable).")
@click.option("--now", "now_text", metavar="ISO8601",
              help="The time to judge timestamps against (default: now, UTC).")
@click.pass_context
def bundle(ctx: click.Context, inputs: tuple[str, ...], definition_path: str,
           output_path: str, store_path: str | None, credentials_file: str | None,
           credential_pairs: tuple[str, ...], config_pairs: tuple[str, ...],
           now_text: str | None) -> None:
    """Build a support bundle: ns and version, the redacted definition, each sample request
    as .http with signature, token, cookie and authorization headers masked, whdebug's report
    and expected event for each, and SUMMARY.md ready to paste into an email.

    Every file is scanned for each secret value given (credentials, config, sensitive
    auth.config values) before anything is written; if one would leak, nothing is written
    and the command exits 2 naming the file.
    """
    from whdebug.cli.output.views import render_bundle
    from whdebug.model.definition import load_definition
    from whdebug.tools.bundle import build_bundle, write_zip

    output = Path(output_path)
    if output.is_dir():
        raise WhdebugError("-o must be a file, not a directory", output_path)
    now = parse_now(now_text)
    secrets = load_secrets(credentials_file, credential_pairs, config_pairs)
    definition = load_definition(definition_path)
    text = Path(definition_path).read_text(encoding="utf-8")
    result = build_bundle(definition, text, _bundle_requests(ctx, inputs, store_path), secrets,
                          now=now)
    leaks = result.secrets.find_leaks(result.files)
    if leaks:
        first = leaks[0]
        others = sorted({leak.file for leak in leaks} - {first.file})
        more = f"; also in {', '.join(others)}" if others else ""
        raise WhdebugError(
            f"refusing to write {output_path}: {first.file} (line {first.line}) would contain "
            f"the value of {first.secret}{more}; remove or replace it in that sample (the body "
            "is kept exactly), then run bundle again")
    write_zip(output, result.files, now)
    render_bundle(_stdout_console(), output_path, result.files, result.masked_headers,
                  result.blanked, len(result.secrets), result.unscanned)


# --- the capture store: serve, list, import, export, send -----------------------------------

_STORE_HELP = "Capture store (default: $WHDEBUG_STORE or .whdebug/captures.db)."
_LIST_DEFAULT = 100
"""Rows the human `list` shows without --last (--json lists every capture)."""
_LIST_BATCH = 1000
_PREVIEW_BYTES = 4096
"""Bytes of an answer's body `send` prints."""
_UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def _safe(text: str, limit: int = 200) -> str:
    """Request-controlled text for a terminal: control characters escaped, length bounded."""
    text = _UNSAFE_TEXT.sub(lambda match: f"\\x{ord(match.group()):02x}"
                            if ord(match.group()) < 0x100 else f"\\u{ord(match.group()):04x}",
                            text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _format_size(size: int) -> str:
    """Bytes in decimal units, as the receiver's console line shows them (`7.0 KB`)."""
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1000
        if value < 1000 or unit == "GB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def _open_store(store_path: str | None, *, create: bool = False) -> Store:
    """The store to read (never created unless `create`: a typo must not look empty)."""
    from whdebug.errors import StoreError
    from whdebug.store.store import Store, default_store_path

    path = Path(store_path) if store_path else default_store_path()
    if not create and not path.exists():
        raise StoreError("capture store not found; capture with `whdebug serve` or "
                         "`whdebug import FILE` first, or give --store PATH", str(path))
    return Store.open(path, create=create)


def _store_flag(store: Store) -> str:
    """` --store PATH` for a suggested command, or '' when PATH is the default."""
    import shlex

    from whdebug.store.store import default_store_path

    default = default_store_path().absolute()
    return "" if store.path.absolute() == default else f" --store {shlex.quote(str(store.path))}"


def _write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `data` to `path`; a new file gets `mode` (captures may hold signatures)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
    except OSError as error:
        raise WhdebugError(f"cannot write: {error.strerror}", str(path)) from None


@main.command(short_help="Run the receiver only: capture every request, one line each.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback exposes captures and secrets.")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True,
              help="Port to listen on (0: any free port, shown in the banner).")
@click.option("--store", "store_path", metavar="PATH", help=_STORE_HELP)
@click.option("--max-body", type=click.IntRange(min=0), default=26_214_400, show_default=True,
              metavar="BYTES", help="Larger bodies are answered 413 and stored truncated.")
@click.option("--forward-to", metavar="URL",
              help="Relay each capture's exact bytes to URL (your app) and record its answer.")
@click.option("--strict", is_flag=True,
              help="Answer 401 when the signature does not verify, as the runtime does.")
@click.option("--definition", "definition_path", metavar="FILE",
              help="The MiniApp definition: answers challenges, explains each capture.")
@_analysis_options
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, store_path: str | None, max_body: int,
          forward_to: str | None, strict: bool, definition_path: str | None,
          credentials_file: str | None, credential_pairs: tuple[str, ...],
          config_pairs: tuple[str, ...], missing_part: str, nullish: bool,
          now_text: str | None) -> None:
    """Receive webhooks on HOST:PORT and store every request's exact bytes.

    Prints one line per capture: time, method, path, size and the answer sent; with
    --definition also the event, the signature verdict and what the runtime would do.
    Stop with Ctrl-C, then explain a capture with `whdebug replay --last 1 --definition FILE`.
    """
    if strict and definition_path is None:
        raise click.UsageError("--strict needs --definition FILE (to verify signatures)", ctx)
    if forward_to is not None:
        from urllib.parse import urlsplit

        parts = urlsplit(forward_to)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise click.UsageError(f"--forward-to: expected an http:// or https:// URL, got "
                                   f"{forward_to!r}", ctx)
    from whdebug.engine import AnalysisOptions
    from whdebug.model.definition import load_definition
    from whdebug.receiver.app import ReceiverSettings
    from whdebug.receiver.server import ServerSettings
    from whdebug.receiver.server import serve as run_server
    from whdebug.store.store import default_store_path

    definition = load_definition(definition_path) if definition_path is not None else None
    settings = ReceiverSettings(
        definition=definition,
        secrets=load_secrets(credentials_file, credential_pairs, config_pairs),
        strict=strict,
        max_body=max_body,
        forward_to=forward_to,
        options=AnalysisOptions(missing_part=missing_part, nullish=nullish),
        analysis_now=parse_now(now_text) if now_text else None,
    )
    path = Path(store_path) if store_path else default_store_path()
    run_server(path, settings, ServerSettings(host=host, port=port))
    import shlex

    store = "" if store_path is None else f" --store {shlex.quote(store_path)}"
    if definition_path is not None:
        secret_flags = " (plus your --credential flags)" if (
            credentials_file or credential_pairs or config_pairs) else ""
        click.echo(f"receiver stopped. Explain the newest capture: whdebug replay --last 1 "
                   f"--definition {shlex.quote(definition_path)}{store}{secret_flags}",
                   err=True)
    else:
        click.echo(f"receiver stopped. See the captures: whdebug list{store}", err=True)


def _summary_json(summary: CaptureSummary) -> dict[str, Any]:
    from whdebug.formats.capture_json import format_timestamp

    return {
        "id": summary.id,
        "received_at": format_timestamp(summary.received_at),
        "client": summary.client,
        "method": summary.method,
        "path": summary.path,
        "query": summary.query,
        "body_size": summary.body_size,
        "truncated": summary.truncated,
        "response_status": summary.response_status,
        "content_type": summary.content_type,
        "user_agent": summary.user_agent,
    }


def _status_cell(status: int | None) -> tuple[str, str]:
    if status is None:
        return "—", "dim"
    return str(status), "green" if status < 400 else "red"


@main.command(name="list", short_help="List captures, newest first.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per capture per line (every capture unless --last).")
@click.option("--last", type=click.IntRange(min=1), metavar="N",
              help=f"Only the newest N captures (default: {_LIST_DEFAULT} in the table, all "
                   "with --json).")
@click.option("--store", "store_path", metavar="PATH", help=_STORE_HELP)
@click.pass_context
def list_captures(ctx: click.Context, as_json: bool, last: int | None,
                  store_path: str | None) -> None:
    """List captures, newest first: id, time (local), method, target, size, the answer
    sent, content type and sender (user agent)."""
    store = _open_store(store_path)
    ctx.call_on_close(store.close)
    if as_json:
        remaining = last
        before: int | None = None
        while remaining is None or remaining > 0:
            batch = _LIST_BATCH if remaining is None else min(remaining, _LIST_BATCH)
            page = store.page(before_id=before, limit=batch)
            if not page:
                break
            click.echo("\n".join(json.dumps(_summary_json(row), separators=(",", ":"))
                                 for row in page))
            before = page[-1].id
            if remaining is not None:
                remaining -= len(page)
        return
    from rich import box
    from rich.table import Table
    from rich.text import Text

    console = _stdout_console()
    total = store.count()
    if not total:
        console.print(Text(f"no captures yet in {store.path}. Point a provider (or curl "
                           "--data-binary @payload.json) at `whdebug serve`, or `whdebug "
                           "import FILE`."))
        return
    rows = store.page(limit=last or _LIST_DEFAULT)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("#", justify="right", style="bold", no_wrap=True)
    table.add_column("received", no_wrap=True, style="dim")
    table.add_column("method", no_wrap=True, min_width=6)
    table.add_column("target", overflow="fold", ratio=1)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("status", justify="right", no_wrap=True)
    # The target matters most: the other text columns appear only when there is room.
    extra = [(title, width) for title, width in (("content type", 100), ("sender", 125))
             if console.width >= width]
    for title, _ in extra:
        table.add_column(title, overflow="ellipsis", no_wrap=True, max_width=28)
    for row in rows:
        size = Text(_format_size(row.body_size))
        if row.truncated:
            size.append(" truncated", style="bold yellow")
        status, style = _status_cell(row.response_status)
        cells = [
            Text(str(row.id)),
            Text(row.received_at.astimezone().strftime("%m-%d %H:%M:%S")),
            Text(_safe(row.method, 16)),
            Text(_safe(row.target)),
            size,
            Text(status, style=style),
        ]
        values = {"content type": row.content_type, "sender": row.user_agent}
        cells.extend(Text(_safe(values[title] or "—", 60)) for title, _ in extra)
        table.add_row(*cells)
    console.print(table)
    shown = len(rows)
    note = f"{_plural(total, 'capture')} in {store.path} (times are local)"
    if shown < total:
        note += f"; newest {shown:,} shown (--last N for more)"
    console.print(Text(note, style="dim"))
    console.print(Text(f"explain one: whdebug replay ID --definition FILE{_store_flag(store)}",
                       style="dim"))


@main.command(name="import", short_help="Store .http, .har and .json request files as captures.")
@click.argument("files", metavar="FILE...", nargs=-1, required=True)
@click.option("--store", "store_path", metavar="PATH", help=_STORE_HELP)
@click.pass_context
def import_files(ctx: click.Context, files: tuple[str, ...], store_path: str | None) -> None:
    """Store every request in FILE... (.http, .har, or a `whdebug export --format json`
    file) as a new capture, exactly as written; prints the new ids.

    All files are read first and stored in one transaction: if any cannot be read,
    nothing is imported. The store is created if it does not exist.
    """
    requests: list[tuple[str, CapturedRequest]] = []
    for file in files:
        requests.extend((file, request) for request in _read_files([file]))
    if not requests:
        raise WhdebugError("nothing to import: the files hold no requests")
    store = _open_store(store_path, create=True)
    ctx.call_on_close(store.close)
    new_ids = store.insert_many(request for _, request in requests)
    for capture_id, (file, request) in zip(new_ids, requests, strict=True):
        click.echo(f"#{capture_id}  {_safe(request.method, 16)} {_safe(request.target)}  "
                   f"{_format_size(request.size)}{'  truncated' if request.truncated else ''}"
                   f"  from {file}")
    click.echo(f"import: stored {_plural(len(new_ids), 'capture')} in {store.path}", err=True)


def _default_base_url(request: CapturedRequest) -> str:
    """Where an exported curl sends: the Host it was sent to, else the default receiver."""
    host = (request.header("host") or "").strip()
    if not host or any(char in host for char in "/?#@ \t\\'\"") or not host.isprintable():
        return "http://127.0.0.1:8787"
    forwarded = (request.header("x-forwarded-proto") or "").split(",")[0].strip().lower()
    return f"{'https' if forwarded == 'https' else 'http'}://{host}"


def _curl_script(request: CapturedRequest, url: str, body_file: str | None) -> bytes:
    """A bash script (or, without `body_file`, a pasteable command) for the capture."""
    from whdebug.formats.curl import format_curl

    what = (f"whdebug capture #{request.capture_id}" if request.capture_id is not None
            else "whdebug request")
    received = request.received_at
    when = f", received {received.isoformat()}" if received is not None else ""
    lines = [f"# {what}: {_safe(request.method, 16)} {_safe(request.target, 120)}{when}\n"]
    command = format_curl(request, url, body_file=None if body_file is None else "BODY")
    if body_file is not None:
        import shlex

        lines.insert(0, "#!/usr/bin/env bash\n")
        lines.append(f"# the body ({request.size:,} bytes, exactly) is in "
                     f"{_safe(Path(body_file).name)} beside this script\n")
        reference = '@"$(dirname "$0")"/' + shlex.quote(Path(body_file).name)
        command = command.replace("--data-binary @BODY", "--data-binary " + reference, 1)
    return ("".join(lines) + command).encode("utf-8")


@main.command(short_help="Write a capture as .http, HAR, curl or capture JSON.")
@click.argument("capture_id", metavar="ID", type=click.IntRange(min=1))
@click.option("--format", "format_name", type=click.Choice(["http", "har", "curl", "json"]),
              default="http", show_default=True,
              help="http: the raw request, body byte for byte; curl: a bash command that "
                   "re-sends it; json: every field, body in base64.")
@click.option("-o", "--output", "output_path", metavar="FILE",
              help="Write to FILE (curl: a script, the body beside it in FILE.body); "
                   "default: standard output.")
@click.option("--redact", is_flag=True,
              help="Mask signature, token, cookie and authorization header values (and "
                   "such query parameters) before writing.")
@click.option("--to", "base_url", metavar="URL",
              help="curl: where to send (default: the Host the capture was sent to). A URL "
                   "without a path gets the capture's path.")
@click.option("--store", "store_path", metavar="PATH", help=_STORE_HELP)
@click.pass_context
def export(ctx: click.Context, capture_id: int, format_name: str, output_path: str | None,
           redact: bool, base_url: str | None, store_path: str | None) -> None:
    """Write capture ID in one of four formats; every byte of the body survives."""
    if base_url is not None and format_name != "curl":
        raise click.UsageError("--to is for --format curl", ctx)
    store = _open_store(store_path)
    ctx.call_on_close(store.close)
    request = store.get(capture_id)
    if redact:
        from whdebug.model.secrecy import SecretSet
        from whdebug.tools.bundle import mask_request

        masked, _ = mask_request(request, SecretSet())
        names = [name for (name, value), (_, kept) in zip(request.headers, masked.headers,
                                                          strict=True) if value != kept]
        query = " and query parameters" if masked.query != request.query else ""
        click.echo(f"export: masked {', '.join(names) or 'no headers'}{query}", err=True)
        request = masked
    if request.truncated:
        click.echo(f"export: capture #{capture_id} is truncated: only the first "
                   f"{len(request.body):,} of {request.size:,} bytes were stored", err=True)
    output = Path(output_path) if output_path is not None else None
    if output is not None and output.is_dir():
        raise WhdebugError("-o must be a file, not a directory", str(output))
    if format_name == "http":
        from whdebug.formats.http import format_http

        data = format_http(request)
    elif format_name == "har":
        from whdebug.formats.har import format_har

        data = format_har([request])
    elif format_name == "json":
        from whdebug.formats.capture_json import capture_to_json

        data = (json.dumps(capture_to_json(request), indent=2, ensure_ascii=False)
                + "\n").encode("utf-8")
    else:
        from whdebug.formats.curl import can_inline, sends_body
        from whdebug.tools.resend import target_url

        url = target_url(base_url or _default_base_url(request), request)
        if output is None:
            if not can_inline(request):
                raise WhdebugError(f"capture #{capture_id}'s body holds NUL bytes, which a "
                                   "shell argument cannot carry; use -o FILE (the body goes "
                                   "to FILE.body)")
            data = _curl_script(request, url, None)
        else:
            body_path = output.with_name(output.name + ".body")
            with_body = sends_body(request)
            data = _curl_script(request, url, str(body_path) if with_body else None)
            if with_body:
                _write_private(body_path, request.body)
            _write_private(output, data, 0o700)
            click.echo(f"export: wrote {output} (run: bash {output})"
                       + (f" and {body_path} ({request.size:,} bytes)" if with_body else ""),
                       err=True)
            return
    if output is None:
        stdout = sys.stdout.buffer
        stdout.write(data)
        stdout.flush()
    else:
        _write_private(output, data)
        click.echo(f"export: wrote {output} ({len(data):,} bytes)", err=True)


def _print_answer(answer: Answer) -> None:
    """The target's answer on standard output: status line, headers, a body preview."""
    lines = [f"HTTP/{answer.http_version.removeprefix('HTTP/')} {answer.status} "
             f"{_safe(answer.reason, 80)}".rstrip()]
    lines.extend(f"{_safe(name, 80)}: {_safe(value, 400)}" for name, value in answer.headers)
    lines.append("")
    body = answer.body
    if body:
        preview = body[:_PREVIEW_BYTES].decode("utf-8", errors="replace")
        preview = "\n".join(_safe(line, _PREVIEW_BYTES) for line in preview.split("\n"))
        lines.append(preview)
        if len(body) > _PREVIEW_BYTES:
            lines.append(f"… ({len(body) - _PREVIEW_BYTES:,} more bytes)")
    click.echo("\n".join(lines))


@main.command(short_help="Re-send a capture's exact bytes and headers to a URL.")
@click.argument("capture_id", metavar="[ID]", required=False, type=click.IntRange(min=1))
@click.option("--to", "url", metavar="URL", required=True,
              help="Where to send. A URL without a path gets the capture's path; the "
                   "capture's query string is appended.")
@click.option("--file", "file_path", metavar="F",
              help="Send the request(s) in a .http, .har or .json file instead of a capture.")
@click.option("--store", "store_path", metavar="PATH", help=_STORE_HELP)
@click.pass_context
def send(ctx: click.Context, capture_id: int | None, url: str, file_path: str | None,
         store_path: str | None) -> None:
    """Send capture ID (or --file F) to URL: the same method, the exact body bytes and the
    original headers, minus hop-by-hop ones (Host and Content-Length are recomputed).

    Prints the answer's status line, headers and the start of its body. Exit status 0
    when every answer is 2xx, 1 otherwise, 2 when nothing answered or on bad input.
    """
    if (capture_id is None) == (file_path is None):
        raise click.UsageError("give a capture ID or --file F (one of them)", ctx)
    from whdebug.tools.resend import forwardable_headers, resend, target_url

    if file_path is not None:
        requests = _read_files([file_path])
    else:
        store = _open_store(store_path)
        ctx.call_on_close(store.close)
        requests = [store.get(capture_id or 0)]
    for request in requests:
        if request.truncated:
            what = (f"capture #{request.capture_id}" if request.capture_id is not None
                    else request.source_label)
            raise WhdebugError(f"{what} was truncated: only {len(request.body):,} of "
                               f"{request.size:,} bytes were stored, so it cannot be re-sent")
        target_url(url, request)  # a bad URL fails before anything is sent
    all_ok = True
    for number, request in enumerate(requests):
        if number:
            click.echo()
        answer = resend(request, url)
        all_ok = all_ok and answer.ok
        click.echo(f"send: {request.source_label} {_safe(request.method, 16)} "
                   f"{_safe(answer.url)} ({request.size:,} bytes, "
                   f"{_plural(len(forwardable_headers(request)), 'header')}) -> {answer.status}"
                   f" in {answer.elapsed * 1000:.0f} ms", err=True)
        _print_answer(answer)
    ctx.exit(0 if all_ok else 1)
