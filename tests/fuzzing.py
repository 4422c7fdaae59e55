"""A seeded fuzzer for the command line: mutated request files, definitions, credentials and
sample folders through `whdebug`'s entry point, in-process.

Seeds are the committed fixtures (.http, a HAR and capture JSON made from them, definitions as
JSON, JSON5 and a JS literal, credentials files, sample folders, payloads to sign, saved RPC
source responses). Each case mutates one input
with byte flips, truncations, insertions of hostile tokens, splices from another seed, or a
field of a definition replaced by another JSON value, then runs one command on it. Every run
must exit 0, 1 or 2, never print "internal error", and take less than `SLOW` seconds.

tests/test_fuzz.py runs 2,000 cases with a fixed seed; `python bench/fuzz.py N SEED` runs more.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from whdebug.cli import main
from whdebug.formats.capture_json import capture_to_json
from whdebug.formats.har import format_har
from whdebug.formats.read import read_request_file

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SLOW = 5.0
SMALL = 2500
SYNC_DEFINITIONS = ["salla.json", "salla-broken-sync.json", "sync/salla-sync.json",
                    "sync/salla-sync-broken.json", "sync/legacy-ecommerce.json"]

TOKENS = [
    b"\xff", b"\xc3", b"\xed\xa0\x80", b"\\ud800", b"\\udc00\\ud800", b"\x00", b"\xef\xbb\xbf",
    b"[" * 1100, b"{\"a\":" * 600, b"{", b"}", b"[", b"]", b'"', b"'", b",", b":", b"\\",
    b"1e999", b"-0", b"99999999999999999999999", b"NaN", b"Infinity", b"null", b"true",
    b"[]", b"{}", b'""', b"\r\n", b"\r\n\r\n", b"\n", b" ", b"\t",
    b"Content-Length: 99999999\r\n", b"Content-Length: -1\r\n", b"Transfer-Encoding: chunked\r\n",
    b"Content-Type: application/x-www-form-urlencoded\r\n", b"X-Hub-Signature-256: sha256=\r\n",
    b"%", b"%zz", b"?a=1&b=%ff", b"=", b"&", b"//", b"/*", b"*/", b"const x = ", b";",
    b"$.", b"$..", b"$[?(@.a)]", b"[[x]]", b"{{x}}", b"http://127.0.0.1:99999/x",
    b'"base64:"', b"=====", b"AAAA", b'"\\u0000"', b"\xf0\x9f\x98", b"\xe2\x80\xa8",
]

JSON_VALUES: list[Any] = [
    None, True, False, 0, -1, 1.5, 2**64, "", "x", "\ud800", "$.", "$..a", "[[x]]", "{{x}}",
    "hmac-sha256", "header", "body", "query", [], {}, [None], ["push"], {"a": 1}, [[]],
    {"paths": "x"}, "https://example.test", "miniapps:github", 1e308,
]


@dataclass
class Seeds:
    """Bytes of every seed, by kind."""

    http: list[bytes] = field(default_factory=list)
    har: list[bytes] = field(default_factory=list)
    capture: list[bytes] = field(default_factory=list)
    definition: list[tuple[str, bytes]] = field(default_factory=list)
    """(suffix, text): .json, .json5 and .js definitions."""
    credentials: list[bytes] = field(default_factory=list)
    samples: list[bytes] = field(default_factory=list)
    rpc: list[bytes] = field(default_factory=list)

    def all(self) -> list[bytes]:
        return [*self.http, *self.har, *self.capture, *(d for _, d in self.definition),
                *self.credentials, *self.samples, *self.rpc]


@dataclass(frozen=True)
class Scenario:
    """A definition, a request it replays, its credentials, and samples for check/sync."""

    definition: Path
    request: Path
    credentials: dict[str, str]
    samples: Path


JSON5_DEFINITION = b"""// GitHub, pasted from the docs as JSON5
{
  ns: 'github', version: '1.0.0', status: 'private',
  auth: {type: 'apikey', config: {webhookSecret: '',}, sensitiveKeys: ['webhookSecret',],},
  triggers: [
    {type: 'miniapps:github', event: 'pull_request.opened', label: 'PR opened',
     description: 'A pull request was opened',},
  ],
  webhook: {
    eventExtraction: {source: 'header', path: 'X-GitHub-Event',
      compositeStrategy: {separator: '.', parts: [
        {source: 'header', path: 'X-GitHub-Event'}, {source: 'body', path: '$.action'},],},},
    transactionId: {paths: ['$.pull_request.node_id'], fallback: 'generate',},
    verification: {type: 'hmac-sha256', headerName: 'X-Hub-Signature-256',
                   secretKey: 'webhookSecret', encoding: 'hex',},
  },
}
"""


@cache
def seeds() -> Seeds:
    found = Seeds()
    requests = sorted((FIXTURES / "requests").glob("*.http"))
    found.http = [path.read_bytes() for path in requests]
    captures = [capture for path in requests[:12] for capture in read_request_file(path)]
    found.har = [format_har(captures[i:i + 2]) for i in range(0, len(captures), 2)]
    found.capture = [json.dumps(capture_to_json(c), indent=1).encode() for c in captures]
    found.capture.append((FIXTURES / "requests" / "acme-truncated.json").read_bytes())
    definitions = sorted((FIXTURES / "definitions").rglob("*.json"))
    definitions += sorted((FIXTURES / "definitions").rglob("*.js"))
    found.definition = [(path.suffix, path.read_bytes()) for path in definitions]
    found.definition.append((".json5", JSON5_DEFINITION))
    found.credentials = [json.dumps(s.credentials).encode() for s in scenarios()]
    found.samples = [path.read_bytes() for path in sorted((FIXTURES / "samples").rglob("*"))
                     if path.is_file()]
    found.rpc = [path.read_bytes() for path in sorted((FIXTURES / "rpc").glob("*.json"))]
    return found


@cache
def scenarios() -> tuple[Scenario, ...]:
    manifest = json.loads((FIXTURES / "manifest.json").read_text())["scenarios"]
    salla = FIXTURES / "samples" / "salla"
    return tuple(
        Scenario(FIXTURES / s["definition"], FIXTURES / s["files"][0], s["credentials"],
                 salla if "salla" in s["definition"] else FIXTURES / "requests")
        for s in manifest)


# --- mutations --------------------------------------------------------------------------------


def _flip(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    if not data:
        return bytes([rng.randrange(256)])
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        index = rng.randrange(len(buffer))
        buffer[index] ^= 1 << rng.randrange(8)
    return bytes(buffer)


def _truncate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    return data[:rng.randint(0, len(data))]


def _insert(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    index = rng.randint(0, len(data))
    token = rng.choice(TOKENS) if rng.random() < 0.8 else rng.randbytes(rng.randint(1, 8))
    return data[:index] + token + data[index:]


def _delete(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    if not data:
        return data
    start = rng.randrange(len(data))
    return data[:start] + data[start + rng.randint(1, 64):]


def _splice(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    other = rng.choice(pool)
    cut, start = rng.randint(0, len(data)), rng.randint(0, len(other))
    return data[:cut] + other[start:start + rng.randint(1, 400)]


def _repeat(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    if not data:
        return data
    start = rng.randrange(len(data))
    chunk = data[start:start + rng.randint(1, 32)]
    return data[:start] + chunk * rng.randint(2, 50) + data[start:]


MUTATORS: list[Callable[[random.Random, bytes, list[bytes]], bytes]] = [
    _flip, _truncate, _insert, _insert, _delete, _splice, _repeat]


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    for _ in range(rng.randint(1, 3)):
        data = rng.choice(MUTATORS)(rng, data, pool)
    return data


def _locations(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += _locations(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _locations(value, (*prefix, index))
    return found


HOSTILE_BODIES = [
    b'{"action":"opened","x":"\xff"}', b'{"action":"\\ud800"}', b'{"event":"\\udc00x"}',
    b'{"action":"opened","x":' + b"[" * 1100 + b"]" * 1100 + b"}",
    b'{"event":' + b"[" * 990 + b"]" * 990 + b"}", b'{"event":1e999,"data":{"id":-0}}',
    b'{"event":"order.created","data":{"id":123456789012345678901234567890}}',
    b"\xef\xbb\xbf{}", b"[]", b"null", b'"x"', b"", b"\x00\x01", b"payload=%7B%22a%22%3A1%7D",
    b'{"type":"url_verification","challenge":["x"]}', b'{"event":{"a":[1,{"b":null}]}}',
]

def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


JSON_VALUES += [base64.b64encode(body).decode() for body in HOSTILE_BODIES[:6]]
JSON_VALUES += [_nested(130), _nested(400), {"a": _nested(300)}]
JSON_VALUES += [[["X-Hub-Signature-256", "\ud800"]], [["", ""]], [["a"]], "2025-13-01T00:00:00Z"]


def mutate_http_body(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    """A .http request with only its body changed (a hostile body, or a mutated one)."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = data.partition(separator)
        if found:
            break
    else:
        return mutate(rng, data, pool)
    if rng.random() < 0.5:
        body = rng.choice(HOSTILE_BODIES)
    else:
        body = mutate(rng, body, pool)
    lines = [line for line in head.split(b"\n")
             if not line.lower().startswith(b"content-length")]
    return b"\n".join(lines) + separator + body


