"""A replay spread over worker processes gives the same reports, byte for byte, and the same
summary as one replayed in order in this process."""

from __future__ import annotations

import pytest
from factories import NOW, SECRET, make_capture, make_definition

from whdebug.engine import parallel
from whdebug.engine.parallel import replay_many
from whdebug.engine.session import ReplaySession
from whdebug.model.request import Capture, Secrets


def captures() -> list[Capture]:
    """New deliveries, redeliveries (also across chunks), wrong signatures, no event, and a
    body holding the secret (its report is scrubbed)."""
    found = []
    for i in range(40):
        ident = f"evt-{(i - (i % 4 == 0)) % 13}"  # ids come back: duplicates near and far
        body = {"event": "contact.created" if i % 5 else "deal.won", "id": ident}
        options = {}
        if i % 7 == 3:
            options["signature"] = "0" * 64
        if i % 11 == 4:
            body = {"id": f"x-{i}", "note": SECRET}
        if i % 9 == 8:
            body = {"id": f"n-{i}"}
        found.append(make_capture(body, file=f"f#{i}", **options))
    return found


def session(window: int | None) -> ReplaySession:
    return ReplaySession(make_definition(), Secrets({"webhookSecret": SECRET}), now=NOW,
                         window=window)


@pytest.mark.parametrize("window", [None, 5])
def test_workers_give_the_reports_of_one_process(monkeypatch: pytest.MonkeyPatch,
                                                 window: int | None) -> None:
    monkeypatch.setattr(parallel, "CHUNK", 3)
    requests = captures()
    alone = session(window)
    expected = [alone.replay_line(capture)[1] for capture in requests]
    spread = session(window)
    results = list(replay_many(spread, requests, workers=2, keep_fired=False))
    assert [r.line for r in results] == expected
    assert spread.summary() == alone.summary() and spread.all_ok == alone.all_ok
    statuses = {r.status for r in results}
    assert {"fires", "duplicate", "rejected", "no-event"} <= statuses
    assert SECRET not in "".join(expected) and "[masked]" in "".join(expected)
    # the one-line view's fields, and a report for each request that does not fire
    assert all((r.report is None) == (r.status == "fires") for r in results)
    assert all(r.top_code == (r.report.findings[0].code if r.report.findings else None)
               for r in results if r.report is not None)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_one_row_view_skips_only_the_fired_lines(monkeypatch: pytest.MonkeyPatch,
                                                     workers: int) -> None:
    """Without lines (replay's one-row text view) every request keeps its row fields and
    every report that does not fire its line; a fired request's line is "" and a secret in
    its event is masked all the same."""
    monkeypatch.setattr(parallel, "CHUNK", 3)
    requests = captures()
    leak = make_capture({"event": SECRET, "id": "leak"}, file="f#leak")
    requests.append(leak)
    definition = make_definition()
    definition.data["triggers"].append({**definition.data["triggers"][0], "event": SECRET})

    def fresh() -> ReplaySession:
        return ReplaySession(definition, Secrets({"webhookSecret": SECRET}), now=NOW)
    full = list(replay_many(fresh(), requests, workers=workers))
    rows = list(replay_many(fresh(), requests, workers=workers, keep_fired=False,
                            lines=False))
    assert [(r.status, r.event, r.verdict, r.top_code) for r in rows] == [
        (r.status, r.event, r.verdict, r.top_code) for r in full]
    assert [r.line for r in rows[:-1]] == [r.line if r.status != "fires" else ""
                                           for r in full[:-1]]
    assert all((r.report is None) == (r.status == "fires") for r in rows)
    # the fired request with the secret in its event: scrubbed (its line made to find it)
    assert rows[-1].status == "fires" and rows[-1].event == "[masked]"
    assert rows[-1].line == full[-1].line and SECRET not in rows[-1].line


def test_few_requests_or_one_worker_replay_here() -> None:
    assert parallel.worker_count(10) == 1
    requests = captures()[:5]
    results = list(replay_many(session(None), requests, workers=1))
    assert all(r.report is not None for r in results)


def test_workers_keep_fixes_that_spare_earlier_fired_requests(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """orders/updated fires in an earlier chunk: the near miss orders/updatd in a later chunk
    gets 'add a trigger' (a rename would break the earlier delivery), as in one process."""
    import base64
    import copy
    import hashlib
    import hmac
    import json

    from paths import REPO

    from whdebug.model.definition import Definition, load_definition

    monkeypatch.setattr(parallel, "CHUNK", 2)
    data = copy.deepcopy(load_definition(REPO / "tests" / "docs_corpus" / "shopify.js").data)

    def shopify(topic: str, order_id: int) -> Capture:
        body = json.dumps({"id": order_id, "email": "jon@example.com"}).encode()
        digest = base64.b64encode(hmac.new(b"shpss", body, hashlib.sha256).digest()).decode()
        return make_capture(body, signature=None, path="/miniapps/shopify/webhooks",
                            file=f"s#{order_id}", headers=[("X-Shopify-Topic", topic),
                                                            ("X-Shopify-Hmac-Sha256", digest)])

    requests = [shopify("orders/updatd", 1), shopify("orders/updated", 2),
                shopify("orders/create", 3), shopify("orders/updatd", 4),
                shopify("orders/updatd", 5)]

    def fresh() -> ReplaySession:
        return ReplaySession(Definition(data), Secrets({}, {"webhookSecret": "shpss"}), now=NOW)

    alone = fresh()
    expected = [alone.replay_line(capture)[1] for capture in requests]
    spread = fresh()
    lines = [r.line for r in replay_many(spread, requests, workers=2)]
    assert lines == expected
    assert spread.summary() == alone.summary()
    first, later = json.loads(lines[0]), json.loads(lines[3])
    assert first["outcome"]["status"] == later["outcome"]["status"] == "no-trigger"
    assert first != later  # the same near miss, before and after orders/updated fired
    fixes = [f["fix"] for f in later["findings"] if f["code"] == "EVT_NEAR_MISS"]
    assert fixes and "add a trigger" in fixes[0]
