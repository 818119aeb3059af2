"""Search stage: plan — what a parsed request asks the engine for, in plain objects every backend
translates into its own queries: which texts must match and how (a substring phrase of units,
plus a trailing character required apart), what ranks higher, what is excluded and filtered."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from searchsvc.analysis.normalize import is_cjk
from searchsvc.analysis.units import substring_units
from searchsvc.search.model import SearchRequest
from searchsvc.search.parse import ParsedQuery


@dataclass(frozen=True)
class SubstringPlan:
    """A text matched verbatim (after normalization): consecutive substring units (bigrams and
    other words), or one CJK character; and a last character required anywhere apart.

    The text's last CJK character may be followed by another in a post, where the index holds
    their bigram instead of it; the bigram before it already covers it, else it is required on
    its own (`char`)."""

    units: tuple[str, ...]
    char: str | None = None

    @property
    def single_char(self) -> bool:
        """One CJK character: a term of the character field, not of the substring field."""
        return len(self.units) == 1 and len(self.units[0]) == 1 and is_cjk(self.units[0])


def substring_plan(text: str) -> SubstringPlan | None:
    """How `text` (normalized) is matched as a substring; None when it holds no letters or digits."""
    units = [u for u, _, _ in substring_units(text)]
    if not units:
        return None
    char = None
    last = units[-1]
    if len(last) == 1 and is_cjk(last) and len(units) > 1:
        units.pop()
        if not (len(units[-1]) == 2 and is_cjk(units[-1][-1]) and units[-1][-1] == last):
            char = last
    return SubstringPlan(tuple(units), char)


@dataclass(frozen=True)
class QueryPlan:
    """One request as the engine sees it. Every word and phrase must match; posts holding the
    `verbatim` text (the longest typed chunk of several words) rank above all others, then those
    whose title is `exact_title`. Before both: a post holding an earlier text of an `alternatives`
    group ranks above one holding only a later one (groups compared in order). `excluded` texts remove a
    post; `filters` (facet, value) and the date range narrow."""

    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    alternatives: tuple[tuple[str, ...], ...] = ()  # each must match one of its texts, as a word
    verbatim: tuple[str, ...] = ()
    exact_title: str = ""
    excluded: tuple[str, ...] = ()
    filters: tuple[tuple[str, str], ...] = ()
    date_from: dt.datetime | None = None
    date_to: dt.datetime | None = None

    @property
    def ranked(self) -> bool:
        """False when only filters were given: nothing to rank by."""
        return bool(self.words or self.phrases or self.alternatives)

    @property
    def narrowed(self) -> bool:
        return bool(self.filters or self.date_from or self.date_to)

    @property
    def empty(self) -> bool:
        """Nothing to match and nothing to list: no post answers it."""
        return not self.ranked and not self.narrowed


def plan_query(parsed: ParsedQuery, request: SearchRequest | None = None) -> QueryPlan:
    date_from, date_to = request.date_range if request else (None, None)
    return QueryPlan(
        words=parsed.words, phrases=parsed.phrases, alternatives=parsed.alternatives, verbatim=(max(parsed.chunks, key=len),) if parsed.chunks else (), exact_title=parsed.plain,
        excluded=parsed.excluded, filters=parsed.filters + (request.filters if request else ()),
        date_from=date_from, date_to=date_to,
    )
