"""The capture list filter: `event:push outcome:rejected path:/miniapps code:SIG_` (no Textual).

Terms are ANDed. `field:value` matches one field; a bare word matches any of them. Matching
is case-insensitive: substrings for event, path and method; a prefix for outcome and codes.
`-term` negates a term.

With the analysis index (whdebug.tui.indexing) a filter is one SQL query over the store
(`indexed_matches`, the same rules in whdebug.store.analyses); without it (the demo) `scan`
pages through the store and analyses what it must.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from whdebug.store.analyses import ASCII_LOWER, FilterTerm
from whdebug.store.base import indexed
from whdebug.store.store import CaptureSummary
from whdebug.tui.analysis import Analyzer, RowVerdict, SharedStore

FIELDS = ("event", "outcome", "path", "code", "method", "sig")
_ALIASES = {"status": "outcome", "o": "outcome", "e": "event", "p": "path", "c": "code",
            "finding": "code", "m": "method", "signature": "sig", "s": "sig"}
_SUMMARY_FIELDS = frozenset({"path", "method"})


@dataclass(frozen=True, slots=True)
class Term:
    field: str | None
    value: str
    negate: bool = False


@dataclass(frozen=True, slots=True)
class CaptureFilter:
    text: str
    terms: tuple[Term, ...]

    @property
    def needs_analysis(self) -> bool:
        """False when path and method decide (no capture has to be analysed)."""
        return any(term.field not in _SUMMARY_FIELDS for term in self.terms)

    def __bool__(self) -> bool:
        return bool(self.terms)

    def matches(self, summary: CaptureSummary, verdict: RowVerdict | None) -> bool:
        return all(_matches(term, summary, verdict) != term.negate for term in self.terms)


def _fold(text: str) -> str:
    return text.translate(ASCII_LOWER)


def parse_filter(text: str) -> CaptureFilter:
    terms: list[Term] = []
    for word in text.split():
        negate = word.startswith("-") and len(word) > 1
        if negate:
            word = word[1:]
        name, colon, value = word.partition(":")
        field = _ALIASES.get(_fold(name), _fold(name)) if colon else None
        if colon and field in FIELDS and value:
            terms.append(Term(field, _fold(value), negate))
        else:
            terms.append(Term(None, _fold(word), negate))
    return CaptureFilter(text.strip(), tuple(terms))


def _matches(term: Term, summary: CaptureSummary, verdict: RowVerdict | None) -> bool:
    value = term.value
    target, method = _fold(summary.target), _fold(summary.method)
    if term.field == "path":
        return value in target
    if term.field == "method":
        return value in method
    if verdict is None:
        return False if term.field is not None else (value in target or value in method)
    event = _fold(verdict.event or "")
    status, codes = _fold(verdict.status), [_fold(code) for code in verdict.codes]
    if term.field == "event":
        return value in event
    if term.field == "outcome":
        return status.startswith(value)
    if term.field == "code":
        return any(code.startswith(value) for code in codes)
    if term.field == "sig":
        return _fold(verdict.signature).startswith(value)
    return (value in event or value in target or value in method or status.startswith(value)
            or any(code.startswith(value) for code in codes))


def scan(analyzer: Analyzer, capture_filter: CaptureFilter, *, only: list[int] | None = None,
         page_size: int = 500) -> Iterator[tuple[list[CaptureSummary], int]]:
    """Matching captures page by page, newest first, with how many were scanned so far.

    Pages come from the store (summaries only); captures are analysed only when the filter
    needs a verdict, oldest first within a page so deduplication reuses earlier results.
    `only` limits the scan to these ids (new arrivals).
    """
    before: int | None = (max(only) + 1) if only else None
    wanted = set(only) if only is not None else None
    scanned = 0
    while True:
        page = analyzer.store.page(before, page_size if wanted is None else len(wanted))
        if wanted is not None:
            page = [summary for summary in page if summary.id in wanted]
        if not page:
            return
        verdicts = (analyzer.verdicts(summary.id for summary in page)
                    if capture_filter.needs_analysis else {})
        scanned += len(page)
        before = page[-1].id
        yield [s for s in page if capture_filter.matches(s, verdicts.get(s.id))], scanned
        if wanted is not None:
            return


def sql_terms(capture_filter: CaptureFilter) -> list[FilterTerm]:
    return [(term.field, term.value, term.negate) for term in capture_filter.terms]


def indexed_matches(shared: SharedStore, set_id: int | None, capture_filter: CaptureFilter,
                    only: list[int] | None = None) -> list[int]:
    """Ids matching the filter in the analysis set (within `only`), newest first: one query.

    A capture the set holds no row for matches by path and method alone, as an unanalysed
    capture does in `scan`."""
    set_id = set_id if capture_filter.needs_analysis else None
    first, last = (min(only), max(only)) if only else (0, 2**63 - 1)
    with shared.lock:
        found = indexed(shared.store).filter_analyses(
            set_id, sql_terms(capture_filter), first=first, last=last)
    if only is not None:
        wanted = set(only)
        found = [capture_id for capture_id in found if capture_id in wanted]
    return found
