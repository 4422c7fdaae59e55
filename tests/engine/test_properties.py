"""Arbitrary bodies, JSON and definitions never raise out of the engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from factories import BASE_DEFINITION, NOW, SECRET, make_request, sign
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from whdebug.engine import DedupeIndex, analyze
from whdebug.engine.report import FINDING_CODES
from whdebug.engine.reportline import encode_report
from whdebug.model.definition import Definition
from whdebug.model.request import CapturedRequest, Secrets

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)
paths = st.sampled_from(
    [
        "$.event",
        "event",
        "$..x",
        "$[0]",
        "$.a[*].b",
        "$['k']",
        "$.",
        "",
        "$.a.b.c",
        "[",
        "$.event.type",
    ]
) | st.text(max_size=12)
definition_values = st.dictionaries(
    st.sampled_from(
        [
            "eventExtraction",
            "transactionId",
            "verification",
            "challengeResponse",
            "customerExtraction",
            "response",
        ]
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "source": st.sampled_from(["body", "header", "query", "x"]) | st.integers(),
            "path": paths,
            "paths": st.lists(paths, max_size=3),
            "type": st.sampled_from(["hmac-sha256", "hmac-sha1", "header-token", "none", "x"]),
            "headerName": st.sampled_from(["X-Signature", "X-Other"]) | st.integers(),
            "secretKey": st.sampled_from(["webhookSecret", "nope"]),
            "encoding": st.sampled_from(["hex", "base64", "x"]),
            "compositeStrategy": st.fixed_dictionaries(
                {},
                optional={
                    "separator": st.text(max_size=2) | st.none(),
                    "parts": st.lists(
                        st.fixed_dictionaries(
                            {"source": st.sampled_from(["body", "header"]), "path": paths}
                        ),
                        max_size=3,
                    ),
                },
            ),
            "identifyField": paths,
            "identifyValue": json_values,
            "challengePath": paths,
            "basePath": paths,
            "mapping": st.dictionaries(st.text(max_size=5), paths, max_size=3),
            "statusCode": st.integers(),
            "separator": st.text(max_size=2),
        },
    ),
)


def check(report: Any) -> None:
    assert report.outcome.status in (
        "fires",
        "rejected",
        "no-event",
        "no-trigger",
        "duplicate",
        "challenge",
    )
    for item in report.findings:
        assert item.code in FINDING_CODES
    encode_report(report)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.binary(max_size=400),
    content_type=st.sampled_from(
        [None, "application/json", "application/x-www-form-urlencoded", "text/plain"]
    ),
)
def test_arbitrary_bytes_never_raise(body: bytes, content_type: str | None) -> None:
    request = make_request(body, content_type=content_type, signature=sign(body))
    report = analyze(
        request,
        Definition(BASE_DEFINITION),
        Secrets({"webhookSecret": SECRET}),
        now=NOW,
        dedupe=DedupeIndex(),
    )
    check(report)
    assert report.signature.verdict == "pass"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=json_values)
def test_arbitrary_json_never_raises(document: Any) -> None:
    body = json.dumps(document).encode()
    report = analyze(
        make_request(body, signature=sign(body)),
        Definition(BASE_DEFINITION),
        Secrets({"webhookSecret": SECRET}),
        now=NOW,
    )
    check(report)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Found by this test: a mapping that is not a JSONPath raised JSONPathSyntaxError out of analyze().
@example(webhook={"customerExtraction": {"mapping": {"code": "$."}}}, document={}, headers=[],
         credentials={})
# Found by this test: a JSON string body ("[") reached python-jsonpath, which parsed it as JSON.
@example(webhook={"eventExtraction": {}, "transactionId": {}, "verification": {},
                  "customerExtraction": {}}, document="[", headers=[], credentials={})
@given(
    webhook=definition_values,
    document=json_values,
    headers=st.lists(
        st.tuples(
            st.sampled_from(["X-Signature", "X-Other", "X-Event"]),
            st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=20),
        ),
        max_size=3,
    ),
    credentials=st.dictionaries(
        st.sampled_from(["webhookSecret", "x"]), st.text(max_size=10), max_size=2
    ),
)
def test_arbitrary_definitions_never_raise(
    webhook: dict[str, Any],
    document: Any,
    headers: list[tuple[str, str]],
    credentials: dict[str, str],
) -> None:
    data = {**BASE_DEFINITION, "webhook": webhook}
    request = CapturedRequest(
        "POST",
        "/miniapps/acme/webhooks",
        headers=tuple(headers),
        body=json.dumps(document).encode(),
    )
    check(analyze(request, Definition(data), Secrets(credentials), now=NOW))


def test_hypothesis_runs_with_a_fixed_seed_only_in_ci() -> None:
    """tests/conftest.py picks the derandomized "ci" profile exactly when CI is set."""
    tests = Path(__file__).resolve().parent.parent
    probe = "import conftest; from hypothesis import settings; print(settings.default.derandomize)"
    seen = {}
    for ci in ("1", None):
        env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": ci} if ci else {})
        result = subprocess.run([sys.executable, "-c", probe], cwd=tests, env=env,
                                capture_output=True, text=True, check=True)
        seen[ci] = result.stdout.strip()
    assert seen == {"1": "True", None: "False"}
