"""The analysis index: verdicts kept per definition fingerprint, filled in arrival order,
carried over when a definition edit cannot change them, and filtered in SQL."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from factories import NOW, SECRET, make_capture, make_definition

from whdebug.engine import AnalysisOptions
from whdebug.model.request import Secrets
from whdebug.store import fingerprints, index
from whdebug.store.index import IndexFill, IndexProfile, prepare, row_of
from whdebug.store.store import Store

SECRETS = Secrets({"webhookSecret": SECRET}, {})


def _captures() -> list:
    """Accepted, rejected, duplicate and no-trigger captures, in arrival order."""
    bodies = [
        ({"event": "contact.created", "id": "a"}, "auto"),
        ({"event": "deal.won", "id": "b"}, "auto"),
        ({"event": "contact.created", "id": "a"}, "auto"),  # duplicate of #1
        ({"event": "contact.created", "id": "c"}, "0" * 64),  # rejected
        ({"event": "deal.lost", "id": "d"}, "auto"),  # no trigger
        ({"event": "deal.won", "id": "b"}, "0" * 64),  # rejected, would be a duplicate
        ({"event": "deal.won", "id": "b"}, "auto"),  # duplicate of #2
        ({"id": "e"}, "auto"),  # no event
    ]
    return [make_capture(body, signature=signature,
                         received_at=NOW + timedelta(seconds=number))
            for number, (body, signature) in enumerate(bodies)]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store.open(tmp_path / "captures.db") as opened:
        opened.insert_many(_captures())
        yield opened


def _profile(**webhook: object) -> IndexProfile:
    return IndexProfile(make_definition(**webhook), SECRETS)


def _replayed(store: Store, profile: IndexProfile) -> dict[int, object]:
    session = profile.session()
    return {capture_id: row_of(capture_id, session.replay(store.get(capture_id)))
            for capture_id in store.ids()}


def test_index_rows_equal_a_replay_session_even_when_the_fill_resumes(store: Store) -> None:
    profile = _profile()
    analysis_set = prepare(store, profile)
    ids = store.ids()
    first = IndexFill(analysis_set, profile)
    for _ in first.run(store, ids[:4]):  # stops after #4, as a closed TUI would
        pass
    second = IndexFill(analysis_set, profile)  # a new session: settles #1..#4 from the rows
    rows = [row for batch in second.run(store, ids, batch=3) for row in batch]
    assert second.computed == 4
    expected = _replayed(store, profile)
    assert {row.capture_id: row for row in rows} == expected
    assert store.analyses_between(analysis_set.id, 1, 8) == expected
    outcomes = [expected[i].outcome for i in ids]  # type: ignore[attr-defined]
    assert outcomes == ["fires", "fires", "duplicate", "rejected", "no-trigger", "rejected",
                        "duplicate", "no-event"]
    assert expected[7].duplicate_of == 2  # type: ignore[attr-defined]


def test_a_fill_in_worker_processes_gives_the_rows_of_one_session(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from whdebug.engine import parallel

    # Redeliveries far apart (their originals are in other workers' chunks), rejected ones
    # between them, and rows a stopped fill left behind: dedupe stays in arrival order.
    bodies = []
    for round_ in range(5):
        bodies += [({"event": "contact.created", "id": f"r{round_ % 3}"}, "auto"),
                   ({"event": "deal.won", "id": f"w{round_}"}, "0" * 64),
                   ({"event": "deal.lost", "id": f"l{round_}"}, "auto"),
                   ({"event": "deal.won", "id": "w0"}, "auto"),
                   ({"id": "none"}, "auto")] * 3
    captures = [make_capture(body, signature=signature, received_at=NOW + timedelta(seconds=n))
                for n, (body, signature) in enumerate(bodies)]
    with Store.open(tmp_path / "captures.db") as opened:
        opened.insert_many(captures)
        profile = _profile()
        expected = _replayed(opened, profile)
        analysis_set = prepare(opened, profile)
        ids = opened.ids()
        for _ in IndexFill(analysis_set, profile).run(opened, ids[:7]):
            pass
        calls: list[int] = []
        replay_many = parallel.replay_many

        def spy(session, batch, **options):  # type: ignore[no-untyped-def]
            calls.append(len(batch))
            return replay_many(session, batch, **options)

        monkeypatch.setattr(parallel, "replay_many", spy)
        monkeypatch.setattr(parallel, "CHUNK", 4)
        monkeypatch.setattr(index, "PARALLEL_RUN", 10)
        fill = IndexFill(analysis_set, profile)
        rows = [row for batch in fill.run(opened, ids, batch=40, workers=2) for row in batch]
        assert calls == [33, 35]  # two batches' missing runs went to the workers
        assert fill.computed == len(ids) - 7
        assert {row.capture_id: row for row in rows} == expected
        assert opened.analyses_between(analysis_set.id, 1, len(ids)) == expected
    outcomes = {row.outcome for row in expected.values()}  # type: ignore[attr-defined]
    assert outcomes == {"fires", "duplicate", "rejected", "no-trigger", "no-event"}


def test_a_rows_json_line_gives_the_row_of_its_report(store: Store) -> None:
    store.insert(make_capture({"event": "deal.\ud800", "id": "x"}))  # a lone surrogate
    session = _profile().session()
    for capture_id in store.ids():
        report, line = session.replay_line(store.get(capture_id))
        assert index.row_of_line(capture_id, line) == row_of(capture_id, report)


def test_replacing_rows_replaces_their_codes(store: Store) -> None:
    analysis_set = index.fill(store, _profile())
    assert store.filter_analyses(analysis_set.id, [("code", "SIG_MISMATCH", False)]) == [6, 4]
    rows = store.analyses_between(analysis_set.id, 4, 6)
    store.put_analyses(analysis_set.id, [replace(rows[4], codes=("TX_DUPLICATE",)), rows[5]])
    assert store.filter_analyses(analysis_set.id, [("code", "SIG_MISMATCH", False)]) == [6]
    assert store.filter_analyses(analysis_set.id, [("code", "TX_DUP", False)]) == [7, 4, 3]


def test_counts_and_filters_are_sql_over_the_rows(store: Store) -> None:
    analysis_set = index.fill(store, _profile())
    assert store.analysis_counts(analysis_set.id) == {
        "fires": 2, "duplicate": 2, "rejected": 2, "no-trigger": 1, "no-event": 1}
    assert store.filter_analyses(analysis_set.id, [("code", "sig_mis", False)]) == [6, 4]
    assert store.filter_analyses(analysis_set.id, [("outcome", "dup", False)]) == [7, 3]
    assert store.filter_analyses(analysis_set.id, [("event", "deal", False),
                                                   ("outcome", "rejected", True)]) == [7, 5, 2]
    assert store.filter_analyses(analysis_set.id, [(None, "tx_dup", False)]) == [7, 3]
    assert store.filter_analyses(analysis_set.id, [("code", "SIG_", False)],
                                 first=5, last=8) == [6]
    # Without a set only path and method can match (as an unanalysed capture in the TUI).
    assert store.filter_analyses(None, [("outcome", "fires", False)]) == []
    assert len(store.filter_analyses(None, [("path", "/miniapps/acme", False)])) == 8


def test_a_secret_change_recomputes_everything(store: Store) -> None:
    before = index.fill(store, _profile())
    changed = IndexProfile(make_definition(), Secrets({"webhookSecret": "other"}, {}))
    after = prepare(store, changed)
    assert after.id != before.id and after.created
    assert store.analyses_between(after.id, 1, 8) == {}  # nothing carried over
    index.fill(store, changed)
    assert store.analysis_counts(after.id) == {"rejected": 8}


def test_a_trigger_edit_keeps_rejected_rows_and_recomputes_the_rest(store: Store) -> None:
    before = index.fill(store, _profile())
    kept = store.analyses_between(before.id, 1, 8)
    triggers = [{"type": "miniapps:acme", "event": "contact.created"},
                {"type": "miniapps:acme", "event": "deal.lost"}]
    edited = _profile(triggers=triggers)
    after = prepare(store, edited)
    carried = store.analyses_between(after.id, 1, 8)
    assert sorted(carried) == [4, 6]  # the rejected captures: verification decides them
    assert all(carried[i] == kept[i] for i in carried)
    fill = IndexFill(after, edited)
    rows = {row.capture_id: row for batch in fill.run(store, store.ids()) for row in batch}
    assert fill.computed == 6
    assert rows == _replayed(store, edited)
    assert rows[5].outcome == "fires" and rows[2].outcome == "no-trigger"


def test_an_event_extraction_edit_also_recomputes_rejected_rows(store: Store) -> None:
    index.fill(store, _profile())
    edited = _profile(eventExtraction={"source": "body", "path": "$.id"})
    after = prepare(store, edited)
    assert store.analyses_between(after.id, 1, 8) == {}  # no challenge captures here
    index.fill(store, edited)
    assert store.analyses_between(after.id, 4, 4)[4].if_event == "c"


def test_the_same_fingerprint_reopens_its_set_and_computes_nothing(store: Store) -> None:
    first = index.fill(store, _profile())
    again = prepare(store, _profile())
    assert (again.id, again.created) == (first.id, False)
    fill = IndexFill(again, _profile())
    assert sum(len(rows) for rows in fill.run(store, store.ids())) == 8
    assert fill.computed == 0


def test_fingerprints_hold_no_secret_and_depend_on_the_store_salt(store: Store,
                                                                   tmp_path: Path) -> None:
    profile = IndexProfile(make_definition(), Secrets({"webhookSecret": "hunter2-secret"}, {}))
    analysis_set = prepare(store, profile)
    with Store.open(tmp_path / "other.db") as other:
        assert prepare(other, profile).fingerprint != analysis_set.fingerprint
    raw = (tmp_path / "captures.db").read_bytes()
    wal = tmp_path / "captures.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert b"hunter2-secret" not in raw
    connection = sqlite3.connect(tmp_path / "captures.db")
    parts = connection.execute("SELECT parts FROM analysis_sets").fetchall()
    connection.close()
    assert all("hunter2" not in text for (text,) in parts)


def _parts_but_findings(profile: IndexProfile) -> dict[str, bytes]:
    options = profile.options
    return fingerprints.parts_but_findings(
        profile.definition.data, profile.secrets,
        fingerprints.options_part(options.missing_part, options.nullish, options.diagnose,
                                  options.expected_body, len(options.peers)),
        profile.now, None)


def test_a_set_is_found_from_every_part_but_the_findings(store: Store) -> None:
    """The TUI's first frame finds the set without the engine (no Plan, no findings): the
    set `prepare` opens for the same profile, and none for a profile that differs in any
    part, even with the other sets in the store."""
    profiles = {
        "same": _profile(),
        "credentials": IndexProfile(make_definition(), Secrets({"webhookSecret": "other"}, {})),
        "config": IndexProfile(make_definition(), Secrets({"webhookSecret": SECRET},
                                                          {"region": "eu"})),
        "trigger": _profile(triggers=[{"event": "deal.won"}]),
        "verification": _profile(verification=None),
        "options": replace(_profile(), options=AnalysisOptions(missing_part="skip")),
        "clock": replace(_profile(), now=NOW),
    }
    wanted = prepare(store, profiles["same"])
    assert wanted.parts.keys() == {*_parts_but_findings(profiles["same"]), "findings"}
    salt = store.analysis_salt()
    same = _parts_but_findings(_profile())
    for name, profile in profiles.items():
        made = prepare(store, profile)  # the most recently used set, among the older ones
        parts = _parts_but_findings(profile)
        found = fingerprints.set_without_findings(store.other_analysis_sets(-1), salt, parts)
        assert found is not None and found.id == made.id, name
        if name != "same":
            assert made.id != wanted.id, name
            assert fingerprints.set_without_findings([wanted], salt, parts) is None, name
            assert fingerprints.set_without_findings([made], salt, same) is None, name


def test_a_set_with_other_part_names_is_not_taken_for_the_profile(store: Store) -> None:
    """A set made by another whdebug (a part more or less) is never read as this one's."""
    profile = _profile()
    wanted = prepare(store, profile)
    parts = _parts_but_findings(profile)
    salt = store.analysis_salt()
    more = replace(wanted, parts={**wanted.parts, "extra": "0" * 64})
    fewer = replace(wanted, parts={k: v for k, v in wanted.parts.items() if k != "findings"})
    assert fingerprints.set_without_findings([more, fewer], salt, parts) is None
    assert fingerprints.set_without_findings([more, fewer, wanted], salt, parts) == wanted


