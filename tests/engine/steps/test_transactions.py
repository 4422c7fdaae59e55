"""Transaction ids and dedupe across the requests of one replay."""

from __future__ import annotations

from factories import make_capture, make_definition, make_request, run

from whdebug.engine import DedupeIndex


def test_duplicate_detected_and_named() -> None:
    dedupe = DedupeIndex()
    first = run(make_capture(file="a.http"), dedupe=dedupe)
    second = run(make_capture(file="b.http"), dedupe=dedupe)
    assert first.outcome.status == "fires"
    assert second.outcome.status == "duplicate"
    assert second.transaction.duplicate_of == "a.http"
    assert "TX_DUPLICATE" in second.codes()


def test_capture_ids_are_the_duplicate_source() -> None:
    dedupe = DedupeIndex()
    run(make_capture(capture_id=3), dedupe=dedupe)
    again = run(make_capture(capture_id=9), dedupe=dedupe)
    assert again.transaction.duplicate_of == 3


def test_rejected_requests_do_not_count_as_seen() -> None:
    dedupe = DedupeIndex()
    run(make_request(signature="bad" * 10), dedupe=dedupe)
    assert run(make_request(), dedupe=dedupe).outcome.status == "fires"


def test_dedupe_window_forgets_ids_of_requests_further_back() -> None:
    dedupe = DedupeIndex(window=1)
    statuses = []
    for transaction in ("1", "2", "2", "1"):
        statuses.append(run(make_request({"event": "deal.won", "id": transaction}),
                            dedupe=dedupe).outcome.status)
        dedupe.advance()
    # the second "2" is one request after the first; the last "1" is three after its twin
    assert statuses == ["fires", "fires", "duplicate", "fires"]


def test_first_non_empty_path_wins() -> None:
    definition = make_definition(transactionId={"paths": ["$.missing", "$.id"]})
    assert run(make_request(), definition).transaction.id == "evt-1"


def test_separator_joins_all_paths() -> None:
    definition = make_definition(transactionId={"paths": ["$.id", "$.v"], "separator": ":"})
    report = run(make_request({"event": "deal.won", "id": "7", "v": 3}), definition)
    assert report.transaction.id == "7:3"


def test_override_for_event() -> None:
    definition = make_definition(
        transactionId={"paths": ["$.id"], "overrides": {"deal.won": {"paths": ["$.deal.id"]}}}
    )
    report = run(make_request({"event": "deal.won", "id": "1", "deal": {"id": "d9"}}), definition)
    assert report.transaction.id == "d9" and report.transaction.override == "deal.won"


def test_generate_fallback() -> None:
    definition = make_definition(transactionId={"paths": ["$.nope"], "fallback": "generate"})
    report = run(make_request(), definition)
    assert report.transaction.generated and report.transaction.id is None
    assert "TX_GENERATED" in report.codes()


def test_path_is_a_header() -> None:
    definition = make_definition(transactionId={"paths": ["$.delivery"]})
    request = make_request(headers=[("X-GitHub-Delivery", "abc")])
    report = run(request, definition)
    finding = next(f for f in report.findings if f.code == "TX_PATH_IS_HEADER")
    assert "X-GitHub-Delivery" in finding.message


def test_a_run_of_new_ids_is_recorded_as_one_at_a_time_would_be() -> None:
    """`record_new_run` enters a run only when none of its ids is a duplicate (of the
    history or within the run) and there is no window; otherwise it changes nothing."""
    one_by_one, at_once = DedupeIndex(), DedupeIndex()
    for index in (one_by_one, at_once):
        index.record("a", "first")
        index.advance()
    run: list[tuple[str | None, str | int]] = [("b", 1), (None, 2), ("c", 3)]
    for transaction_id, source in run:
        if transaction_id is not None:
            one_by_one.record(transaction_id, source)
        one_by_one.advance()
    assert at_once.record_new_run(run)
    for transaction_id in ("a", "b", "c", "d"):
        assert at_once.lookup(transaction_id) == one_by_one.lookup(transaction_id)
    assert len(at_once) == len(one_by_one) == 3
    at_once.record("d", 9)  # positions carry on as one at a time
    one_by_one.record("d", 9)
    assert at_once._seen == one_by_one._seen

    for refused in ([("e", 1), ("a", 2)], [("e", 1), ("e", 2)]):
        before = dict(at_once._seen)
        assert not at_once.record_new_run(refused)
        assert at_once._seen == before and at_once.lookup("e") is None
    windowed = DedupeIndex(window=3)
    assert not windowed.record_new_run([("x", 1)]) and windowed.lookup("x") is None
