"""Finding codes of the troubleshooting commands (urls, source, sync, bundle) and their severities.

These findings never appear in a webhook report, so they live outside the engine's
FINDING_CODES; the sync preview also reuses the engine's SYNC_* and DEF_* codes.
"""

from __future__ import annotations

from whdebug.engine.report import FINDING_CODES, Finding, Severity

TROUBLESHOOTING_CODES: dict[str, Severity] = {
    # whdebug urls
    "URL_API_TRAILING_SLASH": "warning",
    "URL_API_PATH": "warning",
    "URL_API_QUERY": "warning",
    "URL_API_NOT_HTTPS": "warning",
    "URL_NOT_USED": "info",
    # whdebug source (offline and --call)
    "SRC_NOT_JSON": "error",
    "SRC_ERROR_BODY": "error",
    "SRC_DATAPATH_MISSING": "error",
    "SRC_NOT_ARRAY": "error",
    "SRC_EMPTY": "warning",
    "SRC_ITEM_NOT_OBJECT": "error",
    "SRC_VALUE_MISSING": "error",
    "SRC_LABEL_MISSING": "warning",
    "SRC_DUPLICATE_VALUE": "warning",
    "SRC_DUPLICATE_LABEL": "info",
    "SRC_PLACEHOLDER_EMPTY": "error",
    "SRC_UNAUTHORIZED": "error",
    "SRC_HTTP_STATUS": "error",
    "SRC_REDIRECT_BLOCKED": "error",
    "SRC_TIMEOUT": "error",
    "SRC_CONNECTION": "error",
    # whdebug sync
    "SYNC_UNSTABLE_CODE": "error",
    "SYNC_TRANSFORM_UNKNOWN": "warning",
    "SYNC_COMPUTE_NOT_EVALUATED": "info",
    "SYNC_FIELD_EMPTY": "info",
    "SYNC_NO_HANDLERS": "error",
    "SYNC_UNSAFE_INTEGER": "warning",
}


def diagnosis(code: str, message: str, fix: str | None = None, *, step: str,
              severity: Severity | None = None, pointer: str | None = None) -> Finding:
    """A finding of a troubleshooting command, with the code's default severity."""
    default = TROUBLESHOOTING_CODES.get(code) or FINDING_CODES[code]
    return Finding(code, severity or default, message, fix, step, pointer)
