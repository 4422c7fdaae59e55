"""Turn the search's outcome into findings: what matched and what to change, or, when
nothing matched, both possibilities (wrong secret, changed body) with the evidence."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from whdebug.engine.signatures.candidates import Hit
from whdebug.engine.signatures.digests import encode_digest
from whdebug.engine.signatures.edits import Variant, describe_difference
from whdebug.engine.signatures.evidence import mismatch_evidence, secret_kinds

if TYPE_CHECKING:
    from whdebug.engine.signatures.search import DiagnosisSearch

_KEY_FORMS = {
    "as-is": "as the raw string (any whsec_ included)",
    "trimmed": "with surrounding whitespace removed",
    "whsec-stripped": "as the raw string after whsec_ (not base64-decoded)",
    "whsec-base64-decoded": "as the base64-decoded bytes after whsec_",
    "base64-decoded": "as base64-decoded bytes",
    "hex-decoded": "as hex-decoded bytes",
}
_POSITION = re.compile(r"\((\d+) of (\d+)\)$")


def _key_name(search: DiagnosisSearch) -> str:
    resolution = search.context.resolution
    return resolution.key if resolution else "webhookSecret"


def _runtime_source(search: DiagnosisSearch) -> str | None:
    resolution = search.context.resolution
    return resolution.resolved_from if resolution else None


def scheme_unverified(search: DiagnosisSearch, verdict: bool = True) -> None:
    """The runtime cannot verify the provider's scheme, whatever the secret (`verdict`: a
    finding on the secret under the scheme follows)."""
    scheme = search.scheme
    assert scheme is not None
    search.context.add(
        "SIG_UNSUPPORTED_SCHEME",
        f"the headers carry a {scheme.title} signature ({scheme.name}): {scheme.description}. "
        "The runtime verifies only an HMAC of the raw body, so it cannot verify this provider's "
        "signatures"
        + (" (SIG_SCHEME_VERIFIED or SIG_SCHEME_MISMATCH says whether the secret verifies)"
           if verdict else ""),
        f"no definition change makes {scheme.name} signatures pass; ask Karzoun for "
        f"{scheme.name} support, or use a provider option that signs the raw body or sends a "
        "static token (verification type header-token)",
    )


def _body_modified(search: DiagnosisSearch, hit: Hit) -> str:
    variant = hit.variant
    assert variant is not None
    difference = describe_difference(variant.content, search.request.body,
                                     search.secret_forms())
    search.context.add(
        "SIG_BODY_MODIFIED",
        f"the signature matches the body before this change: {variant.transit}. The bytes "
        "received are not the bytes that were signed (a proxy, tunnel, framework or test "
        f"script changed them): {difference}. Found after "
        f"{search.bodies_tried} body variants",
        "send the body exactly as signed (curl --data-binary @file, not -d or --json; no "
        "JSON re-serialisation or charset conversion in between; read the raw request body "
        "before any parser touches it)",
    )
    return "the body as signed, before " + _short_transit(variant)


def _short_transit(variant: Variant) -> str:
    """What changed the body, in a few words: each edit's clause without its aside."""
    clauses = (re.sub(r" \(.*?\)|: .*", "", clause) for clause in variant.clauses)
    return ", then ".join(clauses)


def _explain_scheme(search: DiagnosisSearch, hit: Hit) -> str:
    scheme = search.scheme
    assert scheme is not None
    add, key, name = search.context.add, hit.key, _key_name(search)
    scheme_unverified(search)
    reasons: list[str] = []
    if key.source != _runtime_source(search):
        add(
            "SIG_WRONG_SECRET_SOURCE",
            f"the {scheme.title} signature verifies with {key.source}.{name}, not with the "
            f"{_runtime_source(search)}.{name} the runtime uses: the two hold secrets of "
            "different endpoints or environments",
            f"store the secret that verifies ({key.source}.{name}) in "
            f"{_runtime_source(search)}.{name}",
        )
        reasons.append(f"{key.source} secret")
    if key.variant == "trimmed":
        add(
            "SIG_SECRET_FORMAT",
            f"the {scheme.title} signature verifies only with {key.source}.{name} trimmed: the "
            "stored secret has surrounding whitespace (a pasted newline or space)",
            f"remove the whitespace from {key.source}.{name}",
        )
        reasons.append("secret trimmed")
    elif not key.canonical:
        add(
            "SIG_SECRET_FORMAT",
            f"the {scheme.title} signature matches only when the {key.source} secret is used "
            f"{_KEY_FORMS.get(key.variant, key.variant)} as the HMAC key; the {scheme.title} "
            f"libraries use {scheme.derivation}, so they reject this signature",
            f"sign with {scheme.derivation} as the key (the sender's code derives the key "
            "wrongly), or store the secret the sender really uses",
        )
        reasons.append(f"key {key.variant}")
    elif key.source == _runtime_source(search):
        add(
            "SIG_SCHEME_VERIFIED",
            f"your {key.source}.{name} secret ({key.hint}) verifies {hit.candidate.label} over "
            f"{scheme.label.split(' ', 1)[1]}, with {scheme.derivation} as the key, as the "
            f"{scheme.title} libraries check it"
            + (" (over the body before the change below)" if hit.variant else ""),
        )
    position = _POSITION.search(hit.candidate.label)
    if position and position.group(1) != "1":
        add(
            "SIG_ROTATED_SECRET",
            f"your secret verifies only {hit.candidate.label}: during a secret rotation the "
            f"sender signs with the new secret and the previous one, so yours is the previous "
            "secret and stops verifying when the rotation ends",
            f"copy the current signing secret ({scheme.secret_help}) into "
            f"{key.source}.{name}",
        )
        reasons.append("previous secret")
    if hit.variant is not None:
        reasons.append(_body_modified(search, hit))
    detail = ", ".join(reasons) if reasons else "your secret is right"
    return f"{scheme.title} signature ({detail}); the runtime cannot verify it"


