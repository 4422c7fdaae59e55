"""The `whdebug` command group: the one error funnel, the exit statuses, the command table.

Every error is one `whdebug: ...` line on stderr; a traceback only with WHDEBUG_DEBUG=1.
Commands live in `commands/` and are imported when named (listing them for `--help` imports
only click), and heavy modules are imported inside command functions, so `whdebug --help`
stays fast.
"""

from __future__ import annotations

import enum
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from whdebug import __version__
from whdebug.errors import WhdebugError, forget_stdin, is_broken_pipe, silence_stdout


class ExitStatus(enum.IntEnum):
    """How a command ends (the process exit status)."""

    SUCCESS = 0
    FINDING = 1
    """A finding the command exists to report: a request that would not fire, an
    error-level lint finding, a non-2xx answer."""
    BAD_INPUT = 2
    """The input could not be used: a bad flag, an unreadable file, a missing store."""
    INTERRUPTED = 130
    """Ctrl-C."""
    READER_GONE = 141
    """Standard output's reader went away (`whdebug list | head -1`): what a shell reports
    for a program killed by SIGPIPE. Not 1, which would say there were findings."""


class _ReaderGone(Exception):
    """Writing to standard output failed with EPIPE: nobody reads it any more."""


COMMANDS = {
    "bundle": "bundle:bundle",
    "check": "check:check",
    "codes": "codes:codes",
    "demo": "demo:demo",
    "diff": "diff:diff",
    "explain": "codes:explain",
    "export": "captures:export",
    "import": "captures:import_files",
    "list": "captures:list_captures",
    "prune": "prune:prune",
    "redact": "redact:redact",
    "replay": "replay:replay",
    "samples": "samples:samples",
    "send": "send:send",
    "serve": "serve:serve",
    "sign": "sign:sign",
    "source": "source:source",
    "sync": "sync:sync",
    "tui": "tui:tui",
    "urls": "urls:urls",
}
"""Each command's name and where it is defined: `module:attribute` in `whdebug.cli.commands`."""


def one_line(message: str) -> str:
    """`message` with its whitespace runs (newlines too) collapsed to single spaces."""
    return " ".join(message.split())


def _fail(message: str, exit_code: int = ExitStatus.BAD_INPUT) -> int:
    click.echo(f"whdebug: {one_line(message)}", err=True)
    return exit_code


class WhdebugGroup(click.Group):
    """The command group: loads commands by name and turns every error into one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        location = COMMANDS.get(cmd_name)
        if location is None:
            return None
        module_name, _, attribute = location.partition(":")
        command = getattr(importlib.import_module(f"whdebug.cli.commands.{module_name}"),
                          attribute)
        assert isinstance(command, click.Command), location
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OSError as error:
            if is_broken_pipe(error):  # before click's own handler, which exits 1
                raise _ReaderGone from None
            raise

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        _escape_unencodable_output()
        forget_stdin()
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
            code = _fail("interrupted", ExitStatus.INTERRUPTED)
        except _ReaderGone:
            silence_stdout()
            code = ExitStatus.READER_GONE
        except WhdebugError as error:
            code = _fail(str(error), error.exit_code)
        except Exception as error:
            if os.environ.get("WHDEBUG_DEBUG") == "1":
                raise
            code = _fail(f"internal error: {type(error).__name__}: {error}")
        code = code if isinstance(code, int) else ExitStatus.SUCCESS
        try:
            sys.stdout.flush()
        except (OSError, ValueError) as error:
            if is_broken_pipe(error):
                silence_stdout()
                code = ExitStatus.READER_GONE
        if standalone_mode:
            sys.exit(code)
        return code


def _escape_unencodable_output() -> None:
    """Text that has no bytes in the terminal's encoding (a lone surrogate from a hostile
    body's "\\ud800", read as JSON.parse keeps it) is printed as its escape, never a crash."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a closed or detached stream: nothing to protect
                pass


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
        from whdebug.cli.commands.tui import start_tui

        start_tui(ctx, listen=True)