TAINTS = ["\ud800", "\udfff", "\ufffd", "\x00", "\u2028", "\U0001f600", "%ff", "\\", "\""]


def mutate_json(rng: random.Random, text: bytes, pool: list[bytes]) -> bytes:
    """JSON with fields replaced by other JSON values, or strings tainted with odd characters
    (lone surrogates most of all); byte mutations when it is no JSON."""
    try:
        if rng.random() < 0.35:
            return taint_strings(rng, text)
        return mutate_tree(rng, text)
    except (ValueError, RecursionError):
        return mutate(rng, text, pool)


def taint_strings(rng: random.Random, text: bytes) -> bytes:
    """String values (not the keys) get an odd character, a third of them; an event name
    seldom, so the sample still reaches its handler."""
    def taint(node: Any, chance: float = 0.33) -> Any:
        if isinstance(node, str):
            return node + rng.choice(TAINTS) if rng.random() < chance else node
        if isinstance(node, list):
            return [taint(item) for item in node]
        if isinstance(node, dict):
            return {key: taint(value, 0.05 if key in ("event", "type") else 0.33)
                    for key, value in node.items()}
        return node
    return json.dumps(taint(json.loads(text))).encode()


def mutate_tree(rng: random.Random, text: bytes) -> bytes:
    """A JSON document with one or two fields anywhere replaced by another JSON value."""
    document = json.loads(text)
    for _ in range(rng.randint(1, 2)):
        locations = _locations(document)
        if not locations:
            break
        location = rng.choice(locations)
        node = document
        for step in location[:-1]:
            node = node[step]
        if rng.random() < 0.2:
            del node[location[-1]]
        else:
            node[location[-1]] = copy.deepcopy(rng.choice(JSON_VALUES))
    return json.dumps(document).encode("utf-8", "surrogatepass")


