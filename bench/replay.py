"""Replay through the `whdebug` command, end to end, as ratios against bare baselines in one run.

    python bench/replay.py [--requests 20000] [--rounds 3] [--large-mib 64] [--workdir DIR]

Every figure runs `python -m whdebug` (this checkout) in a subprocess, the way a user meets it,
and subtracts a one-request run of the same command (process start-up; SPEC section 8):

1. `replay --file N.har --json`: reports per second for the SPEC workload (~2 KB GitHub
   bodies, passing signature, composite event, a new delivery each), beside a bare python that
   reads the HAR with `json`, base64-decodes each body and computes one HMAC per request
   (target >= 30,000/s, goal 50,000).
2. `replay --file N.har` (human text): requests per second (target >= 20,000/s).
3. `replay --file big.http` with a 64 MiB passing body: wall time divided by a bare python that
   reads the file and computes one HMAC-SHA256 of it (target <= 1.25), and peak RSS above the
   interpreter's baseline divided by the body size (target <= 1.3).

The machine may be shared: run it a few times and compare medians.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = ROOT / "fixtures" / "definitions" / "github.json"
SECRET = "bench-secret-value"
NOW = "2025-11-24T16:00:00Z"


def github_body(index: int, size: int = 2048) -> bytes:
    document = {
        "action": "opened",
        "number": index,
        "pull_request": {
            "id": index,
            "node_id": f"PR_bench{index}",
            "title": "x" * 40,
            "updated_at": "2025-11-24T15:59:58Z",
            "body": "",
        },
        "repository": {"id": 9001, "full_name": "acme/shop"},
    }
    padding = size - len(json.dumps(document, separators=(",", ":")))
    document["pull_request"]["body"] = "b" * max(padding, 0)
    return json.dumps(document, separators=(",", ":")).encode()


def har_entry(index: int) -> dict[str, object]:
    body = github_body(index)
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = [
        {"name": "Host", "value": "hooks.example.com"},
        {"name": "Content-Type", "value": "application/json"},
        {"name": "X-GitHub-Event", "value": "pull_request"},
        {"name": "X-GitHub-Delivery", "value": f"d-{index}"},
        {"name": "X-Hub-Signature-256", "value": signature},
    ]
    seconds = index % 60
    return {
        "startedDateTime": f"2025-11-24T15:59:{seconds:02d}.000Z",
        "request": {
            "method": "POST",
            "url": "http://hooks.example.com/miniapps/github/webhooks",
            "httpVersion": "HTTP/1.1",
            "headers": headers,
            "postData": {"mimeType": "application/json",
                         "text": base64.b64encode(body).decode("ascii"), "encoding": "base64"},
        },
        "response": {"status": 200, "content": {"size": 0, "mimeType": ""}},
    }


def write_har(path: Path, count: int) -> None:
    document = {"log": {"version": "1.2", "creator": {"name": "bench", "version": "1"},
                        "entries": [har_entry(i) for i in range(count)]}}
    path.write_text(json.dumps(document, indent=1))


def write_big_http(path: Path, mib: int) -> None:
    size = mib * 1024 * 1024
    prefix = b'{"action":"opened","pull_request":{"id":1,"node_id":"PR_big"},"blob":"'
    body = prefix + b"a" * (size - len(prefix) - 2) + b'"}'
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    head = (
        "POST /miniapps/github/webhooks HTTP/1.1\r\n"
        "Host: hooks.example.com\r\n"
        "Content-Type: application/json\r\n"
        "X-GitHub-Event: pull_request\r\n"
        f"X-Hub-Signature-256: {signature}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with path.open("wb") as handle:
        handle.write(head)
        handle.write(body)


BARE_HAR = """
import base64, hashlib, hmac, json, sys
document = json.load(open(sys.argv[1], "rb"))
key = sys.argv[2].encode()
for entry in document["log"]["entries"]:
    body = base64.b64decode(entry["request"]["postData"]["text"])
    hmac.new(key, body, hashlib.sha256).hexdigest()
"""
BARE_BIG = """
import hashlib, hmac, sys
with open(sys.argv[1], "rb") as handle:
    data = handle.read()
