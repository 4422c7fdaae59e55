"""`whdebug redact`: blank every sensitive auth.config value of a definition, layout kept."""

from __future__ import annotations

import sys

import click

from whdebug.errors import WhdebugError, read_input


def _read_text_exactly(path: str) -> str:
    """A definition's text with its line endings and BOM kept (no newline translation)."""
    data = read_input(path, "definition")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise WhdebugError("definition file is not UTF-8 text", path) from None


@click.command(short_help="Blank every sensitive value of a definition (for support requests).")
@click.argument("definition_path", metavar="DEFINITION")
@click.option("-o", "--output", "output_path", metavar="FILE",
              help="Write the redacted definition to FILE (default: standard output).")
def redact(definition_path: str, output_path: str | None) -> None:
    """Blank every auth.config value that is a secret: keys in auth.sensitiveKeys and keys
    with secret, token, password or key in their name.

    Only those values change; comments, order and layout stay as written. What was blanked
    is listed on standard error, never the values.
    """
    from whdebug.cli.options import write_private
    from whdebug.tools.redact import redact_text

    redaction = redact_text(_read_text_exactly(definition_path), definition_path)
    data = redaction.text.encode("utf-8")
    if output_path is not None:
        write_private(output_path, data)
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
