"""`whdebug list --by delivery`: the store's captures grouped into provider deliveries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from whdebug.cli import ExitStatus

if TYPE_CHECKING:
    from whdebug.store.base import CaptureStore
    from whdebug.tools.deliveries import Delivery


def load_deliveries(store: CaptureStore, last: int | None, definition_path: str | None,
                    now: datetime) -> list[Delivery]:
    """The newest `last` captures (or all), oldest first, grouped into deliveries."""
    from whdebug.tools.deliveries import definition_transaction, group_deliveries

    transaction = None
    if definition_path is not None:
        from whdebug.model.definition import load_definition

        transaction = definition_transaction(load_definition(definition_path))
    captures = (store.get(capture_id) for capture_id in store.ids(last))
    return group_deliveries(captures, transaction=transaction, now=now)


def list_deliveries(store: CaptureStore, last: int | None, definition_path: str | None,
                    as_json: bool) -> int:
    """Print the deliveries (a table, or one JSON object per line); the exit status."""
    from whdebug.tools.deliveries import delivery_json

    deliveries = load_deliveries(store, last, definition_path, datetime.now(UTC))
    failing = any(item.severity == "error" for delivery in deliveries
                  for item in delivery.findings)
    status = ExitStatus.FINDING if failing else ExitStatus.SUCCESS
    if as_json:
        for delivery in deliveries:
            click.echo(json.dumps(delivery_json(delivery), separators=(",", ":"),
                                  ensure_ascii=False))
        return status
    from whdebug.cli.output.captures import render_no_captures
    from whdebug.cli.output.deliveries import render_deliveries
    from whdebug.cli.output.text import stdout_console

    console = stdout_console()
    if not deliveries:
        render_no_captures(console, store.path)
        return status
    render_deliveries(console, deliveries)
    return status