# --- cases ------------------------------------------------------------------------------------


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _credential_args(scenario: Scenario) -> list[str]:
    return [arg for key, value in scenario.credentials.items()
            for arg in ("--credential", f"{key}={value}") if "\n" not in value]


def make_case(rng: random.Random, work: Path) -> tuple[str, list[list[str]]]:
    """(kind, the commands to run in order) for one case, its input files under `work`."""
    kind, commands = _case(rng, work)
    if commands and isinstance(commands[0], list):
        return kind, [[str(arg) for arg in command] for command in commands]
    return kind, [[str(arg) for arg in commands]]


def _case(rng: random.Random, work: Path) -> tuple[str, list[Any]]:
    """(kind, one command's arguments or a list of commands), inputs written under `work`."""
    found = seeds()
    pool = found.all()
    scenario = rng.choice(scenarios())
    definition, request = str(scenario.definition), str(scenario.request)
    output = ["--json"] if rng.random() < 0.75 else []
    kind = rng.choice(["http", "http", "har", "capture", "definition", "definition",
                       "tree", "credentials", "samples", "payload", "rpc"])
    if kind == "payload":  # sign: the body a provider would send, signed per the definition
        seed = rng.choice(found.samples)
        data = mutate_json(rng, seed, pool) if rng.random() < 0.5 else mutate(rng, seed, pool)
        file = _write(work / "payload.json", data)
        return kind, ["sign", "--definition", definition, file, *_credential_args(scenario)]
    if kind == "rpc":  # source --response: a saved RPC answer read for a dropdown
        seed = rng.choice(found.rpc)
        data = mutate_json(rng, seed, pool) if rng.random() < 0.6 else mutate(rng, seed, pool)
        file = _write(work / "response.json", data)
        return kind, ["source", str(FIXTURES / "definitions" / "auth" / "oauth-clean.json"),
                      "rpc_products_list", "--response", file, *output,
                      *(["-v"] if rng.random() < 0.3 else [])]
    if kind in ("http", "har", "capture"):
        seed = rng.choice(getattr(found, kind))
        suffix = {"http": ".http", "har": ".har", "capture": ".json"}[kind]
        if kind == "http" and rng.random() < 0.6:
            data = mutate_http_body(rng, seed, pool)
        elif kind != "http" and rng.random() < 0.6:
            data = mutate_json(rng, seed, pool)
        else:
            data = mutate(rng, seed, pool)
        file = _write(work / f"request{suffix}", data)
        if rng.random() < 0.12:  # stored, then exported and replayed from the store
            shutil.rmtree(work / "store", ignore_errors=True)
            store = str(work / "store" / "captures.db")
            export = ["export", "1", "--store", store, "--format",
                      rng.choice(["http", "har", "curl", "json"])]
            return kind, [["import", "--store", store, file], export,
                          ["replay", "1", "--store", store, "--definition", definition, *output]]
        verbose = ["-v"] if rng.random() < 0.3 else []
        return kind, ["replay", "--definition", definition, "--file", file,
                      *_credential_args(scenario), *output, *verbose]
    if kind in ("definition", "tree"):
        if kind == "tree":
            suffix, text = rng.choice([d for d in found.definition if d[0] == ".json"])
            data = mutate_tree(rng, text)
        else:
            # byte-mutated JSON falls back to the JSON5 parser, which is pure Python and
            # slow (about 75 ms for 5 KB): the small seeds keep the test fast
            suffix, text = rng.choice([d for d in found.definition if len(d[1]) <= SMALL])
            data = mutate(rng, text, pool)
        file = _write(work / f"app{suffix}", data)
        command = rng.choice(["check", "check", "replay", "replay", "redact", "urls", "sign",
                              "sync"])
        if command == "check":
            return kind, ["check", file, *output]
        if command == "replay":
            return kind, ["replay", "--definition", file, "--file", request,
                          *_credential_args(scenario), *output]
        if command == "sign":
            payload = str(FIXTURES / "samples" / "salla" / "order.created.json")
            return kind, ["sign", "--definition", file, payload, *_credential_args(scenario)]
        if command == "sync":
            return kind, ["sync", file, "--samples", str(FIXTURES / "samples" / "salla")]
        if command == "urls":
            return kind, ["urls", file, "--api-url", "https://api.example.test"]
        return kind, ["redact", file]
    if kind == "credentials":
        seed = rng.choice(found.credentials)
        data = mutate_json(rng, seed, pool) if rng.random() < 0.5 else mutate(rng, seed, pool)
        file = _write(work / "credentials.json", data)
        return kind, ["replay", "--definition", definition, "--file", request,
                      "--credentials", file, *output]
    folder = work / "samples"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    if rng.random() < 0.7:  # samples whose events have sync handlers reach the sync preview
        definition = str(FIXTURES / "definitions" / rng.choice(SYNC_DEFINITIONS))
    output = ["--json"] if rng.random() < 0.5 else []
    for index in range(rng.randint(1, 3)):
        seed = rng.choice(found.samples) if rng.random() < 0.8 else rng.choice(found.http)
        json_seed = seed.lstrip()[:1] in (b"{", b"[")
        roll = rng.random()
        if roll < 0.25:
            data = mutate(rng, seed, pool)
        elif roll < 0.5 and json_seed:
            data = taint_strings(rng, seed)
        elif roll < 0.8:
            data = mutate_json(rng, seed, pool) if json_seed else mutate_http_body(rng, seed,
                                                                                   pool)
        else:
            data = seed
        suffix = (".json" if json_seed else ".http") if rng.random() < 0.8 else (
            rng.choice([".json", ".http", ".har"]))
        _write(folder / f"sample-{index}{suffix}", data)
    if rng.random() < 0.5:
        return kind, ["sync", definition, "--samples", str(folder), *output]
    return kind, ["check", definition, "--samples", str(folder),
                  *_credential_args(scenario), *output]


