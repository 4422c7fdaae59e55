"""ReplaySession: arrival order, one dedupe history, seeding, the window and the summary."""

from __future__ import annotations

from factories import NOW, SECRET, make_definition, make_request

from whdebug.engine.reportline import encode_report
from whdebug.engine.session import ReplaySession
from whdebug.model.secrecy import MASK, Secrets

SECRETS = Secrets({"webhookSecret": SECRET})


def delivery(transaction: str, event: str = "deal.won") -> object:
    return make_request({"event": event, "id": transaction})


def session(window: int | None = None) -> ReplaySession:
    return ReplaySession(make_definition(), SECRETS, now=NOW, window=window)


def test_a_redelivery_is_a_duplicate_of_the_first() -> None:
    replay = session()
    reports = [replay.replay(delivery(t)) for t in ("a", "b", "a")]
    assert [r.outcome.status for r in reports] == ["fires", "fires", "duplicate"]
    assert reports[2].transaction.duplicate_of == "request"
    assert not replay.all_ok


def test_the_window_counts_requests_back() -> None:
    order = ("a", "b", "c", "a")
    assert [session(2).replay(delivery(t)).outcome.status for t in order][-1] == "fires"
    wide = session(3)
    assert [wide.replay(delivery(t)).outcome.status for t in order][-1] == "duplicate"


def test_seeded_requests_dedupe_but_are_not_counted() -> None:
    replay = session()
    replay.seed(delivery("a"))
    report = replay.replay(delivery("a"))
    assert report.outcome.status == "duplicate"
    assert replay.summary()["requests"] == 1
    assert replay.summary()["outcomes"] == {"duplicate": 1}


def test_a_rejected_request_does_not_claim_its_id() -> None:
    replay = session()
    rejected = make_request({"event": "deal.won", "id": "a"}, signature="00" * 32)
    assert replay.replay(rejected).outcome.status == "rejected"
    assert replay.replay(delivery("a")).outcome.status == "fires"


def test_summary_counts_outcomes_and_triggers_never_fired() -> None:
    replay = session()
    for transaction in ("a", "b"):
        replay.replay(delivery(transaction))
    assert replay.all_ok
    assert replay.summary() == {
        "schema": "whdebug.summary/1", "requests": 2, "outcomes": {"fires": 2},
        "triggers_never_fired": ["contact.created"]}


def test_a_secret_in_the_body_never_reaches_the_report() -> None:
    replay = session()
    report = replay.replay(delivery(SECRET))  # the transaction id is the secret itself
    assert report.transaction.id == MASK
    assert SECRET not in encode_report(report)


def test_check_then_settle_gives_the_replay_verdict() -> None:
    """The receiver's split (analyse, answer, settle in order) agrees with `replay`."""
    split, whole = session(), session()
    verdicts = []
    for number, transaction in enumerate(("a", "b", "a"), 1):
        report = split.check(delivery(transaction))
        assert report.transaction.duplicate_of is None  # check reads no history
        verdicts.append(split.settle(report.transaction.id, number))
    replayed = [whole.replay(delivery(t)) for t in ("a", "b", "a")]
    assert verdicts == [None, None, 1]
    assert [r.outcome.status for r in replayed][-1] == "duplicate"


def test_settle_counts_toward_the_window() -> None:
    replay = session(window=1)
    assert replay.settle("a", 1) is None
    assert replay.settle("b", 2) is None
    assert replay.settle("a", 3) is None  # "a" is two requests back: outside the window


def test_accepted_id_is_none_for_a_rejected_request() -> None:
    replay = session()
    rejected = make_request({"event": "deal.won", "id": "a"}, signature="00" * 32)
    assert replay.accepted_id(rejected) is None
    assert replay.accepted_id(delivery("a")) == "a"


def test_earlier_than_sees_only_earlier_captures() -> None:
    replay = session()
    for capture_id, transaction in ((1, "x"), (2, "y"), (3, "x")):
        replay.settle(transaction, capture_id)
    assert replay.earlier_than(3).lookup("x") == 1
    assert replay.earlier_than(1).lookup("x") is None  # its own id is new to it
    assert replay.earlier_than(2).lookup("y") is None
    report = replay.check(delivery("x"))
    view = replay.earlier_than(3)
    view.record("z", 3)  # the view is read-only
    assert replay.dedupe.lookup("z") is None and report.transaction.id == "x"


def test_restart_history_forgets_every_request() -> None:
    replay = session()
    replay.settle("a", 1)
    replay.restart_history()
    assert replay.settle("a", 2) is None
