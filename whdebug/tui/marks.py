"""Symbols for outcomes, steps and signatures, readable without colour (no Textual)."""

from __future__ import annotations

OUTCOME_SYMBOLS = {
    "fires": "✓",
    "rejected": "✗",
    "no-event": "∅",
    "no-trigger": "?",
    "duplicate": "↺",
    "challenge": "⇄",
    "none": "·",
}
OUTCOME_ORDER = ("fires", "rejected", "no-event", "no-trigger", "duplicate", "challenge")
STEP_SYMBOLS = {"pass": "✓", "fail": "✗", "warn": "!", "skip": "–"}
SIGNATURE_SYMBOLS = {"pass": "✓", "fail": "✗", "skipped": "–", "none": "·"}
SEVERITY_SYMBOLS = {"error": "✗", "warning": "!", "info": "i"}

# Textual styles by meaning: theme variables, so light and dark themes both read well.
OUTCOME_STYLES = {
    "fires": "$text-success bold",
    "rejected": "$text-error bold",
    "no-event": "$text-warning bold",
    "no-trigger": "$text-warning bold",
    "duplicate": "$text-secondary bold",
    "challenge": "$text-accent bold",
    "none": "$text-muted",
}
STEP_STYLES = {"pass": "$text-success", "fail": "$text-error bold", "warn": "$text-warning",
               "skip": "$text-muted"}
SEVERITY_STYLES = {"error": "$text-error bold", "warning": "$text-warning", "info": "$text-accent"}
MUTED = "$text-muted"
CODE_STYLE = "bold"

def printable(text: str) -> str:
    """Request-controlled text safe for a terminal: control characters shown as \\xNN."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def outcome_mark(status: str) -> str:
    return OUTCOME_SYMBOLS.get(status, "·")


def outcome_label(status: str) -> str:
    """`✓ fires`: the symbol and the word."""
    return f"{outcome_mark(status)} {status}"
