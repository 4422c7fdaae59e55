"""The analysis index in a shared PostgreSQL store: the same verdicts and filters as SQLite,
shared by everyone filling it at once, forgotten on prune, migrated into a version-2 database."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from factories import NOW, SECRET, make_capture, make_definition
from pg_support import store_as_before_version_6

from whdebug.model.request import Capture, Secrets
from whdebug.store import index, pg_schema
from whdebug.store.index import IndexFill, IndexProfile, prepare, row_of, supports_index
from whdebug.store.postgres import PostgresStore
from whdebug.store.store import Store

SECRETS = Secrets({"webhookSecret": SECRET}, {})


def _captures() -> list[Capture]:
    """Accepted, rejected, duplicate, no-trigger and odd captures, in arrival order."""
    bodies = [
        ({"event": "contact.created", "id": "a"}, "auto", {}),
        ({"event": "deal.won", "id": "b"}, "auto", {"query": "token=X&Mode=Full"}),
        ({"event": "contact.created", "id": "a"}, "auto", {}),  # duplicate of #1
        ({"event": "contact.created", "id": "c"}, "0" * 64, {}),  # rejected
        ({"event": "Deal.Lost", "id": "d"}, "auto", {"path": "/miniapps/acme/Été"}),
        ({"event": "deal.won", "id": "b"}, "0" * 64, {"method": "PUT"}),  # rejected
        ({"event": "deal.won", "id": "b"}, "auto", {}),  # duplicate of #2
        ({"id": "e"}, "auto", {}),  # no event
        ({"event": "ÉVÉNEMENT", "id": "f"}, "auto", {"query": "x=É"}),
        ({"event": "a\u0000b", "id": "g"}, "auto", {}),  # text with a NUL in it
    ]
    return [make_capture(body, signature=signature, received_at=NOW + timedelta(seconds=n),
                         **options)
            for n, (body, signature, options) in enumerate(bodies)]


COUNT = 10
FILTERS: list[list[tuple[str | None, str, bool]]] = [
    [("code", "sig_mis", False)], [("code", "SIG_", False)], [("code", "é", False)],
    [("outcome", "dup", False)], [("outcome", "rejected", True)],
    [("event", "deal", False), ("outcome", "rejected", True)],
    [("event", "événement", False)], [("event", "Événement".lower(), False)],
    [("event", "a\u0000", False)],
    [(None, "tx_dup", False)], [(None, "put", False)], [(None, "mode=full", False)],
    [("path", "été", False)], [("path", "/acme/É", False)], [("path", "?x=é", False)],
    [("path", "token", True)],
    [("method", "pu", False)], [("sig", "mis", False)], [("sig", "valid", True)],
    [("event", "won", False), ("path", "mode", False)],
]


def _profile(**webhook: object) -> IndexProfile:
    return IndexProfile(make_definition(**webhook), SECRETS)


def _replayed(store: object, profile: IndexProfile) -> dict[int, object]:
    session = profile.session()
    return {i: row_of(i, session.replay(store.get(i)))  # type: ignore[attr-defined]
            for i in store.ids()}  # type: ignore[attr-defined]


@pytest.fixture
def pg(pg_url: str) -> PostgresStore:
    with PostgresStore.open(pg_url) as store:
        store.insert_many(_captures())
        yield store


def test_postgres_keeps_the_same_verdicts_and_filters_as_sqlite(pg: PostgresStore,
                                                                tmp_path: Path) -> None:
    assert supports_index(pg)
    profile = _profile()
    with Store.open(tmp_path / "c.db") as lite:
        lite.insert_many(_captures())
        lite_set, pg_set = index.fill(lite, profile), index.fill(pg, profile)
        expected = lite.analyses_between(lite_set.id, 1, COUNT)
        assert pg.analyses_between(pg_set.id, 1, COUNT) == expected
        assert pg.analysis_counts(pg_set.id) == lite.analysis_counts(lite_set.id)
        for terms in FILTERS:
            for set_ids in ((lite_set.id, pg_set.id), (None, None)):
                lite_ids = lite.filter_analyses(set_ids[0], terms)
                assert pg.filter_analyses(set_ids[1], terms) == lite_ids, terms
            assert (pg.filter_analyses(pg_set.id, terms, first=3, last=7, limit=2)
                    == lite.filter_analyses(lite_set.id, terms, first=3, last=7, limit=2))
    assert expected == _replayed(pg, profile)
    assert expected[7].duplicate_of == 2 and expected[3].duplicate_of == 1  # type: ignore
    assert pg.filter_analyses(pg_set.id, [("code", "SIG_", False)]) == [6, 4]
    assert pg.filter_analyses(pg_set.id, [("path", "/acme/É", False)]) == [5]
    assert pg.filter_analyses(pg_set.id, [("event", "a\u0000", False)]) == [10]
    assert pg.analyses_between(pg_set.id, 10, 10)[10].event == "a\u0000b"
    assert pg.filter_analyses(pg_set.id, [(None, "mode=full", False)]) == [2]
    assert pg.summaries([5, 2, 99]) == [s for s in pg.page(limit=20) if s.id in (5, 2)]


def test_a_trigger_edit_carries_the_rejected_rows_over(pg: PostgresStore) -> None:
    before = index.fill(pg, _profile())
    kept = pg.analyses_between(before.id, 1, COUNT)
    edited = _profile(triggers=[{"type": "miniapps:acme", "event": "deal.won"}])
    after = prepare(pg, edited)
    assert after.created and after.id != before.id
    carried = pg.analyses_between(after.id, 1, COUNT)
    assert sorted(carried) == [4, 6] and all(carried[i] == kept[i] for i in carried)
    assert pg.filter_analyses(after.id, [("code", "SIG_MISMATCH", False)]) == [6, 4]
    fill = IndexFill(after, edited)
    rows = {row.capture_id: row for batch in fill.run(pg, pg.ids()) for row in batch}
    assert fill.computed == COUNT - 2 and rows == _replayed(pg, edited)
    assert prepare(pg, _profile()).id == before.id  # the old set is still there, reopened


def test_two_fills_racing_on_one_set_store_each_row_once(pg: PostgresStore, pg_url: str) -> None:
    """B reads the set before A stores its first batch, then stores the same rows first: A's
    insert meets B's rows (no error), and each row and code is stored once."""
    profile = _profile()
    analysis_set = prepare(pg, profile)
    ids = pg.ids()
    with PostgresStore.open(pg_url) as other:
        second = IndexFill(prepare(other, profile), profile).run(other, ids, batch=COUNT)
        stepped: list[int] = []

        def let_the_other_go_first() -> None:
            if not stepped:
                stepped.extend(row.capture_id for row in next(second))

        first = IndexFill(analysis_set, profile)
        rows = [row for batch in first.run(pg, ids, batch=COUNT, pause=let_the_other_go_first)
                for row in batch]
    assert stepped == ids and first.computed == COUNT
    assert {row.capture_id: row for row in rows} == _replayed(pg, profile)
    assert pg.analyses_between(analysis_set.id, 1, COUNT) == _replayed(pg, profile)
    with psycopg.connect(pg_url) as connection:
        codes = connection.execute("SELECT count(*) FROM whdebug_analysis_codes").fetchone()
        rows_stored = connection.execute("SELECT count(*) FROM whdebug_analyses").fetchone()
    expected = _replayed(pg, profile)
    assert rows_stored == (COUNT,)
    assert codes == (sum(len(set(r.codes)) for r in expected.values()),)  # type: ignore


