"""What whdebug and Node may read differently in a hostile body, said as findings.

The helpers that find each case are in `engine/bodytext.py`; `Body` records what its parse met.
"""

from __future__ import annotations

import json

import msgspec

from whdebug.engine.paths import Body
from whdebug.engine.report import Finding, finding


def body_findings(body: Body) -> list[Finding]:
    """What whdebug and Node may read differently in this body, each said as a finding."""
    findings: list[Finding] = []
    deep = body.nesting
    if deep is not None:
        findings.append(finding(
            "REQ_BODY_TOO_DEEP",
            f"the body nests arrays/objects {deep.words}; whdebug's JSON parser stops at "
            "about 1,000 levels, so its body paths find nothing here. Node's JSON.parse (V8) "
            "parses any depth, so the runtime does read this body: what its event, "
            "transaction id and customer paths select is unknown to whdebug (the signature "
            "verdict only needs the bytes and stands)",
            "to check the body paths, replay a flatter sample of the same event",
            step="request"))
        return findings
    if body.kind != "json":
        return findings
    bad = body.invalid_utf8_at
    if bad is not None:
        sample = body.raw[bad:bad + 4].hex(" ")
        findings.append(finding(
            "REQ_BODY_NOT_UTF8",
            f"the body is not valid UTF-8 at byte {bad} ({sample} ...). Node reads a body with "
            "Buffer.toString('utf8'), which turns every invalid sequence into U+FFFD before "
            "JSON.parse, and whdebug read it the same way (assumed: a runtime that rejected "
            "invalid UTF-8 would drop this request); values holding those bytes are not what "
            "the provider sent",
            "make the sender encode its body as UTF-8",
            step="request"))
    surrogate = body.lone_surrogate
    if surrogate is not None:
        path, text = surrogate
        findings.append(finding(
            "REQ_LONE_SURROGATE",
            f"the body string at {path} ({json.dumps(text)}) holds a lone UTF-16 surrogate "
            "escape. Node's JSON.parse accepts it and keeps it, as whdebug does, so the event, "
            "ids and trigger match use that code unit; but TextEncoder (and any UTF-8 write: "
            "a stored record, a forwarded body) writes it as U+FFFD (ef bf bd), so what is "
            "stored differs from what was matched",
            "make the sender escape whole surrogate pairs (or send the character as UTF-8)",
            step="request"))
    return findings


_BODY_STEPS = frozenset({"extract", "match", "dedupe", "customer", "sync"})


def unparsed_body_caveats(findings: list[Finding]) -> list[Finding]:
    """With a body whdebug could not parse, its body-based findings say so, and their fix
    is to check on a parsable sample first.

    A fix derived from values whdebug could not read (say, renaming a trigger to the event
    it extracted without the body's part) would be a wrong fix.
    """
    if not any(f.code == "REQ_BODY_TOO_DEEP" for f in findings):
        return findings
    return [
        msgspec.structs.replace(
            f, message=f"{f.message} (whdebug could not parse the body, REQ_BODY_TOO_DEEP: "
                       "the runtime may extract otherwise)",
            fix="check it on a sample whdebug can parse before changing the definition")
        if f.step in _BODY_STEPS else f
        for f in findings
    ]