hmac.new(sys.argv[2].encode(), data, hashlib.sha256).hexdigest()
"""


def run(command: list[str]) -> float:
    """Wall seconds of one child process, its stdout to /dev/null (a pipe reader would be
    part of the figure)."""
    with open(os.devnull, "wb") as sink:
        start = time.perf_counter()
        process = subprocess.run(command, stdout=sink, stderr=subprocess.PIPE, check=False)
        seconds = time.perf_counter() - start
    if process.returncode not in (0, 1):
        sys.exit(f"{' '.join(command)} failed:\n{process.stderr.decode()}")
    return seconds


def peak_rss(command: list[str]) -> int:
    """Peak RSS in bytes of `command`, measured by a fresh python that waits for it."""
    probe = ("import resource, subprocess, sys, os\n"
             "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=False)\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True,
                         check=True)
    return int(out.stdout) * 1024


def median_time(command: list[str], rounds: int) -> float:
    return statistics.median(run(command) for _ in range(rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--large-mib", type=int, default=64)
    parser.add_argument("--workdir", help="Keep the generated files here (default: a temp dir).")
    args = parser.parse_args()

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="whdebug-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    many, one, big = workdir / f"{args.requests}.har", workdir / "1.har", workdir / "big.http"
    small_http = workdir / "small.http"
    if not many.exists():
        write_har(many, args.requests)
    write_har(one, 1)
    if not big.exists() or big.stat().st_size < args.large_mib * 1024 * 1024:
        write_big_http(big, args.large_mib)
    small_http.write_bytes(_small_http())

    env_python = [sys.executable]
    whdebug = [*env_python, "-m", "whdebug", "replay", "--definition", str(DEFINITION),
               "--credential", f"webhookSecret={SECRET}", "--now", NOW]
    os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    rounds = args.rounds
    n = args.requests
    print(f"workload: {n:,} requests of {len(github_body(0)):,} body bytes "
          f"({many.stat().st_size / 1e6:.0f} MB HAR); {args.large_mib} MiB body; "
          f"median of {rounds} runs; python {sys.version.split()[0]}, {os.cpu_count()} CPUs")

    start_json = median_time([*whdebug, "--file", str(one), "--json"], rounds)
    many_json = median_time([*whdebug, "--file", str(many), "--json"], rounds)
    bare_one = median_time([*env_python, "-c", BARE_HAR, str(one), SECRET], rounds)
    bare_many = median_time([*env_python, "-c", BARE_HAR, str(many), SECRET], rounds)
    json_rate = n / max(many_json - start_json, 1e-9)
    bare_rate = n / max(bare_many - bare_one, 1e-9)
    print(f"replay --json: {many_json:.2f} s, start-up {start_json:.2f} s -> "
          f"{json_rate:,.0f} reports/s (target >= 30,000, goal 50,000)")
    print(f"  bare json.load + base64 + HMAC: {bare_rate:,.0f} requests/s; "
          f"whdebug/bare = {json_rate / bare_rate:.3f}")

    start_text = median_time([*whdebug, "--file", str(one)], rounds)
    many_text = median_time([*whdebug, "--file", str(many)], rounds)
    text_rate = n / max(many_text - start_text, 1e-9)
    print(f"replay (text): {many_text:.2f} s, start-up {start_text:.2f} s -> "
          f"{text_rate:,.0f} requests/s (target >= 20,000); text/json = "
          f"{text_rate / json_rate:.2f}")

    small_run = median_time([*whdebug, "--file", str(small_http), "--json"], rounds)
    big_run = median_time([*whdebug, "--file", str(big), "--json"], rounds)
    bare_start = median_time([*env_python, "-c", "pass"], rounds)
    bare_big = median_time([*env_python, "-c", BARE_BIG, str(big), SECRET], rounds)
    ratio = (big_run - small_run) / max(bare_big - bare_start, 1e-9)
    print(f"replay --file big.http: {big_run:.2f} s, small-body run {small_run:.2f} s; bare "
          f"read + HMAC {bare_big:.2f} s, bare start {bare_start:.2f} s -> "
          f"whdebug/bare = {ratio:.2f} (target <= 1.25)")
    body = big.stat().st_size
    rss_big = peak_rss([*whdebug, "--file", str(big), "--json"])
    rss_small = peak_rss([*whdebug, "--file", str(small_http), "--json"])
    rss_bare = peak_rss([*env_python, "-c", BARE_BIG, str(big), SECRET])
    rss_bare_start = peak_rss([*env_python, "-c", "pass"])
    print(f"  peak RSS: whdebug {rss_big / 1e6:.0f} MB, one small request {rss_small / 1e6:.0f} "
          f"MB: {(rss_big - rss_small) / body:.2f}x the body above it (target <= 1.3); bare "
          f"read + HMAC {(rss_bare - rss_bare_start) / body:.2f}x")


def _small_http() -> bytes:
    body = github_body(0)
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return (f"POST /miniapps/github/webhooks HTTP/1.1\r\nContent-Type: application/json\r\n"
            f"X-GitHub-Event: pull_request\r\nX-Hub-Signature-256: {signature}\r\n\r\n"
            ).encode() + body


if __name__ == "__main__":
    main()