def test_concurrent_fills_from_threads_agree(pg_url: str) -> None:
    with PostgresStore.open(pg_url) as store:
        for _ in range(12):
            store.insert_many(_captures())
    profile, errors, done = _profile(), [], []
    start = threading.Barrier(3)

    def fill() -> None:
        try:
            with PostgresStore.open(pg_url) as store:
                start.wait()
                done.append(index.fill(store, profile).id)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=fill) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(set(done)) == 1
    with PostgresStore.open(pg_url) as store:
        assert store.analyses_between(done[0], 1, 12 * COUNT) == _replayed(store, profile)
        assert sum(store.analysis_counts(done[0]).values()) == 12 * COUNT


def test_captures_arriving_during_a_fill_are_analysed_by_the_next(pg: PostgresStore,
                                                                  pg_url: str) -> None:
    profile, arrived = _profile(), []

    def another_receiver_commits(done: int, total: int) -> None:
        if not arrived:
            with PostgresStore.open(pg_url) as receiver:
                arrived.extend(receiver.insert_many(_captures()[:3]))

    analysis_set = index.fill(pg, profile, another_receiver_commits)
    assert arrived == [COUNT + 1, COUNT + 2, COUNT + 3]
    assert sum(pg.analysis_counts(analysis_set.id).values()) == COUNT
    index.fill(pg, profile)
    rows = pg.analyses_between(analysis_set.id, 1, COUNT + 3)
    assert rows == _replayed(pg, profile)
    assert [rows[i].outcome for i in arrived] == ["duplicate", "duplicate", "duplicate"]


def test_prune_and_delete_forget_the_verdicts_that_saw_them(pg: PostgresStore) -> None:
    analysis_set = index.fill(pg, _profile())
    pg.delete(2)  # #7 was its duplicate: its row goes too, the others stay
    rows = pg.analyses_between(analysis_set.id, 1, COUNT)
    assert sorted(rows) == [1, 3, 4, 5, 6, 8, 9, 10]
    assert pg.filter_analyses(analysis_set.id, [("code", "TX_DUP", False)]) == [3]
    index.fill(pg, _profile())
    assert pg.analyses_between(analysis_set.id, 7, 7)[7].outcome == "fires"
    assert pg.prune(timedelta(0), keep_last=7) == 2  # #1 and #3
    assert pg.analyses_between(analysis_set.id, 1, COUNT) == {}
    assert pg.filter_analyses(analysis_set.id, [("code", "", False)]) == []
    index.fill(pg, _profile())
    assert pg.analyses_between(analysis_set.id, 1, COUNT) == _replayed(pg, _profile())


