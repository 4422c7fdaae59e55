"""Customer extraction: basePath (or its per-event override) and the field mapping."""

from __future__ import annotations

from typing import Any

from whdebug.engine.paths import Body, find_all, js_string
from whdebug.engine.report import CustomerResult, Finding, finding


def _relative(base: Any, field: str) -> Any:
    """Read a provider field inside the base object: `email` or `contact.email` or `$.x`."""
    if field.startswith("$"):
        found = find_all(field, base)
        return found[0] if found else None
    node = base
    for key in field.split("."):
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return node


def extract_customer(
    config: Any, event: str | None, body: Body
) -> tuple[CustomerResult | None, list[Finding]]:
    if not isinstance(config, dict):
        return None, []
    base_path = config.get("basePath", "$")
    overrides = config.get("overrides")
    if isinstance(overrides, dict) and event is not None and isinstance(overrides.get(event), dict):
        base_path = overrides[event].get("basePath", base_path)
    base_path = base_path if isinstance(base_path, str) else "$"
    try:
        found = body.find(base_path)
    except Exception:
        found = []
    mapping = config.get("mapping") if isinstance(config.get("mapping"), dict) else {}
    assert isinstance(mapping, dict)
    if not found or not isinstance(found[0], dict):
        return CustomerResult(base_path, False, {}, tuple(mapping)), [
            finding(
                "CUS_NO_CODE",
                f"customerExtraction.basePath {base_path} finds no object in this "
                f"{event or 'request'}: no customer is attached to it",
                "point basePath (or overrides[event].basePath) at the customer object",
                step="customer",
                pointer="/webhook/customerExtraction/basePath",
            )
        ]
    base = found[0]
    fields: dict[str, Any] = {}
    missing: list[str] = []
    for internal, provider_field in mapping.items():
        value = _relative(base, provider_field) if isinstance(provider_field, str) else None
        if value is None or value == "":
            missing.append(internal)
        else:
            fields[internal] = (
                value if isinstance(value, str | int | float | bool) else js_string(value)
            )
    findings: list[Finding] = []
    if "code" not in fields:
        where = mapping.get("code")
        findings.append(
            finding(
                "CUS_NO_CODE",
                (
                    f"customer code ({where}) is empty under {base_path}"
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
    return CustomerResult(base_path, True, fields, tuple(missing)), findings
