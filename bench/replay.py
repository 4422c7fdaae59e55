"""Replay through the `whdebug` command, end to end, as ratios against bare baselines in one run.

    python bench/replay.py [--requests 20000] [--rounds 3] [--large-mib 64] [--workdir DIR]

Every figure runs `python -m whdebug` (this checkout) in a subprocess, the way a user meets it,
and subtracts a one-request run of the same command (process start-up; SPEC section 8):

1. `replay --file N.har --json`: reports per second for the SPEC workload (~2 KB GitHub
   bodies, passing signature, composite event, a new delivery each), beside two bare pythons
   that read the HAR, base64-decode each body and compute one HMAC per request: one with the
   standard library's `json` and one with msgspec (the reader whdebug uses), so the ratio is
   fair (target >= 30,000/s, goal 50,000; a bare baseline below that on this machine is said).
2. `replay --file N.har` (human text): requests per second (target >= 20,000/s).
3. `replay --file big.http` with a 64 MiB passing body against a bare python that reads the
   file and computes one HMAC-SHA256 of it (target <= 1.25), both fresh processes, run
   alternately; each subtracts its own empty run (whdebug: a one-request file; bare: the same
   script on an empty file), and both totals are printed. Beside it, the same two measured
   inside one warm process (no start-up to subtract). Peak RSS above the interpreter's
   baseline divided by the body size (target <= 1.3).

Each round runs the replay commands and their baselines one after another (`interleaved`), so
a machine whose speed drifts slows them alike; the per-round ratios are printed beside the
ratio of the medians. The machine may be shared: run it a few times and compare medians.
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
BARE_HAR_MSGSPEC = """
import base64, hashlib, hmac, sys
import msgspec
class PostData(msgspec.Struct):
    text: str = ""
class Request(msgspec.Struct):
    postData: PostData | None = None
class Entry(msgspec.Struct):
    request: Request
class Log(msgspec.Struct):
    entries: list[Entry]
class Har(msgspec.Struct):
    log: Log
with open(sys.argv[1], "rb") as handle:
    document = msgspec.json.decode(handle.read(), type=Har)
key = sys.argv[2].encode()
for entry in document.log.entries:
    body = base64.b64decode(entry.request.postData.text)
    hmac.new(key, body, hashlib.sha256).hexdigest()
"""
BARE_BIG = """
import hashlib, hmac, sys
with open(sys.argv[1], "rb") as handle:
    data = handle.read()
hmac.new(sys.argv[2].encode(), data, hashlib.sha256).hexdigest()
"""


IN_PROCESS_BIG = """
import contextlib, hashlib, hmac, io, statistics, sys, time
from whdebug.cli import main
big, small, empty, secret, rounds, *replay = sys.argv[1:]
def bare(path):
    with open(path, "rb") as handle:
        data = handle.read()
    hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()
def whdebug(path):
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main(["replay", *replay, "--file", path, "--json"], standalone_mode=True)
        except SystemExit:
            pass
def timed(function, path):
    start = time.perf_counter()
    function(path)
    return time.perf_counter() - start
whdebug(small)  # the first call imports what replay imports lazily
rows = []
for _ in range(int(rounds)):
    rows.append((timed(bare, big), timed(bare, empty), timed(whdebug, big),
                 timed(whdebug, small)))
bare_big, bare_empty, whdebug_big, whdebug_small = (
    statistics.median(column) for column in zip(*rows))
ratios = [(w - ws) / (b - be) for b, be, w, ws in rows]
print(bare_big, bare_empty, whdebug_big, whdebug_small, statistics.median(ratios))
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