def test_the_salt_is_shared_and_the_database_holds_no_secret(pg: PostgresStore,
                                                             pg_url: str) -> None:
    profile = IndexProfile(make_definition(), Secrets({"webhookSecret": "hunter2-secret"}, {}))
    analysis_set = index.fill(pg, profile)
    with PostgresStore.open(pg_url) as other:
        assert other.analysis_salt() == pg.analysis_salt() and len(pg.analysis_salt()) == 32
        assert prepare(other, profile).id == analysis_set.id
    with psycopg.connect(pg_url) as connection:
        dumped = connection.execute(
            "SELECT string_agg(t::text, ' ') FROM (SELECT s::text AS t FROM "
            "whdebug_analysis_sets AS s UNION ALL SELECT a::text FROM whdebug_analyses AS a "
            "UNION ALL SELECT encode(salt, 'hex') FROM whdebug_analysis_key) AS rows"
        ).fetchone()[0]
    assert "rejected" in dumped and "hunter2" not in dumped


def test_a_version_2_database_migrates_and_keeps_its_captures(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_schema, "MIGRATIONS", pg_schema.MIGRATIONS[:2])
    monkeypatch.setattr(pg_schema, "SCHEMA_VERSION", 2)
    PostgresStore.open(pg_url).close()
    store_as_before_version_6(pg_url, _captures())  # a body in its row needs version 6
    with psycopg.connect(pg_url) as connection:
        assert connection.execute("SELECT max(version) FROM whdebug_migrations").fetchone() == (2,)
        assert connection.execute("SELECT to_regclass('whdebug_analyses')").fetchone() == (None,)
    monkeypatch.undo()
    with PostgresStore.open(pg_url) as migrated, PostgresStore.open(pg_url) as again:
        assert migrated.count() == COUNT
        analysis_set = index.fill(migrated, _profile())
        assert again.analyses_between(analysis_set.id, 1, COUNT) == _replayed(again, _profile())
    with psycopg.connect(pg_url) as connection:
        assert connection.execute("SELECT max(version) FROM whdebug_migrations").fetchone() == (
            pg_schema.SCHEMA_VERSION,)
        assert connection.execute("SELECT count(*) FROM whdebug_analysis_key").fetchone() == (1,)


def test_a_prune_while_rows_are_being_stored_waits_instead_of_deadlocking(
        pg: PostgresStore, pg_url: str) -> None:
    """A fill holds a capture it stores a row for (#8) when a prune starts deleting (#1..#8);
    the fill then stores a row for #3. Without the index lock the prune would hold #3 and
    wait for #8: a deadlock PostgreSQL breaks by failing one of them."""
    from whdebug.store import pg_analyses

    profile = _profile()
    analysis_set = prepare(pg, profile)
    rows = _replayed(pg, profile)
    pruned: list[object] = []
    with psycopg.connect(pg_url) as filler, PostgresStore.open(pg_url) as other:
        with filler.transaction():
            pg_analyses.put(filler, analysis_set.id, [rows[8]])  # type: ignore[list-item]
            pruning = threading.Thread(target=lambda: pruned.append(_prune_or_error(other)))
            pruning.start()
            pruning.join(1.5)  # the prune is waiting (for the lock, or for #8)
            pg_analyses.put(filler, analysis_set.id, [rows[3]])  # type: ignore[list-item]
        pruning.join(30)
    assert pruned == [8]
    assert pg.ids() == [9, 10]
    assert pg.analyses_between(analysis_set.id, 1, COUNT) == {}


def _prune_or_error(store: PostgresStore) -> object:
    try:
        return store.prune(timedelta(0), keep_last=2)
    except Exception as error:  # noqa: BLE001 - the assertion shows it
        return error


def test_a_fill_that_saw_pruned_captures_stores_no_verdict_they_decided(
        pg: PostgresStore) -> None:
    """A fill analyses #1 and #2, someone prunes them, and the fill goes on: its session still
    calls #3 and #7 duplicates of them, so those rows are left to the next fill."""
    profile = _profile()
    fill = IndexFill(prepare(pg, profile), profile)
    batches = fill.run(pg, pg.ids(), batch=2)
    assert [row.capture_id for row in next(batches)] == [1, 2]
    assert pg.prune(timedelta(0), keep_last=COUNT - 2) == 2
    stale = {row.capture_id: row for rows in batches for row in rows}
    assert (stale[3].outcome, stale[7].outcome) == ("duplicate", "duplicate")
    stored = pg.analyses_between(fill.set.id, 1, COUNT)
    assert sorted(stored) == [4, 5, 6, 8, 9, 10]
    assert all(stored[i] == stale[i] for i in stored)
    index.fill(pg, profile)
    after = pg.analyses_between(fill.set.id, 1, COUNT)
    assert after == _replayed(pg, profile)
    assert (after[3].outcome, after[7].outcome) == ("fires", "fires")
