"""The TUI's `/` filter gives the same captures from the analysis index (SQL) as from
verdicts in memory (a store without the index, or rows not filled yet), letter case included:
both fold ASCII letters only, as SQLite's and PostgreSQL's C-collation lower() do."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from factories import NOW, SECRET, make_capture, make_definition

from whdebug.model.request import Secrets
from whdebug.store import index
from whdebug.store.index import IndexProfile
from whdebug.store.store import Store
from whdebug.tui.filters import parse_filter
from whdebug.tui.indexing import verdict_of

BODIES = [
    ({"event": "contact.created", "id": "a"}, {"path": "/miniapps/acme/Été"}),
    ({"event": "Deal.Won", "id": "b"}, {"path": "/miniapps/acme/été"}),
    ({"event": "ÉVÉNEMENT", "id": "c"}, {"path": "/miniapps/acme/ÉTÉ"}),
    ({"event": "événement", "id": "d"}, {"method": "PUT"}),
]
FILTERS = ["path:été", "path:Été", "path:ÉTÉ", "path:ACME", "event:ÉVÉNEMENT",
           "event:événement", "event:deal", "été", "-path:été", "outcome:FIRES",
           "method:put"]


@pytest.mark.parametrize("text", FILTERS)
def test_sql_and_memory_filters_agree(tmp_path: Path, text: str) -> None:
    profile = IndexProfile(make_definition(), Secrets({"webhookSecret": SECRET}))
    with Store.open(tmp_path / "c.db") as store:
        store.insert_many([make_capture(body, received_at=NOW + timedelta(seconds=n), **options)
                           for n, (body, options) in enumerate(BODIES)])
        analysis_set = index.fill(store, profile)
        rows = store.analyses_between(analysis_set.id, 1, len(BODIES))
        capture_filter = parse_filter(text)
        in_memory = sorted((s.id for s in store.page(limit=50)
                            if capture_filter.matches(s, verdict_of(rows[s.id]))), reverse=True)
        from_sql = store.filter_analyses(analysis_set.id, [
            (term.field, term.value, term.negate) for term in capture_filter.terms])
        assert from_sql == in_memory, (text, from_sql, in_memory)
