"""Customer extraction: basePath (or its per-event override) and the field mapping."""

from __future__ import annotations

from typing import Any

from whdebug.engine._specs import CustomerField, CustomerSpec
from whdebug.engine.paths import Body, js_string
from whdebug.engine.report import CustomerResult, Finding, finding


def _relative(base: Any, field: CustomerField) -> Any:
    """Read a provider field inside the base object: `email` or `contact.email` or `$.x`."""
    if field.text is None:
        return None
    if field.path is not None:
        found = field.path.find(base)
        return found[0] if found else None
    node = base
    for key in field.keys:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return node


def extract_customer(
    spec: CustomerSpec | None, event: str | None, body: Body
) -> tuple[CustomerResult | None, list[Finding]]:
    if spec is None:
        return None, []
    base_path = spec.base_path
    if event is not None and event in spec.overrides:
        base_path = spec.overrides[event]
    found = body.select(base_path)
    names = tuple(field.name for field in spec.fields)
    if not found or not isinstance(found[0], dict):
        return CustomerResult(base_path.text, False, {}, names), [
            finding(
                "CUS_NO_CODE",
                f"customerExtraction.basePath {base_path.text} finds no object in this "
                f"{event or 'request'}: no customer is attached to it",
                "point basePath (or overrides[event].basePath) at the customer object",
                step="customer",
                pointer="/webhook/customerExtraction/basePath",
            )
        ]
    base = found[0]
    fields: dict[str, Any] = {}
    missing: list[str] = []
    for field in spec.fields:
        value = _relative(base, field)
        if value is None or value == "":
            missing.append(field.name)
        else:
            fields[field.name] = (
                value if isinstance(value, str | int | float | bool) else js_string(value)
            )
    findings: list[Finding] = []
    if "code" not in fields:
        where = next((f.text for f in spec.fields if f.name == "code"), None)
        findings.append(
            finding(
                "CUS_NO_CODE",
                (
                    f"customer code ({where}) is empty under {base_path.text}"
                    if where
                    else "customerExtraction.mapping has no `code`"
                )
                + ": customers cannot be matched to "
                "existing contacts",
                "map `code` to the provider's stable customer id",
                step="customer",
                pointer="/webhook/customerExtraction/mapping",
            )
        )
    return CustomerResult(base_path.text, True, fields, tuple(missing)), findings
