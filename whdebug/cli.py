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
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from whdebug import __version__
from whdebug.errors import WhdebugError

if TYPE_CHECKING:
    from rich.console import Console

    from whdebug.definition import Definition
    from whdebug.engine.report import Finding, Report
    from whdebug.models import CapturedRequest, Secrets
    from whdebug.store import Store

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
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise WhdebugError("credentials file not found", path) from None
    except IsADirectoryError:
        raise WhdebugError("credentials path is a directory", path) from None
    except UnicodeDecodeError:
        raise WhdebugError("credentials file is not UTF-8 text", path) from None
    except OSError as error:
        raise WhdebugError(f"cannot read credentials file: {error.strerror}", path) from None
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
    from whdebug.models import Secrets

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


def _read_files(files: Sequence[str]) -> list[CapturedRequest]:
    from whdebug.httpfile import read_request_file

    requests: list[CapturedRequest] = []
    for file in files:
        requests.extend(read_request_file(file))
    return requests


@main.command(short_help="Analyse captures or request files; print a report for each.")
@click.argument("capture_ids", metavar="[ID]...", nargs=-1, type=click.IntRange(min=1))
@click.option("--file", "files", metavar="F", multiple=True,
              help="A .http, .har or .json request file (repeatable).")
@click.option("--definition", "definition_path", metavar="FILE", required=True,
              help="The MiniApp definition (.json, JSON5 or a JS object literal).")
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
           definition_path: str, credentials_file: str | None,
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
    from whdebug.definition import load_definition
    from whdebug.engine import AnalysisOptions, DedupeIndex, analyze

    now = parse_now(now_text)
    secrets = load_secrets(credentials_file, credential_pairs, config_pairs)
    definition = load_definition(definition_path)
    file_requests = _read_files(files)
    store: Store | None = None
    ids: list[int] = []
    if uses_store:
        from whdebug.store import Store, default_store_path

        store = Store.open(store_path or default_store_path(), create=False)
        ctx.call_on_close(store.close)
        ids = _capture_ids(store, capture_ids, all_captures, last)

    def requests() -> Iterator[CapturedRequest]:
        for capture_id in ids:
            assert store is not None
            yield store.get(capture_id)
        yield from file_requests

    options = AnalysisOptions(missing_part=missing_part, nullish=nullish)
    dedupe = DedupeIndex(window=dedupe_window)
    secret_values = _secret_values(secrets, definition)
    tally = _Tally(definition.trigger_events)
    console = None if as_json else _stdout_console()
    for request in requests():
        report = analyze(request, definition, secrets, now=now, options=options, dedupe=dedupe)
        report, line = _report_line(report, secret_values)
        tally.add(report)
        if console is None:
            click.echo(line)
        else:
            from whdebug.render import render_report

            render_report(console, report, verbose=verbose)
            console.print()
    summary = tally.summary()
    if console is None:
        click.echo(json.dumps(summary, separators=(",", ":")))
    else:
        from whdebug.render import render_summary

        if not summary["requests"]:
            console.print("no captures to replay")
        render_summary(console, summary, definition)
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
@click.pass_context
def check(ctx: click.Context, definition_path: str, submission: bool, as_json: bool) -> None:
    """Lint a definition: schema, naming, security and cross-references.

    Exit status 0 without error-level findings, 1 with, 2 when it cannot be read or parsed
    (the DEF_PARSE finding is printed, and the error on stderr).
    """
    from whdebug.definition import load_definition
    from whdebug.engine.check import check_definition, parse_finding
    from whdebug.errors import DefinitionError
    from whdebug.render import render_check

    definition: Definition | None
    try:
        definition = load_definition(definition_path)
    except DefinitionError as error:
        findings = [parse_finding(error)]
        definition = None
        failure: DefinitionError | None = error
    else:
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

    from whdebug.httpfile import read_request_file

    requests: list[CapturedRequest] = []
    for name in files:
        with resources.as_file(root / name) as path:
            for request in read_request_file(path):
                requests.append(dataclasses.replace(request, file=name))
    return requests


@main.command(short_help="Replay the bundled example webhooks.")
@click.option("-v", "--verbose", is_flag=True, help="Show every detail of each report.")
@click.pass_context
def demo(ctx: click.Context, verbose: bool) -> None:
    """Replay the bundled example webhooks (as text until the TUI exists)."""
    from rich.text import Text

    from whdebug.definition import parse_definition
    from whdebug.engine import DedupeIndex, analyze
    from whdebug.models import Secrets
    from whdebug.render import format_outcomes, render_report, render_summary

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


def _start_tui(ctx: click.Context, **options: Any) -> None:
    """Start the TUI; the only place that knows it is not built yet."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise WhdebugError(f"the TUI needs a terminal; {_NO_TUI_HINT}")
    raise WhdebugError(f"the TUI is not available yet; {_NO_TUI_HINT}")


@main.command()
@click.option("--listen/--no-listen", default=True, show_default=True,
              help="Run the embedded receiver.")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True)
@click.option("--definition", "definition_path", metavar="FILE")
@_analysis_options
@click.option("--store", "store_path", metavar="PATH")
@click.pass_context
def tui(ctx: click.Context, /, **options: Any) -> None:
    """The TUI: live capture list, pipeline, signature lab, event lab."""
    _start_tui(ctx, **options)