@dataclass
class Failure:
    kind: str
    args: list[str]
    exit_code: int
    seconds: float
    output: str


@dataclass
class Tally:
    cases: int = 0
    runs: int = 0
    """Commands run: a stored case imports, exports and replays."""
    exit_codes: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    slowest: float = 0.0
    failures: list[Failure] = field(default_factory=list)


def fuzz(count: int, seed: int, work: Path) -> Tally:
    """Run `count` cases from `seed`; a failure keeps its arguments (and inputs, copied)."""
    rng = random.Random(seed)
    runner = CliRunner()
    tally = Tally()
    for number in range(count):
        case_dir = work / "case"
        case_dir.mkdir(parents=True, exist_ok=True)
        kind, commands = make_case(rng, case_dir)
        tally.cases += 1
        tally.kinds[kind] += 1
        for args in commands:
            started = time.perf_counter()
            result = runner.invoke(main, args)
            seconds = time.perf_counter() - started
            tally.runs += 1
            tally.exit_codes[result.exit_code] += 1
            tally.slowest = max(tally.slowest, seconds)
            if ("internal error" in result.output or result.exit_code not in (0, 1, 2)
                    or seconds > SLOW):
                kept = work / f"failure-{number}"
                shutil.copytree(case_dir, kept, dirs_exist_ok=True)
                kept_args = [arg.replace(str(case_dir), str(kept)) for arg in args]
                output = result.output[-2000:]
                if result.exception is not None and not isinstance(result.exception,
                                                                   SystemExit):
                    output += f"\n{type(result.exception).__name__}: {result.exception}"
                tally.failures.append(Failure(kind, kept_args, result.exit_code, seconds,
                                              output))
    return tally
