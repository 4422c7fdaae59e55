"""`whdebug codes` and `whdebug explain CODE`: every finding code, and what one means."""

from __future__ import annotations

import json

import click

from whdebug.cli.options import json_option


def _document(info: object) -> dict[str, object]:
    import dataclasses

    assert dataclasses.is_dataclass(info) and not isinstance(info, type)
    return dataclasses.asdict(info)


@click.command()
@json_option("One JSON object: {schema: whdebug.codes/1, codes: [...]} with every field.")
@click.option("--markdown", "as_markdown", is_flag=True,
              help="The Markdown of docs/codes.md (regenerate it with "
                   "`whdebug codes --markdown > docs/codes.md`).")
def codes(as_json: bool, as_markdown: bool) -> None:
    """Every finding code: its severity and one line saying what it means.

    `whdebug explain CODE` says more about one of them.
    """
    from whdebug.engine.codes import every_code

    infos = every_code()
    if as_json and as_markdown:
        raise click.UsageError("--json and --markdown exclude each other")
    if as_json:
        click.echo(json.dumps({"schema": "whdebug.codes/1",
                               "codes": [_document(info) for info in infos]},
                              separators=(",", ":")))
    elif as_markdown:
        from whdebug.cli.output.codes import codes_markdown

        click.echo(codes_markdown(infos), nl=False)
    else:
        from whdebug.cli.output.codes import render_codes
        from whdebug.cli.output.text import stdout_console

        render_codes(stdout_console(), infos)


@click.command()
@click.argument("code")
@json_option("One JSON object with the code's fields.")
def explain(code: str, as_json: bool) -> None:
    """What a finding code means, the runtime behaviour behind it, how to fix it, and the
    Karzoun docs page that documents it.

    Exit status 2 for a code whdebug does not know (with the closest known codes).
    """
    from whdebug.engine.codes import close_codes
    from whdebug.engine.codes import explain as explain_code
    from whdebug.errors import WhdebugError

    info = explain_code(code)
    if info is None:
        close = close_codes(code)
        hint = f"; did you mean {' or '.join(close)}?" if close else \
            "; `whdebug codes` lists every code"
        raise WhdebugError(f"unknown finding code {code!r}{hint}")
    if as_json:
        click.echo(json.dumps(_document(info), separators=(",", ":")))
    else:
        from whdebug.cli.output.codes import render_explanation
        from whdebug.cli.output.text import stdout_console

        render_explanation(stdout_console(), info)
