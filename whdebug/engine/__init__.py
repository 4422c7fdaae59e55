"""The analysis engine: pure functions from (definition, request, secrets, now) to a report."""

from whdebug.engine.analyze import AnalysisOptions, analyze
from whdebug.engine.plan import Plan, compile_definition
from whdebug.engine.report import Finding, Report
from whdebug.engine.steps.transactions import DedupeIndex

__all__ = [
    "AnalysisOptions", "DedupeIndex", "Finding", "Plan", "Report", "analyze", "compile_definition",
]
