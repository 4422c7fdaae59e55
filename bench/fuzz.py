"""The command-line fuzzer, longer than the test's 2,000 cases.

    python bench/fuzz.py [N] [SEED] [--keep DIR]

Runs N mutated inputs (default 20,000) from SEED (default 1) through `whdebug`'s entry point
in-process (tests/fuzzing.py) and prints the counts: cases by kind, exit codes, the slowest
run, and each failure (an internal error, an exit code other than 0/1/2, or a run over 5 s)
with its arguments; the failing inputs are kept under --keep (default: a temporary directory).
Exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fuzzing import fuzz  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=20_000)
    parser.add_argument("seed", nargs="?", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None,
                        help="where to keep failing inputs (default: a temporary directory)")
    options = parser.parse_args()
    work = options.keep or Path(tempfile.mkdtemp(prefix="whdebug-fuzz-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tally = fuzz(options.count, options.seed, work)
    elapsed = time.perf_counter() - started
    print(f"cases {tally.cases}, commands run {tally.runs} in {elapsed:.1f} s "
          f"(seed {options.seed}); "
          f"slowest run {tally.slowest:.2f} s")
    print("kinds " + ", ".join(f"{kind} {n}" for kind, n in sorted(tally.kinds.items())))
    print("exit codes " + ", ".join(f"{code}: {n}" for code, n in sorted(tally.exit_codes.items())))
    print(f"failures {len(tally.failures)} (inputs kept under {work})")
    for failure in tally.failures:
        print(f"- {failure.kind} exit {failure.exit_code} {failure.seconds:.2f} s: "
              f"whdebug {' '.join(failure.args)}")
        print("  " + failure.output.strip().splitlines()[-1][:300] if failure.output.strip()
              else "  (no output)")
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
