"""Engine throughput and large-body cost, as ratios against bare baselines in the same run.

    python bench/engine.py [--seconds 3] [--large-mib 64]

1. Reports per second for ~2 KB GitHub-style bodies with a passing signature and composite
   extraction (SPEC 8 target: >= 20,000/s on one core), beside a bare json.loads + HMAC loop;
   with the definition compiled once (a Plan, as replay uses it) and, for callers that still
   pass a Definition, compiled on every call.
2. Analysing a 64 MiB body with a passing signature, divided by one bare hashlib
   HMAC-SHA256 of the same bytes (target: <= 1.25).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from replay import github_body  # noqa: E402  (bench/ is on sys.path as the script's folder)

from whdebug.engine import DedupeIndex, analyze  # noqa: E402
from whdebug.engine.plan import compile_definition  # noqa: E402
from whdebug.model.definition import load_definition  # noqa: E402
from whdebug.model.request import CapturedRequest, Secrets  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-value"
NOW = datetime(2025, 11, 24, 16, 0, tzinfo=UTC)


def github_request(index: int, size: int = 2048) -> CapturedRequest:
    """The SPEC workload's request (bench/replay.py builds the same body)."""
    body = github_body(index, size)
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = (
        ("Content-Type", "application/json"),
        ("X-GitHub-Event", "pull_request"),
        ("X-GitHub-Delivery", f"d-{index}"),
        ("X-Hub-Signature-256", signature),
    )
    return CapturedRequest("POST", "/miniapps/github/webhooks", headers=headers, body=body)


def rate(fn, seconds: float) -> float:
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(200):
            fn()
        count += 200
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--large-mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    loaded = load_definition(ROOT / "fixtures" / "definitions" / "github.json")
    definition = compile_definition(loaded)
    secrets = Secrets({"webhookSecret": SECRET})
    requests = [github_request(i) for i in range(1000)]
    sample = analyze(requests[0], definition, secrets, now=NOW)
    assert sample.outcome.status == "fires" and sample.signature.verdict == "pass", sample.outcome
    window = DedupeIndex(window=500)
    statuses = set()
    for request in requests + requests:
        statuses.add(analyze(request, definition, secrets, now=NOW, dedupe=window).outcome.status)
        window.advance()  # the window counts requests, as ReplaySession advances it
    assert statuses == {"fires"}, statuses
    print(f"body size {len(requests[0].body)} bytes; outcome {sample.outcome.summary}")

    engine_rates, bare_rates, uncompiled_rates = [], [], []
    for _ in range(args.rounds):
        counter = iter(range(10**9))
        # a window shorter than the 1,000-request cycle: every report is a new delivery
        dedupe = DedupeIndex(window=500)

        def one(counter=counter, dedupe=dedupe) -> None:  # type: ignore[no-untyped-def]
            request = requests[next(counter) % 1000]
            analyze(request, definition, secrets, now=NOW, dedupe=dedupe)
            dedupe.advance()

        def uncompiled(counter=counter, dedupe=dedupe) -> None:  # type: ignore[no-untyped-def]
            request = requests[next(counter) % 1000]
            analyze(request, loaded, secrets, now=NOW, dedupe=dedupe)
            dedupe.advance()

        def bare(counter=counter) -> None:  # type: ignore[no-untyped-def]
            request = requests[next(counter) % 1000]
            json.loads(request.body)
            hmac.digest(SECRET.encode(), request.body, "sha256")

        engine_rates.append(rate(one, args.seconds))
        bare_rates.append(rate(bare, args.seconds))
        uncompiled_rates.append(rate(uncompiled, args.seconds))
    engine_rate = statistics.median(engine_rates)
    bare_rate = statistics.median(bare_rates)
    print(f"engine: {engine_rate:,.0f} reports/s (median of {args.rounds}; target >= 20,000)")
    print(f"engine, Definition compiled on every call: "
          f"{statistics.median(uncompiled_rates):,.0f} reports/s")
    print(
        f"bare json.loads + HMAC: {bare_rate:,.0f}/s; engine/bare = {engine_rate / bare_rate:.3f}"
    )

    size = args.large_mib * 1024 * 1024
    prefix = b'{"action":"opened","pull_request":{"id":1},"blob":"'
    body = prefix + b"a" * (size - len(prefix) - 2) + b'"}'
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    large = CapturedRequest(
        "POST",
        "/miniapps/github/webhooks",
        headers=(
            ("Content-Type", "application/json"),
            ("X-GitHub-Event", "pull_request"),
            ("X-Hub-Signature-256", signature),
        ),
        body=body,
    )
    ratios = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
        bare_seconds = time.perf_counter() - start
        start = time.perf_counter()
        report = analyze(large, definition, secrets, now=NOW)
        engine_seconds = time.perf_counter() - start
        assert report.signature.verdict == "pass"
        ratios.append(engine_seconds / bare_seconds)
        print(
            f"  {args.large_mib} MiB: bare HMAC {bare_seconds * 1000:.1f} ms, "
            f"analyze {engine_seconds * 1000:.1f} ms"
        )
    print(f"large body: analyze/bare HMAC = {statistics.median(ratios):.2f} (target <= 1.25)")


if __name__ == "__main__":
    main()
