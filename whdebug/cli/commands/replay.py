"""`whdebug replay`: analyse captures or request files and print a report for each."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import click

from whdebug.cli import ExitStatus
from whdebug.cli.options import (
    CaptureId,
    FilesReading,
    analysis_options,
    definition_and_analyzer,
    definition_option,
    json_option,
    load_secrets,
    one_reader_of_stdin,
    parse_now,
    profile_option,
    show_secrets_option,
    store_option,
    verbose_option,
)

if TYPE_CHECKING:
    from whdebug.engine.parallel import Replayed
    from whdebug.engine.session import ReplaySession
    from whdebug.model.request import Capture
    from whdebug.store.base import CaptureStore

#: Other replayed requests a failing signature is checked against (evidence), at most.
PEERS = 20


def _capture_ids(store: CaptureStore, ids: Sequence[int], all_captures: bool,
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


def _earlier_captures(store: CaptureStore, chosen: Sequence[int], window: int | None) -> list[int]:
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


def _write_lines(lines: list[str]) -> None:
    """`_write_text` of the lines, each ended by "\\n"; the list is emptied."""
    _write_text("\n".join(lines) + "\n")
    lines.clear()


def _write_text(text: str) -> None:
    """Write whole lines to stdout: JSON lines (ASCII: json.dumps escapes the
    rest) or rows (request text escaped), so there is no terminal escape for click.echo to
    strip when stdout is not a terminal, and a block goes out as it is (then flushed, as
    click.echo does, so it stays in order with what rich writes)."""
    try:
        sys.stdout.write(text)  # encoded whole before anything is written
        sys.stdout.flush()
    except UnicodeEncodeError:  # a terminal that cannot show "…": click.echo replaces it
        click.echo(text, nl=False)


@click.command(short_help="Analyse captures or request files; print a report for each.")
@click.argument("capture_ids", metavar="[ID]...", nargs=-1,
                type=CaptureId("whdebug replay --file {} reads a request file"))
@click.option("--file", "files", metavar="F", multiple=True,
              help="A .http, .har or .json request file (repeatable); - reads standard "
                   "input (e.g. piped from `whdebug sign`), its kind told by its content.")
@definition_option("The MiniApp definition (.json, JSON5 or a JS object literal).")
@profile_option
@analysis_options
@click.option("--all", "all_captures", is_flag=True, help="Every capture in the store.")
@click.option("--last", type=click.IntRange(min=1), metavar="N",
              help="The newest N captures in the store.")
@store_option()
@click.option("--dedupe-window", type=click.IntRange(min=0), metavar="N",
              help="Remember only the last N transaction ids (default: all).")
@click.option("--expected-body", "expected_body", metavar="FILE",
              type=click.Path(exists=True, dir_okay=False),
              help="The bytes the sender says it signed: a failing signature shows the byte "
                   "difference and whether it verifies over FILE.")
@click.option("--full", is_flag=True,
              help="Every request's full report, also past a screenful (default: one line "
                   "per request then, and the full report of each that does not fire).")
@json_option("One JSON report per line, then one summary line.")
@verbose_option("Also show signature attempts, event parts and suggestions.")
@show_secrets_option
@click.pass_context
def replay(ctx: click.Context, capture_ids: tuple[int, ...], files: tuple[str, ...],
           definition_path: str | None, profile_name: str | None,
           credentials_file: str | None,
           credential_pairs: tuple[str, ...], config_pairs: tuple[str, ...],
           missing_part: str, nullish: bool, now_text: str | None, all_captures: bool,
           last: int | None, store_path: str | None, dedupe_window: int | None,
           expected_body: str | None, full: bool, as_json: bool, verbose: bool,
           show_secrets: bool) -> None:
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
    one_reader_of_stdin(files, credential_pairs)
    gc.disable()  # reading builds many objects and no cycles: nothing for the collector
    try:
        reading = FilesReading(files)  # beside the imports and the definition: see there
        from whdebug.engine import AnalysisOptions
        from whdebug.engine.session import ReplaySession

        now = parse_now(now_text)
        secrets = load_secrets(credentials_file, credential_pairs, config_pairs)
        definition, analyzer = definition_and_analyzer(definition_path, profile_name,
                                                       secrets, show_secrets)
        file_requests = _settle(reading.result(), spreads=lambda count: (
            not uses_store and analyzer is None
            and (as_json or not full and count > _screenful())))
    finally:
        gc.enable()
        gc.freeze()  # and what was read stays for the whole replay: never scan it again
    store: CaptureStore | None = None
    ids: list[int] = []
    earlier: list[int] = []
    if uses_store:
        from whdebug.store.base import open_store, store_location

        store = open_store(store_location(store_path), create=False)
        ctx.call_on_close(store.close)
        ids = _capture_ids(store, capture_ids, all_captures, last)
        earlier = _earlier_captures(store, ids, dedupe_window)

    peers = [capture.request for capture in file_requests[-PEERS:]]
    if store is not None:
        peers += [store.get(capture_id).request for capture_id in ids[-PEERS:]]
    expected = None
    if expected_body is not None:
        with open(expected_body, "rb") as handle:
            expected = (f"--expected-body {expected_body}", handle.read())
    options = AnalysisOptions(missing_part=missing_part, nullish=nullish,
                              expected_body=expected, peers=tuple(peers))
    session = ReplaySession(definition, secrets, now=now, window=dedupe_window,
                            options=options, analyzer=analyzer)
    session.secret_set = session.secret_set.showing_names(show_secrets)

    def requests() -> Iterator[Capture]:
        """The chosen captures, oldest first, then the files; earlier captures only seed."""
        chosen = set(ids)
        for capture_id in sorted(chosen.union(earlier)):
            assert store is not None
            capture = store.get(capture_id)
            if capture_id in chosen:
                yield capture
            else:
                session.seed(capture)
        yield from file_requests

    workers = _spread_over(session, file_requests, store is None)
    if as_json:
        from whdebug.cli.output.progress import Progress

        progress = Progress(len(ids) + len(file_requests))
        lines: list[str] = []
        if workers > 1:
            from whdebug.engine.fanout import spread

            for done, text in spread(session, file_requests, workers,
                                     finish=lambda _, replayed: replayed.line):
                progress.hide()
                _write_text(text)
                progress.update(done)
        else:
            for done, (_, replayed) in enumerate(_replayed(
                    session, requests(), file_requests, store is None, keep_fired=False), 1):
                lines.append(replayed.line)
                if len(lines) >= 256:  # written in blocks: one write per line is the cost
                    progress.hide()
                    _write_lines(lines)
                    progress.update(done)
        progress.close()
        lines.append(json.dumps(session.summary(), separators=(",", ":")))
        _write_lines(lines)
    else:
        from whdebug.cli.output.rows import screenful

        total = len(ids) + len(file_requests)
        rows = not full and total > screenful()
        _replay_text(session, lambda: _replayed(
            session, requests(), file_requests, store is None, keep_fired=not rows,
            lines=not rows), file_requests, total, rows=rows, verbose=verbose,
            profile_name=profile_name, workers=workers)
    ctx.exit(ExitStatus.SUCCESS if session.all_ok else ExitStatus.FINDING)


def _screenful() -> int:
    from whdebug.cli.output.rows import screenful

    return screenful()


def _settle(found: Sequence[Capture], *, spreads: Callable[[int], bool]) -> Sequence[Capture]:
    """The requests read from the files (`FilesReading`: a HAR file's entries not read yet).
    When the replay of `count` requests is spread over worker processes (`spreads(count)`:
    files alone, a definition, and no full report of a fired request to keep; and many
    requests), a HAR file's entries are left for the workers to read (`fanout.spread`);
    otherwise every request is read now."""
    from whdebug.engine.parallel import worker_count

    if isinstance(found, list) or (worker_count(len(found)) > 1 and spreads(len(found))):
        return found
    return list(found)  # each entry read now: a bad one raises before any report


def _spread_over(session: ReplaySession, file_requests: Sequence[Capture],
                 files_only: bool) -> int:
    """The worker processes that read and analyse the requests (`fanout.spread`): requests
    read from files alone, analysed by a definition, and many of them; 1: none."""
    from whdebug.engine.parallel import worker_count

    if not (files_only and session.uses_definition):
        return 1
    return worker_count(len(file_requests))


def _replayed(session: ReplaySession, captures: Iterator[Capture],
              file_requests: Sequence[Capture], files_only: bool, *,
              keep_fired: bool, lines: bool = True) -> Iterator[tuple[Capture, Replayed]]:
    """Each capture and its result, in arrival order; requests read from files alone are
    spread over the machine's cores when there are many (`parallel.replay_many`: same reports,
    byte for byte). Without `lines`, a fired request's JSON line is not made (the one-row
    view)."""
    from whdebug.engine.parallel import replay_here, replay_many, worker_count

    if files_only and session.uses_definition:
        workers = worker_count(len(file_requests))
        for index, replayed in enumerate(replay_many(
                session, file_requests, keep_fired=keep_fired, lines=lines, workers=workers)):
            yield file_requests[index], replayed
        return
    for capture in captures:
        yield capture, replay_here(session, capture, lines=lines)


def _replay_text(session: ReplaySession,
                 replayed_with: Callable[[], Iterator[tuple[Capture, Replayed]]],
                 file_requests: Sequence[Capture], total: int, *, rows: bool, verbose: bool,
                 profile_name: str | None, workers: int) -> None:
    """Full reports up to a screenful of requests (every one with --full); past it one row
    per request, then the full report of each request that does not fire; the summary.
    `replayed_with()` gives the results; with `workers` (more than 1), rows are written by
    worker processes (`fanout.spread`)."""
    from whdebug.cli.output.marks import symbol
    from whdebug.cli.output.report import render_replay_summary, render_report
    from whdebug.cli.output.rows import Progress, format_row, row_header
    from whdebug.cli.output.text import stdout_console

    console = stdout_console()
    if not rows:
        for _, replayed in replayed_with():
            assert replayed.report is not None
            render_report(console, replayed.report, verbose=verbose)
            console.print()
    else:
        symbols = {status: symbol(console, status) for status in ("pass", "fail", "skip")}
        progress = Progress(total)
        held = []
        lines = [row_header()]
        masks = session.secret_set

        def row(capture: Capture, replayed: Replayed) -> str:
            return format_row(capture, replayed, symbols, masks)

        def shown(capture: Capture, replayed: Replayed) -> str:
            if replayed.status != "fires":
                assert replayed.report is not None
                held.append(replayed.report)
            return row(capture, replayed)

        if workers > 1:
            from whdebug.engine.fanout import spread

            _write_lines(lines)
            for done, text in spread(
                    session, file_requests, workers, row=row,
                    finish=lambda index, replayed: shown(file_requests[index], replayed)):
                progress.hide()
                _write_text(text)
                progress.update(done)
        else:
            for done, (capture, replayed) in enumerate(replayed_with(), 1):
                lines.append(shown(capture, replayed))
                if len(lines) >= 256:
                    progress.hide()
                    _write_lines(lines)
                    progress.update(done)
        progress.close()
        if lines:
            _write_lines(lines)
        click.echo()
        for report in held:
            render_report(console, report, verbose=verbose)
            console.print()
    render_replay_summary(console, session.summary(), session.plan, profile_name)
