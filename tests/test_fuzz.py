"""The seeded CLI fuzz test (issue 10): 2,000 mutated inputs, no internal error, none slow.

Mutated .http, HAR, capture JSON, definitions (JSON, JSON5, a JS literal, and JSON with a
field replaced by another value), credentials files and sample folders go through `whdebug`'s
entry point in-process (tests/fuzzing.py). Every run exits 0, 1 or 2 without "internal error"
and within 5 s. The seed is fixed, so CI replays the same 2,000 cases; bench/fuzz.py runs more.
"""

from __future__ import annotations

from pathlib import Path

from fuzzing import SLOW, fuzz

SEED = 20261203
CASES = 2000


def test_two_thousand_mutated_inputs_never_crash_the_cli(tmp_path: Path) -> None:
    tally = fuzz(CASES, SEED, tmp_path)
    report = "\n".join(
        f"{f.kind}: whdebug {' '.join(f.args)} -> exit {f.exit_code} in {f.seconds:.2f} s\n"
        f"{f.output}" for f in tally.failures)
    assert not tally.failures, report
    assert tally.cases == CASES and tally.runs > CASES
    assert set(tally.exit_codes) == {0, 1, 2}, tally.exit_codes
    # the mutations reach the analysis, not only the parsers' error messages
    assert tally.exit_codes[0] + tally.exit_codes[1] >= CASES // 3, tally.exit_codes
    assert set(tally.kinds) == {"http", "har", "capture", "definition", "tree", "credentials",
                                "samples", "payload", "rpc"}
    assert tally.slowest < SLOW