def test_deleting_a_capture_drops_the_rows_its_dedupe_decided(store: Store) -> None:
    analysis_set = index.fill(store, _profile())
    store.delete(1)
    rows = store.analyses_between(analysis_set.id, 1, 8)
    assert 1 not in rows and 3 not in rows  # #3 was its duplicate: now new
    assert 2 in rows and 7 in rows
    index.fill(store, _profile())
    profile = _profile()
    assert store.analyses_between(analysis_set.id, 1, 8) == _replayed(store, profile)
    assert store.analyses_between(analysis_set.id, 3, 3)[3].outcome == "fires"


def test_a_version_1_store_migrates_and_keeps_its_captures(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from whdebug.store import store as store_module

    path, current = tmp_path / "old.db", tmp_path / "current.db"
    with Store.open(current) as new:
        new.insert_many(_captures())
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:1])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 1)
    with Store.open(path):
        pass
    monkeypatch.undo()
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone()[0] == 1
    connection.execute("ATTACH DATABASE ? AS current", (str(current),))
    for table in ("captures", "bodies"):  # the rows as a version-1 store holds them
        columns = ", ".join(row[1] for row in connection.execute(f"PRAGMA table_info({table})"))
        connection.execute(f"INSERT INTO {table} ({columns}) "
                           f"SELECT {columns} FROM current.{table}")
    connection.commit()
    connection.close()
    with Store.open(path) as migrated:
        assert migrated.count() == 8
        analysis_set = index.fill(migrated, _profile())
        assert sum(migrated.analysis_counts(analysis_set.id).values()) == 8
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone()[0] == store_module.SCHEMA_VERSION
    connection.close()


