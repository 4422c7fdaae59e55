"""CapturedRequest's header lookups: where each name is, remembered by the names sent."""

from __future__ import annotations

from whdebug.model.request import CapturedRequest


def _request(*headers: tuple[str, str]) -> CapturedRequest:
    return CapturedRequest("POST", "/hook", headers=headers)


def test_requests_sending_the_same_names_read_their_own_values() -> None:
    first = _request(("X-Event", "push"), ("X-Id", "1"))
    second = _request(("X-Event", "ping"), ("X-Id", "2"))
    assert (first.header("x-event"), first.header("X-ID")) == ("push", "1")
    assert (second.header("x-event"), second.header("X-ID")) == ("ping", "2")
    assert second.header_values("X-Id") == ["2"]


def test_names_in_another_order_or_case_or_repeated_are_their_own_index() -> None:
    """The index is remembered by the exact names in order: a request whose names differ
    in order, case or repetition gets its own positions."""
    plain = _request(("A", "1"), ("B", "2"))
    swapped = _request(("B", "2"), ("A", "1"))
    cased = _request(("a", "1"), ("B", "2"))
    repeated = _request(("A", "1"), ("B", "2"), ("a", "3"))
    for request in (plain, swapped, cased):
        assert (request.header("a"), request.header("b")) == ("1", "2")
    assert repeated.header("A") == "1, 3"
    assert repeated.header_values("a") == ["1", "3"]
    assert plain.header_values("a") == ["1"]
    assert swapped.header("c") is None and not swapped.has_header("c")
    assert repeated.has_header("B")