def explain_hit(search: DiagnosisSearch, hit: Hit) -> str:
    """Findings for the first combination that matched; returns the step's reason."""
    if hit.tier in ("scheme", "scheme-body"):
        return _explain_scheme(search, hit)
    add, key, candidate = search.context.add, hit.key, hit.candidate
    name = _key_name(search)
    reasons: list[str] = []
    if hit.tier == "timestamp":
        add(
            "SIG_UNSUPPORTED_SCHEME",
            f"the request is signed over a timestamp-prefixed content ({hit.label}); the "
            "runtime only verifies an HMAC of the raw body, so it cannot verify this "
            "provider's signatures",
            "no definition change makes this pass under hmac-sha256; ask Karzoun for support "
            "of this scheme, or use a provider option that signs the raw body or sends a "
            "static token (verification type header-token)",
        )
        add(
            "SIG_SCHEME_VERIFIED",
            f"your {key.source}.{name} secret ({key.hint}) verifies {candidate.label} over "
            f"{hit.label} (HMAC-{hit.algorithm.upper()})",
        )
        return f"valid timestamp-prefixed ({hit.label}) signature, which the runtime cannot " \
               "verify"
    if candidate.prefix is not None:
        add(
            "SIG_SIGNATURE_PREFIX",
            f"{search.header_name} is {candidate.prefix!r} followed by the digest, and the "
            f"digest after {candidate.prefix!r} is right (HMAC-{hit.algorithm.upper()}, "
            f"{candidate.encoding}, of the {hit.label.replace('-', ' ')} with your {key.source} "
            "secret); the "
            "runtime strips only 'sha256=' and 'sha1=' and compares the whole rest, so this "
            "provider cannot be verified as configured",
            f"no definition change strips {candidate.prefix!r}: have the provider send the bare "
            "digest (or 'sha256=<digest>'), or ask Karzoun to strip this prefix",
        )
        reasons.append(f"prefix {candidate.prefix.strip()!r}")
    elif candidate.other_header is not None:
        add(
            "SIG_HEADER_NAME",
            f"the signature in {candidate.other_header} matches, but the definition reads "
            f"{search.header_name}",
            f'set webhook.verification.headerName to "{candidate.other_header}"',
            pointer="/webhook/verification/headerName",
        )
        reasons.append(f"signature is in {candidate.other_header}")
    elif candidate.label != f"header {search.header_name}":
        previous = candidate.label.endswith("-Previous")
        add(
            "SIG_OTHER_VALUE_MATCHES",
            f"{candidate.label} matches, but the runtime reads {search.header_name} as "
            f"{shorten(search.received_raw)!r}"
            + (": your secret is the previous one of a rotation" if previous else ""),
            (
                "update the stored secret to the provider's current one"
                if previous
                else "make the provider send one signature value; the runtime compares the "
                "whole header value"
            ),
        )
        reasons.append(f"only {candidate.label} matches")
    if candidate.encoding != search.encoding:
        add(
            "SIG_ENCODING",
            f"the signature is {candidate.encoding}-encoded, the definition says "
            f"{search.encoding}",
            f'set webhook.verification.encoding to "{candidate.encoding}"',
            pointer="/webhook/verification/encoding",
        )
        reasons.append(f"{candidate.encoding} encoding")
    elif candidate.upper_hex:
        add(
            "SIG_HEX_CASE",
            "the signature matches except for letter case: the provider sends upper-case hex "
            "and the runtime compares strings",
            'have the provider send lower-case hex (or base64 with encoding "base64"); no '
            "definition change fixes the case",
        )
        reasons.append("upper-case hex")
    elif candidate.encoding == "base64" and candidate.value != encode_digest(
        candidate.raw, "base64"
    ):
        add(
            "SIG_ENCODING",
            "the signature is URL-safe or unpadded base64; the runtime compares it with "
            "standard padded base64",
            "have the provider send standard base64",
        )
        reasons.append("base64 variant")
    if hit.algorithm != search.algorithm:
        if hit.algorithm in ("sha1", "sha256"):
            fix = f'set webhook.verification.type to "hmac-{hit.algorithm}"'
        else:
            fix = (
                "the runtime supports only hmac-sha256 and hmac-sha1: switch the provider "
                "to SHA-256"
            )
        add(
            "SIG_ALGORITHM",
            f"the signature is HMAC-{hit.algorithm.upper()}, the definition says "
            f"HMAC-{search.algorithm.upper()}",
            fix,
            pointer="/webhook/verification/type",
        )
        reasons.append(f"HMAC-{hit.algorithm.upper()}")
    runtime_source = _runtime_source(search)
    if key.source != runtime_source and key.variant == "as-is":
        add(
            "SIG_WRONG_SECRET_SOURCE",
            f"the request was signed with {key.source}.{name}, but the runtime uses "
            f"{runtime_source}.{name}, which holds a different value",
            (
                f"remove or correct credentials.{name} on the install (the registration "
                "request's mapping may store the wrong field)"
                if key.source == "auth.config"
                else f"make auth.config.{name} and credentials.{name} agree"
            ),
        )
        reasons.append(f"{key.source} secret")
    if key.variant != "as-is":
        fix = {
            "trimmed": f"remove the whitespace from {key.source}.{name}",
            "whsec-stripped": f"store the secret in {key.source}.{name} without 'whsec_'",
        }.get(
            key.variant,
            "the runtime uses the secret string as-is; the provider's key derivation cannot "
            "be expressed in the definition",
        )
        add(
            "SIG_SECRET_FORMAT",
            f"the signature matches only with the {key.source} secret "
            f"{_KEY_FORMS.get(key.variant, key.variant)}",
            fix,
        )
        reasons.append(f"secret {key.variant}")
    if hit.variant is not None:
        reasons.append(_body_modified(search, hit))
    if search.scheme is not None:
        scheme_unverified(search, verdict=False)
    return "matches only with: " + ", ".join(reasons) if reasons else "matches after correction"