def test_pruning_forgets_the_verdicts_that_saw_the_pruned_captures(tmp_path: Path) -> None:
    """#3 and #7 were duplicates of #1 and #2; once those are pruned, they are new."""
    with Store.open(tmp_path / "c.db") as store:
        store.insert_many(_captures())
        analysis_set = index.fill(store, _profile())
        before = store.analyses_between(analysis_set.id, 1, 8)
        assert (before[3].outcome, before[7].outcome) == ("duplicate", "duplicate")
        assert store.prune(timedelta(0), keep_last=6) == 2
        assert store.analyses_between(analysis_set.id, 1, 8) == {}
        analysis_set = index.fill(store, _profile())
        after = store.analyses_between(analysis_set.id, 1, 8)
    assert sorted(after) == [3, 4, 5, 6, 7, 8]
    assert (after[3].outcome, after[7].outcome) == ("fires", "fires")


class _OneByOne:
    """The store without range reads (as another store may be): every other call goes to it."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        if name == "captures_between":
            raise AttributeError(name)
        return getattr(self._store, name)


@pytest.mark.parametrize("shared", [False, True], ids=["plain", "tui-shared"])
def test_a_store_without_range_reads_fills_the_same_rows(store: Store, shared: bool) -> None:
    from whdebug.tui.analysis import SharedStore

    profile = _profile()
    analysis_set = prepare(store, profile)
    reader = SharedStore(_OneByOne(store)) if shared else _OneByOne(store)  # type: ignore[arg-type]
    fill = IndexFill(analysis_set, profile)
    rows = {row.capture_id: row for batch in fill.run(reader, store.ids(), batch=3)  # type: ignore[arg-type]
            for row in batch}
    assert fill.computed == 8
    assert rows == _replayed(store, profile)


def test_a_fill_that_saw_pruned_captures_stores_no_verdict_they_decided(store: Store) -> None:
    """A fill analyses #1 and #2, another process prunes them, and the fill goes on: its
    session still calls #3 and #7 duplicates of them, and would store rows for #1 and #2
    themselves; those rows are left out and the next fill decides them again (as on
    PostgreSQL)."""
    profile = _profile()
    fill = IndexFill(prepare(store, profile), profile)
    batches = fill.run(store, store.ids(), batch=2)
    assert [row.capture_id for row in next(batches)] == [1, 2]
    assert store.prune(timedelta(0), keep_last=6) == 2
    stale = {row.capture_id: row for rows in batches for row in rows}
    assert (stale[3].outcome, stale[7].outcome) == ("duplicate", "duplicate")
    stored = store.analyses_between(fill.set.id, 1, 8)
    assert sorted(stored) == [4, 5, 6, 8]
    assert all(stored[i] == stale[i] for i in stored)
    assert sum(store.analysis_counts(fill.set.id).values()) == 4
    index.fill(store, profile)
    after = store.analyses_between(fill.set.id, 1, 8)
    assert after == _replayed(store, profile)
    assert (after[3].outcome, after[7].outcome) == ("fires", "fires")
