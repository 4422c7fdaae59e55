"""Receiver throughput: `whdebug serve` against a bare Starlette app on the same uvicorn settings.

The bare app runs on uvicorn's stock httptools protocol and uvloop (the fast stack
`uvicorn[standard]` brings), so the ratio also prices whdebug's ReceiverProtocol (exact
header names, timeouts, connection cap). `bare-h11` (optional) is the same app on uvicorn's
stock h11 protocol and the asyncio loop; `webhook` (optional) is adnanh/webhook, a Go peer,
when its `webhook` binary is installed (Debian package `webhook`), with a hook that answers
every POST to the bench path. `whdebug-nostore` (optional, a diagnostic) is `whdebug serve`
with its SQLite insert replaced by a counter: what the receiver costs apart from storing
(with `whdebug` beside it, a last line sets the CPU storing costs against what 0.7x allows).

Each server runs in its own process (a fresh store each round); this process is the load
generator. A whdebug server's CPU is read once it has printed every capture's line: with a
definition, the analyst process prints its lines behind a burst, and their CPU counts.
Each round's store is deleted once its captures are checked (about 55 MB each).
Rounds alternate bare / whdebug so machine noise hits both alike. Reports requests/s,
p50/p99 latency, the whdebug/bare ratio (SPEC target >= 0.7) and requests lost: answered
2xx but missing from the store (must be 0).

`--servers bare,pg2` runs TWO `whdebug serve` processes sharing one PostgreSQL store (half the
connections to each; target >= 0.5 of one bare app). `--postgres URL` names the database;
without it a throwaway cluster is started with the tests' helper (needs initdb/pg_ctl), with
the tests' settings: fsync and full_page_writes off, so a commit waits for no disk flush.
`--durable` keeps PostgreSQL's defaults (both on) as a user's server has them: every batch's
commit then waits for a flush, and since batches of all receivers commit one after another
(ids in commit order, docs/store.md), throughput is bounded by the disk's flush latency.

`+ PostgreSQL N us/req` (pg2 on the throwaway cluster) is the CPU of all the server's
processes per request, beside the receivers' own `cpu us/req`.

The default client speaks HTTP/1.1 over raw keep-alive sockets so that the generator, not
the server, is never the bottleneck on a small machine; `--client httpx` uses an httpx pool.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = ROOT / "whdebug" / "demo" / "definitions" / "github.json"
SECRET = "bench-webhook-secret"
PATH = "/miniapps/github/webhooks"
SERVERS = ("bare", "bare-h11", "webhook", "whdebug", "whdebug+def", "pg2", "whdebug-nostore")
ANCHORS = ("bare-h11", "webhook", "whdebug-nostore")
"""Rows shown for comparison, with no target."""
TARGETS = {"whdebug": 0.7, "whdebug+def": 0.6, "pg2": 0.5}
"""Throughput ratio targets against bare (SPEC section 8; pg2: issue 15)."""


def run_server(kind: str, store: str, port_file: str) -> None:
    """Child process: serve until SIGINT; `whdebug*` is exactly what `whdebug serve` runs."""
    sys.path.insert(0, str(ROOT))
    from rich.console import Console

    from whdebug.receiver.server import ServerSettings

    settings = ServerSettings(port=0)
    if kind.startswith("whdebug"):
        from whdebug.cli.output.serve import ConsoleSink
        from whdebug.model.definition import load_definition
        from whdebug.model.request import Secrets
        from whdebug.receiver.app import ReceiverSettings
        from whdebug.receiver.server import serve

        receiver = ReceiverSettings()
        if kind == "whdebug-nostore":  # a diagnostic, not a product: see store_off()
            store_off()
        if kind == "whdebug+def":  # every capture is also analysed for its console line
            receiver = ReceiverSettings(definition=load_definition(DEFINITION),
                                        secrets=Secrets({"webhookSecret": SECRET}))
        # The process's stdout is the port file (see start()): `whdebug serve` prints there,
        # and with a definition its analyst process prints the capture lines there too.
        serve(store, receiver, settings, ConsoleSink(Console(width=160)))
        return

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from whdebug.receiver.server import bind_socket, uvicorn_config

    async def ok(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/{path:path}", ok, methods=["POST"])])
    sock = bind_socket(settings.host, settings.port)
    with open(port_file, "w", encoding="utf-8") as console_file:
        console_file.write(f"listening on http://127.0.0.1:{sock.getsockname()[1]}\n")
    fast = kind == "bare"  # httptools + uvloop; bare-h11: h11 + asyncio
    config = uvicorn_config(app, settings, embedded=False, stock=True,
                            parser="httptools" if fast else "h11", on_uvloop=fast)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown
        pass


def store_off() -> None:
    """`whdebug-nostore`: serve with the SQLite store's insert replaced by a counter of ids,
    so the row prices everything the receiver does apart from storing (parsing, the guards,
    the group-commit hand-off, the answer, the console line). Its captures are not stored,
    so it has no `lost` column and no target."""
    import itertools

    from whdebug.store.store import Store

    ids = itertools.count(1)
    def insert_many(self: Store, captures: list[object]) -> list[int]:
        return [next(ids) for _ in captures]

    Store.insert_many = insert_many  # type: ignore[method-assign,assignment]


def make_request(marker: str, size: int) -> bytes:
    """A signed GitHub `pull_request.opened` delivery of about `size` bytes carrying `marker`."""
    payload = {"action": "opened", "marker": marker,
               "pull_request": {"node_id": marker, "title": "bench", "body": ""}}
    padding = max(0, size - len(json.dumps(payload)))
    payload["pull_request"]["body"] = "x" * padding  # type: ignore[index]
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    head = (f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"X-GitHub-Event: pull_request\r\nX-Hub-Signature-256: {signature}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


@dataclass
class Result:
    seconds: float
    latencies: list[float]
    answered: set[str]
    errors: int


async def load_raw(port: int, requests: list[tuple[str, bytes]], concurrency: int) -> Result:
    """Keep-alive connections sending pre-built requests; one outstanding request each."""
    latencies: list[float] = []
    answered: set[str] = set()
    errors = 0
    queue = iter(requests)

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for marker, data in queue:
                started = time.perf_counter()
                writer.write(data)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if head[9:10] == b"2":
                    answered.add(marker)
                else:
                    errors += 1
        finally:
            writer.close()
            await writer.wait_closed()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return Result(time.perf_counter() - started, latencies, answered, errors)


async def load_httpx(port: int, requests: list[tuple[str, bytes]], concurrency: int) -> Result:
    import httpx

    latencies: list[float] = []
    answered: set[str] = set()
    errors = 0
    queue = iter(requests)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as http:
        async def worker() -> None:
            nonlocal errors
            for marker, data in queue:
                head, _, body = data.partition(b"\r\n\r\n")
                headers = [(name, value) for name, _, value in
                           (line.partition(b": ") for line in head.split(b"\r\n")[2:])
                           if name.lower() != b"content-length"]
                started = time.perf_counter()
                response = await http.post(PATH, content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.is_success:
                    answered.add(marker)
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return Result(time.perf_counter() - started, latencies, answered, errors)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_webhook(port_file: Path) -> tuple[subprocess.Popen[bytes], int]:
    """adnanh/webhook answering every POST to PATH (its hook runs `true`)."""
    binary = shutil.which("webhook")
    if binary is None:
        raise SystemExit("webhook is not installed (apt-get install webhook)")
    hooks = port_file.with_suffix(".hooks.json")
    hooks.write_text(json.dumps([{"id": PATH.rsplit("/", 1)[-1], "execute-command": "/bin/true",
                                  "http-methods": ["POST"],
                                  "response-message": '{"ok": true}'}]))
    port = free_port()
    with open(port_file, "w", encoding="utf-8") as output:
        process = subprocess.Popen([binary, "-hooks", str(hooks), "-ip", "127.0.0.1",
                                    "-port", str(port), "-urlprefix",
                                    PATH.rsplit("/", 1)[0].strip("/")],
                                   stdout=output, stderr=subprocess.STDOUT)
    import socket

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise SystemExit("webhook did not start")


def start(kind: str, store: Path, port_file: Path) -> tuple[subprocess.Popen[bytes], int]:
    if kind == "webhook":
        return start_webhook(port_file)
    with open(port_file, "w", encoding="utf-8") as output:
        process = subprocess.Popen([sys.executable, __file__, "--serve", kind, str(store),
                                    str(port_file)], stdout=output, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        text = port_file.read_text() if port_file.exists() else ""
        if "listening on http://127.0.0.1:" in text:
            port = text.split("listening on http://127.0.0.1:")[1].split()[0]
            return process, int(port)
        if process.poll() is not None:
            break
        time.sleep(0.02)
    process.kill()
    raise SystemExit(f"{kind} server did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    # The kernel writes a store's dirty pages back up to 30 s later: flush them now, so that
    # no round pays for the disk writes of the round before it.
    os.sync()


def process_cpu(pid: int) -> float | None:
    """Seconds of CPU a process and its running children (the analyst) used so far (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for child in children:
        total += process_cpu(int(child)) or 0.0
    return total


def server_pids(data: Path | None) -> list[int]:
    """The postmaster of the throwaway cluster in `data` (None: an external --postgres, not
    measured); its backends are its children, counted by `process_cpu`."""
    if data is None:
        return []
    try:
        return [int((data / "postmaster.pid").read_text().split()[0])]
    except (OSError, ValueError, IndexError):
        return []


def printed(output: Path, lines: int, timeout: float = 120.0) -> None:
    """Wait until the server (and with a definition its analyst process, whose lines lag a
    burst) has printed `lines` capture lines, so that "cpu us/req" counts their work too."""
    deadline = time.monotonic() + timeout
    while output.read_text(encoding="utf-8", errors="replace").count("  -> ") < lines:
        if time.monotonic() > deadline:
            print(f"warning: fewer than {lines} capture lines after {timeout:.0f} s",
                  file=sys.stderr)
            return
        time.sleep(0.05)


def stored_markers(store: Path | str) -> set[str]:
    sys.path.insert(0, str(ROOT))
    from whdebug.store.base import open_store, store_location

    with open_store(store_location(store)) as opened:
        return {json.loads(opened.get(capture_id).request.body)["marker"]
                for capture_id in opened.ids()}


def remove_store(store: Path) -> None:
    """Delete a finished round's SQLite store (about 55 MB for 20,500 captures)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)


def merge(results: list[Result]) -> Result:
    return Result(max(result.seconds for result in results),
                  [latency for result in results for latency in result.latencies],
                  set().union(*(result.answered for result in results)),
                  sum(result.errors for result in results))


def run_shared_round(number: int, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    """Two `whdebug serve` processes on one PostgreSQL store, each sent half the load."""
    servers = [start("whdebug", args.postgres, workdir / f"pg2-{number}-{index}.out")
               for index in range(2)]
    load = load_raw if args.client == "raw" else load_httpx
    half = max(1, args.concurrency // 2)

    async def both(requests: list[tuple[str, bytes]]) -> Result:
        return merge(list(await asyncio.gather(*(
            load(port, requests[index::2], half)
            for index, (_, port) in enumerate(servers)))))

    try:
        warmup = [(f"pw{number}-{i}", make_request(f"pw{number}-{i}", args.body_size))
                  for i in range(min(500, args.requests))]
        asyncio.run(both(warmup))
        requests = [(f"p{number}-{i}", make_request(f"p{number}-{i}", args.body_size))
                    for i in range(args.requests)]
        postgres = server_pids(args.postgres_data)
        cpu_before = [process_cpu(process.pid) for process, _ in servers]
        pg_before = [process_cpu(pid) or 0.0 for pid in postgres]
        result = asyncio.run(both(requests))
        cpu_after = [process_cpu(process.pid) for process, _ in servers]
        pg_after = [process_cpu(pid) or 0.0 for pid in postgres]
        lost = len(result.answered - stored_markers(args.postgres))
    finally:
        for process, _ in servers:
            stop(process)
    latencies = sorted(result.latencies)
    cpu = -1.0
    if None not in cpu_before and None not in cpu_after:
        cpu = (sum(after or 0.0 for after in cpu_after) - sum(b or 0.0 for b in cpu_before)
               ) / len(latencies) * 1e6
    pg_cpu = (sum(pg_after) - sum(pg_before)) / len(latencies) * 1e6 if postgres else -1.0
    return {"rps": len(latencies) / result.seconds, "p50": statistics.median(latencies) * 1000,
            "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000, "cpu": cpu,
            "pg_cpu": pg_cpu, "errors": result.errors, "lost": lost}


def run_round(kind: str, number: int, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    if kind == "pg2":
        return run_shared_round(number, args, workdir)
    store = workdir / f"{kind}-{number}.db"
    output = workdir / f"{kind}-{number}.out"
    process, port = start(kind, store, output)
    try:
        load = load_raw if args.client == "raw" else load_httpx
        warmup = [(f"w{number}-{i}", make_request(f"w{number}-{i}", args.body_size))
                  for i in range(min(500, args.requests))]
        asyncio.run(load(port, warmup, args.concurrency))
        requests = [(f"r{number}-{i}", make_request(f"r{number}-{i}", args.body_size))
                    for i in range(args.requests)]
        if kind.startswith("whdebug"):
            printed(output, len(warmup))
        cpu_before = process_cpu(process.pid)
        result = asyncio.run(load(port, requests, args.concurrency))
        if kind.startswith("whdebug"):  # the analyst's lines lag a burst: count their CPU
            printed(output, len(warmup) + len(requests))
        cpu_after = process_cpu(process.pid)
        lost = -1
        if kind.startswith("whdebug") and kind != "whdebug-nostore":  # answered: committed
            lost = len(result.answered - stored_markers(store))
    finally:
        stop(process)
        remove_store(store)
    latencies = sorted(result.latencies)
    return {
        "rps": len(latencies) / result.seconds,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "cpu": -1.0 if cpu_before is None or cpu_after is None
        else (cpu_after - cpu_before) / len(latencies) * 1e6,
        "errors": result.errors,
        "lost": lost,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--requests", type=int, default=8000,
                        help="measured requests per server per round (default 8000)")
    parser.add_argument("--concurrency", type=int, default=32,
                        help="concurrent keep-alive connections (default 32)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds, each running bare then whdebug (default 3)")
    parser.add_argument("--body-size", type=int, default=2048,
                        help="approximate body bytes of each signed delivery (default 2048)")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw",
                        help="load generator: raw keep-alive sockets (default) or an httpx pool")
    parser.add_argument("--servers", default="bare,whdebug,whdebug+def",
                        help="comma-separated servers to compare with bare: whdebug (`whdebug "
                        "serve`), whdebug+def (with --definition github.json, so every "
                        "capture is analysed), pg2 (two `whdebug serve` sharing one "
                        "PostgreSQL store), bare-h11 (the bare app on h11 and asyncio) and "
                        "webhook (adnanh/webhook) for comparison "
                        "(default: bare,whdebug,whdebug+def)")
    parser.add_argument("--postgres", metavar="URL",
                        help="the PostgreSQL store for pg2 (default: a throwaway cluster)")
    parser.add_argument("--durable", action="store_true",
                        help="the throwaway cluster keeps PostgreSQL's default fsync and "
                        "full_page_writes (on, as on a user's server); without it both are "
                        "off, as in the tests, and commits cost no disk flush")
    parser.add_argument("--serve", nargs=3, metavar=("KIND", "STORE", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        run_server(*args.serve)
        return

    kinds = ["bare", *(kind for kind in args.servers.split(",") if kind != "bare")]
    unknown = set(kinds) - set(SERVERS)
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    cluster = None
    args.postgres_data = None
    if "pg2" in kinds and not args.postgres:
        sys.path.insert(0, str(ROOT / "tests"))
        from pg_support import Cluster  # type: ignore[import-not-found]

        cluster = Cluster(durable=args.durable)
        args.postgres = cluster.new_database()
        args.postgres_data = cluster.data
    try:
        report(kinds, args)
    finally:
        if cluster is not None:
            cluster.close()


def postgres_cpu(row: dict[str, float]) -> str:
    """The PostgreSQL server's CPU per request (all its processes: the receivers' backends,
    WAL writer, checkpointer...), shown for pg2 on a throwaway cluster."""
    value = row.get("pg_cpu", -1.0)
    return "" if value < 0 else f"  + PostgreSQL {value:.0f} us/req"


def report(kinds: list[str], args: argparse.Namespace) -> None:
    rows: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    print(f"{args.requests} requests x {args.rounds} rounds, concurrency {args.concurrency}, "
          f"~{args.body_size} B signed bodies, {args.client} client, {os.cpu_count()} CPUs")
    print(f"{'round':>5}  {'server':<15} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'cpu us/req':>10} {'errors':>6} {'lost':>5}")
    with tempfile.TemporaryDirectory(prefix="whdebug-bench-") as directory:
        for number in range(1, args.rounds + 1):
            for kind in kinds:
                row = run_round(kind, number, args, Path(directory))
                rows[kind].append(row)
                lost = "-" if row["lost"] < 0 else str(int(row["lost"]))
                print(f"{number:>5}  {kind:<15} {row['rps']:>8.0f} {row['p50']:>8.2f} "
                      f"{row['p99']:>8.2f} {row['cpu']:>10.0f} {int(row['errors']):>6} "
                      f"{lost:>5}{postgres_cpu(row)}", flush=True)

    def median(kind: str, key: str) -> float:
        return statistics.median(row.get(key, -1.0) for row in rows[kind])

    bare = median("bare", "rps")
    for kind in kinds:
        print(f"median  {kind:<15} {median(kind, 'rps'):>8.0f} {median(kind, 'p50'):>8.2f} "
              f"{median(kind, 'p99'):>8.2f} {median(kind, 'cpu'):>10.0f}"
              f"{postgres_cpu({'pg_cpu': median(kind, 'pg_cpu')})}")
    for kind in kinds[1:]:
        ratio = median(kind, "rps") / bare
        # Each round runs bare and this server a few seconds apart, so their ratio within a
        # round is measured at one machine speed; on a VM whose speed drifts by half within
        # minutes the ratio of the two medians mixes fast and slow rounds. Both are shown.
        paired = [row["rps"] / base["rps"] for row, base in zip(rows[kind], rows["bare"],
                                                                    strict=True)]
        rounds = " ".join(f"{value:.2f}" for value in paired)
        if kind in ANCHORS:
            print(f"{kind}/bare: throughput ratio {ratio:.2f}, per round {rounds} "
                  f"(for comparison)")
            continue
        cpu_ratio = median("bare", "cpu") / median(kind, "cpu")
        lost_total = sum(int(row["lost"]) for row in rows[kind])
        target = TARGETS[kind]
        verdict = "ok" if ratio >= target and lost_total == 0 else "BELOW TARGET"
        print(f"{kind}/bare: throughput ratio {ratio:.2f} (target >= {target:.2f}; per round "
              f"{rounds}, median {statistics.median(paired):.2f}), server CPU per request "
              f"ratio {cpu_ratio:.2f}, lost {lost_total} (must be 0): {verdict}")
    if {"whdebug", "whdebug-nostore"} <= set(kinds):
        base_cpu = median("bare", "cpu")
        storing = median("whdebug", "cpu") - median("whdebug-nostore", "cpu")
        print(f"storing: {storing:.0f} us of CPU per capture (whdebug less whdebug-nostore, "
              f"medians); 0.70x of bare leaves {base_cpu / 0.7 - base_cpu:.0f} us per request "
              f"above the bare app's {base_cpu:.0f} (docs/store.md)")


if __name__ == "__main__":
    main()
