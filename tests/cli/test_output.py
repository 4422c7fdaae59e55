"""The shared text helpers and the serve console sink of `whdebug.cli.output`."""

from __future__ import annotations

import io
import pickle
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from whdebug.cli.output.serve import ConsoleSink
from whdebug.cli.output.text import format_size, safe
from whdebug.receiver.app import CaptureEvent
from whdebug.receiver.relay import ForwardEvent
from whdebug.wording import plural

RECEIVED = datetime(2025, 11, 24, 16, 0, 5, tzinfo=UTC)


class TestText:
    @pytest.mark.parametrize(("size", "shown"), [
        (0, "0 B"), (999, "999 B"), (1000, "1.0 KB"), (7049, "7.0 KB"), (275_000, "275.0 KB"),
        (1_150_001, "1.2 MB"),  # rounded once, not truncated per unit first
        (1_149_999, "1.1 MB"), (25_000_000, "25.0 MB"), (3_210_000_000, "3.2 GB"),
        (2_500_000_000_000, "2500.0 GB"),
    ])
    def test_format_size(self, size: int, shown: str) -> None:
        assert format_size(size) == shown

    @given(st.integers(min_value=0, max_value=10**15)
           | st.sampled_from([999, 1000, 999_999, 1_000_000, 999_999_999, 10**9]))
    def test_format_size_picks_riches_unit(self, size: int) -> None:
        """The hand-unrolled units agree with rich's pick_unit_and_suffix everywhere."""
        from rich.filesize import pick_unit_and_suffix

        unit, suffix = pick_unit_and_suffix(size, ["B", "KB", "MB", "GB"], 1000)
        assert format_size(size) == (f"{size} B" if unit == 1
                                     else f"{size / unit:.1f} {suffix}")

    def test_plural(self) -> None:
        assert plural(1, "request") == "1 request"
        assert plural(0, "request") == "0 requests"
        assert plural(1234, "request") == "1234 requests"
        assert plural(1234, "capture", grouped=True) == "1,234 captures"
        assert plural(1, "header", grouped=True) == "1 header"

    def test_safe_escapes_controls_and_bounds_length(self) -> None:
        assert safe("a\x1b[31mb\u200bc") == "a\\x1b[31mb\\u200bc"
        assert safe("x" * 10, limit=5) == "xxxx…"


class TestConsoleSink:
    def test_lines_in_arrival_order_plain_without_colour(self) -> None:
        output = io.StringIO()
        sink = ConsoleSink(Console(file=output, width=200))
        sink.lines([
            CaptureEvent(7, RECEIVED, "POST", "/hook", "a=1", 1_150_001, False, 200),
            ForwardEvent(7, "http://127.0.0.1:3000/hook", 502, None),
            ForwardEvent(8, "http://127.0.0.1:3000/hook", 200, None, 0.0414),
        ])
        sink.lines([])
        first, second, third = output.getvalue().splitlines()
        assert first.endswith("  POST /hook?a=1  1.2 MB  -> 200  #7")
        assert second == "  ↳ #7 forwarded to http://127.0.0.1:3000/hook -> 502"
        assert third == "  ↳ #8 forwarded to http://127.0.0.1:3000/hook -> 200 in 41 ms"
        assert "\x1b" not in output.getvalue()

    def test_exposed_warning_goes_to_the_error_console(self) -> None:
        output, errors = io.StringIO(), io.StringIO()
        ConsoleSink(Console(file=output), Console(file=errors, width=400)).exposed("0.0.0.0")
        assert output.getvalue() == ""
        assert errors.getvalue().startswith("whdebug: WARNING: listening on 0.0.0.0, which is "
                                            "not loopback")

    def test_only_a_stdout_sink_goes_to_the_analyst_process(self) -> None:
        assert ConsoleSink(Console(file=io.StringIO())).for_child() is None
        sink = ConsoleSink(Console(width=123, color_system="256", force_terminal=True))
        child = sink.for_child()
        assert child is sink
        copy = pickle.loads(pickle.dumps(child))
        assert (copy.console.width, copy.console.color_system) == (123, "256")
        assert copy.error_console.stderr