def explain_nothing(search: DiagnosisSearch) -> str:
    """No combination matched: name what the bytes prove, else say both possibilities."""
    context = search.context
    resolution = context.resolution
    assert resolution is not None
    name = resolution.key
    where = f"{resolution.resolved_from}.{name}"
    proven, evidence = mismatch_evidence(search)
    if proven is not None:
        if search.scheme is not None:
            scheme_unverified(search, verdict=False)
        return proven
    tried = (
        f"{search.tried + 1} combinations tried"
        + (f", {search.bodies_tried} of them body variants" if search.bodies_tried else "")
    )
    found = " Evidence: " + "; ".join(evidence) + "." if evidence else ""
    kinds = secret_kinds(search)
    for source, kind in kinds:
        context.add(
            "SIG_SECRET_KIND",
            f"{source}.{name} ({search.secret_hint(source)}) looks like {kind}, not a webhook "
            "signing secret",
            "copy the signing secret into "
            f"{source}.{name}: "
            + (search.scheme.secret_help if search.scheme else "the value the provider's "
               "webhook settings show as the signing secret"),
        )
    fix = f"copy the signing secret from the provider's webhook settings into {where}" + (
        "" if resolution.resolved_from == "auth.config"
        else f" (the install's credentials; --credential {name}=... here)"
    )
    scheme = search.scheme
    if scheme is not None:
        scheme_unverified(search)
        context.add(
            "SIG_SCHEME_MISMATCH",
            f"your {where} secret ({search.secret_hint(resolution.resolved_from)}) does not "
            f"verify the {scheme.title} signature ({_values(len(scheme.candidates))}, over "
            f"{scheme.label.split(' ', 1)[1]} with {scheme.derivation} as the key; {tried}): "
            f"the secret is wrong, or the body was changed after signing.{found}",
            f"copy {scheme.secret_help} into {where}",
        )
        return f"{scheme.title} signature: your secret does not verify it"
    if not search.candidates:
        context.add(
            "SIG_MISMATCH",
            f"{search.header_name} holds {shorten(search.received_raw)!r}, which is neither hex "
            "nor base64 of a SHA digest",
            "check the provider's signature format; this header may not carry an HMAC",
        )
        return "received value is not a digest"
    if kinds:
        return "the secret is not a signing secret"
    context.add(
        "SIG_MISMATCH",
        f"no secret, algorithm, encoding or body variant reproduces {search.header_name} "
        f"({tried}): the secret is wrong ({where}, "
        f"{search.secret_hint(resolution.resolved_from)}), or the body was changed after "
        f"signing in a way whdebug cannot undo.{found}",
        fix + "; if the secret is right, send the body exactly as signed (--expected-body FILE "
        "checks the bytes the sender says it signed)",
    )
    return "wrong secret or changed body"


def _values(count: int) -> str:
    return "1 signature value" if count == 1 else f"{count} signature values"


def shorten(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"
