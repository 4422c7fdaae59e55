"""`whdebug prune`: delete old captures, so a shared endpoint's store does not grow forever."""

from __future__ import annotations

import click

from whdebug.cli.options import open_store, store_option


@click.command(short_help="Delete captures older than an age (keeping the newest N).")
@click.option("--older-than", "older_than", metavar="AGE", required=True,
              help="Delete captures received more than AGE ago: a number and s, m, h, d "
                   "or w (e.g. 7d).")
@click.option("--keep-last", "keep_last", metavar="N", type=click.IntRange(min=0), default=0,
              show_default=True, help="Never delete the newest N captures, however old.")
@store_option()
@click.pass_context
def prune(ctx: click.Context, older_than: str, keep_last: int, store_path: str | None) -> None:
    """Delete every capture received more than AGE ago (SQLite or PostgreSQL store), except
    the newest --keep-last N; prints how many were deleted and how many are left. Ids are
    never reused.
    """
    from whdebug.store.base import display_location, parse_age
    from whdebug.wording import plural

    age = parse_age(older_than)
    store = open_store(store_path)
    ctx.call_on_close(store.close)
    deleted = store.prune(age, keep_last=keep_last)
    click.echo(f"prune: deleted {plural(deleted, 'capture', grouped=True)} older than "
               f"{older_than.strip()}; {plural(store.count(), 'capture', grouped=True)} left "
               f"in {display_location(store.path)}")
