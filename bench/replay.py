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
import resource
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