def interleaved(commands: dict[str, list[str]], rounds: int) -> dict[str, list[float]]:
    """Each command's wall seconds per round, the commands run one after another in every
    round: a machine whose speed drifts from minute to minute (a VM) slows all of them
    alike, where a command's runs back to back would meet one speed."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            times[name].append(run(command))
    return times


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

    times = interleaved({
        "start_json": [*whdebug, "--file", str(one), "--json"],
        "many_json": [*whdebug, "--file", str(many), "--json"],
        "bare_one": [*env_python, "-c", BARE_HAR, str(one), SECRET],
        "bare_many": [*env_python, "-c", BARE_HAR, str(many), SECRET],
        "fast_one": [*env_python, "-c", BARE_HAR_MSGSPEC, str(one), SECRET],
        "fast_many": [*env_python, "-c", BARE_HAR_MSGSPEC, str(many), SECRET],
        "start_text": [*whdebug, "--file", str(one)],
        "many_text": [*whdebug, "--file", str(many)],
    }, rounds)

    def rates(many_name: str, one_name: str) -> list[float]:
        return [n / max(m - o, 1e-9) for m, o in zip(times[many_name], times[one_name],
                                                      strict=True)]

    def per_round(rates_a: list[float], rates_b: list[float]) -> str:
        ratios = [a / b for a, b in zip(rates_a, rates_b, strict=True)]
        return (f"per round {statistics.median(ratios):.3f} median, "
                f"{min(ratios):.3f}-{max(ratios):.3f}")

    median = {name: statistics.median(values) for name, values in times.items()}
    start_json, many_json = median["start_json"], median["many_json"]
    json_rate = n / max(many_json - start_json, 1e-9)
    bare_rate = n / max(median["bare_many"] - median["bare_one"], 1e-9)
    fast_rate = n / max(median["fast_many"] - median["fast_one"], 1e-9)
    json_rates = rates("many_json", "start_json")
    print(f"replay --json: {many_json:.2f} s, start-up {start_json:.2f} s -> "
          f"{json_rate:,.0f} reports/s (target >= 30,000, goal 50,000; per round "
          f"{min(json_rates):,.0f}-{max(json_rates):,.0f})")
    print(f"  bare json.load + base64 + HMAC: {bare_rate:,.0f} requests/s; "
          f"whdebug/bare = {json_rate / bare_rate:.3f} "
          f"({per_round(json_rates, rates('bare_many', 'bare_one'))})")
    print(f"  bare msgspec + base64 + HMAC: {fast_rate:,.0f} requests/s; "
          f"whdebug/bare = {json_rate / fast_rate:.3f} "
          f"({per_round(json_rates, rates('fast_many', 'fast_one'))})")
    for name, rate in (("json", bare_rate), ("msgspec", fast_rate)):
        if rate < 30_000:
            print(f"  note: the bare {name} baseline itself does {rate:,.0f}/s on this "
                  "machine, under the 30,000/s target")
    start_text, many_text = median["start_text"], median["many_text"]
    text_rate = n / max(many_text - start_text, 1e-9)
    print(f"replay (text): {many_text:.2f} s, start-up {start_text:.2f} s -> "
          f"{text_rate:,.0f} requests/s (target >= 20,000); text/json = "
          f"{text_rate / json_rate:.2f}")

    # 64 MiB: alternate whdebug and the bare read + HMAC, each a fresh python; each run
    # subtracts its own empty run (the same command on a one-request file / an empty file)
    empty = workdir / "empty.http"
    empty.write_bytes(b"")
    runs: dict[str, list[float]] = {"big": [], "small": [], "bare": [], "bare_empty": []}
    ratios = []
    for _ in range(max(rounds, 3)):
        runs["small"].append(run([*whdebug, "--file", str(small_http), "--json"]))
        runs["big"].append(run([*whdebug, "--file", str(big), "--json"]))
        runs["bare_empty"].append(run([*env_python, "-c", BARE_BIG, str(empty), SECRET]))
        runs["bare"].append(run([*env_python, "-c", BARE_BIG, str(big), SECRET]))
        ratios.append((runs["big"][-1] - runs["small"][-1])
                      / max(runs["bare"][-1] - runs["bare_empty"][-1], 1e-9))
    big_run, small_run, bare_big, bare_start = (statistics.median(runs[k]) for k in (
        "big", "small", "bare", "bare_empty"))
    bare_work = bare_big - bare_start
    subtracted = (f"{(big_run - small_run) / bare_work:.2f} start-up subtracted (median of "
                  f"per-round ratios {statistics.median(ratios):.2f}, spread "
                  f"{min(ratios):.2f}-{max(ratios):.2f})" if bare_work > 0.02 else
                  "n/a start-up subtracted (the bare work is within start-up noise)")
    print(f"replay --file big.http: whdebug {big_run:.2f} s in all, one small request "
          f"{small_run:.2f} s; bare read + HMAC {bare_big:.2f} s in all, on an empty file "
          f"{bare_start:.2f} s -> whdebug/bare = {subtracted}; totals "
          f"{big_run / bare_big:.2f}x (target <= 1.25)")
    out = subprocess.run([*env_python, "-c", IN_PROCESS_BIG, str(big), str(small_http),
                          str(empty), SECRET, str(max(rounds, 3)), *whdebug[4:]],
                         capture_output=True, check=True, text=True)
    bare_in, bare_empty_in, whdebug_in, small_in, ratio_in = (float(x) for x in out.stdout.split())
    print(f"  in one warm process: whdebug {whdebug_in:.3f} s (one small request "
          f"{small_in:.3f} s), bare read + HMAC {bare_in:.3f} s (empty file "
          f"{bare_empty_in:.3f} s) -> {ratio_in:.2f}x each less its small run (median of "
          "per-round ratios)")
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
