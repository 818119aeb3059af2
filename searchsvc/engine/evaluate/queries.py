"""Engine: a query plan (search.plan) -> the Whoosh queries that find and rank it (pure: no index)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from whoosh import query as wq
from whoosh.query.compound import PreloadedOr

from searchsvc.analysis.normalize import is_cjk
from searchsvc.engine.evaluate.matcher import Substring
from searchsvc.search.plan import QueryPlan, substring_plan

TITLE_BOOST = 3.0


def substring_query(prefix: str, text: str, boost: float = 1.0) -> wq.Query:
    """Posts whose field `prefix` contains `text` verbatim (after normalization)."""
    plan = substring_plan(text)
    if plan is None:
        return wq.NullQuery
    if plan.single_char:
        core: wq.Query = wq.Term(prefix + "_chr", plan.units[0])
    elif len(plan.units) == 1:
        core = wq.Term(prefix + "_sub", plan.units[0])
    else:
        core = Substring(prefix + "_sub", list(plan.units))
    q = wq.And([core, wq.Term(prefix + "_chr", plan.char)]) if plan.char else core
    q.boost = boost
    return q


def word_query(word: str, alone: bool = False) -> wq.Query:
    """One query word: as a substring of title or body; whole jieba words rank higher.

    Words of one or two characters are single terms of the substring fields, whose postings weigh
    whole-word occurrences more (analysis.units.WHOLE_WORD_BONUS). Longer CJK words are phrases there, so
    their whole-word signal comes from the word fields. A word alone in its query has to visit
    every post it matches, which Whoosh's preloading union does fastest; a word beside other words
    or filters is mostly skipped over by the intersection, which its binary union does better
    (measured at 10k posts).
    """
    subs = [substring_query("title", word, TITLE_BOOST), substring_query("body", word)]
    if len(word) > 2 and any(is_cjk(c) for c in word):
        subs = [wq.Term("title", word, boost=TITLE_BOOST), wq.Term("body", word)] + subs
    return PreloadedOr(subs) if alone else wq.Or(subs)


def phrase_query(phrase: str) -> wq.Query:
    return wq.Or([substring_query("title", phrase, TITLE_BOOST), substring_query("body", phrase)])


def filter_query(
    filters: tuple[tuple[str, str], ...], date_from: dt.datetime | None = None, date_to: dt.datetime | None = None
) -> wq.Query | None:
    """Repeating one facet means any of its values; different facets must all hold."""
    by_field: dict[str, list[str]] = {}
    for name, value in filters:
        by_field.setdefault(name, []).append(value)
    parts: list[wq.Query] = [wq.Or([wq.Term(name, v) for v in values]) for name, values in sorted(by_field.items())]
    if date_from or date_to:
        parts.append(wq.DateRange("date", date_from, date_to))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else wq.And(parts)


@dataclass(frozen=True)
class WhooshQueries:
    """The Whoosh queries for one plan: what must match, what filters and excludes, and the tiers
    that rank matches before their scores do: each verbatim text held (title or body), then the
    exact title."""

    required: wq.Query
    exclude: wq.Query | None
    filters: wq.Query | None
    words: tuple[wq.Query, ...] = field(default=())
    alternatives: tuple[tuple[wq.Query, ...], ...] = field(default=())
    verbatim: tuple[wq.Query, ...] = field(default=())
    exact_title: wq.Query | None = None
    ranked: bool = True  # False when only filters were given: nothing to rank by

    def combined(self, required: wq.Query | None = None) -> wq.Query:
        q = required or self.required
        if self.filters is not None:
            q = wq.And([q, self.filters])
        if self.exclude is not None:
            q = wq.AndNot(q, self.exclude)
        return q

    def __str__(self) -> str:
        tiers = [wq.Or(list(g)) for g in self.alternatives] + list(self.verbatim)
        tiers += [self.exact_title] if self.exact_title is not None else []
        return str(self.combined()) + "".join(f" TIER({t})" for t in tiers)


def build_queries(plan: QueryPlan) -> WhooshQueries:
    alone = len(plan.words) + len(plan.phrases) + len(plan.alternatives) == 1 and not plan.narrowed
    words = tuple(word_query(w, alone) for w in plan.words)
    alternatives = tuple(tuple(word_query(t) for t in group) for group in plan.alternatives)
    required_parts = list(words) + [phrase_query(p) for p in plan.phrases]
    required_parts += [wq.Or(list(group)) if len(group) > 1 else group[0] for group in alternatives]
    filters = filter_query(plan.filters, plan.date_from, plan.date_to)
    required: wq.Query = wq.NullQuery
    if required_parts:
        required = required_parts[0] if len(required_parts) == 1 else wq.And(required_parts)
    elif filters is not None:
        required = wq.Every()  # a filter alone lists every post it admits
    excluded = [phrase_query(e) for e in plan.excluded] + [wq.Term("title", e) for e in plan.excluded]
    ranked = plan.ranked
    return WhooshQueries(
        required=required,
        exclude=wq.Or(excluded) if excluded else None,
        filters=filters,
        words=words,
        alternatives=alternatives if ranked else (),
        verbatim=tuple(phrase_query(chunk) for chunk in plan.verbatim) if ranked else (),
        exact_title=wq.Term("title_exact", plan.exact_title) if ranked and plan.exact_title else None,
        ranked=ranked,
    )
