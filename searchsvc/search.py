"""Search stage, part two: run a query plan on the index -> plain, frozen result objects."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
from collections import Counter
from typing import Any

from whoosh import collectors
from whoosh import query as wq
from whoosh.searching import Results, Searcher

from searchsvc.analysis import AnalysisSettings
from searchsvc.highlight import make_snippet, mark_title
from searchsvc.index import stored_text
from searchsvc.model import (
    MAX_PER_PAGE, SORTS, FacetCount, Hit, SearchRequest, SearchResult, make_request,
)
from searchsvc.query import FACET_FIELDS, ParsedQuery, QueryPlan, build_plan, parse_query, substring_query, word_query
from searchsvc.searchindex import SearchIndex

__all__ = [
    "MAX_PER_PAGE", "SORTS", "FacetCount", "Hit", "SearchIndex", "SearchRequest", "SearchResult", "make_request",
    "run_query", "suggest_titles",
]


def run_query(index: SearchIndex, request: SearchRequest) -> SearchResult:
    """Parse, plan, match, rank, count facets, page and highlight one request (or reuse it)."""
    started = time.perf_counter()
    index.refresh()
    key = (index.generation, request)
    cached = index.cache.get(key) if index.cache.size else None
    if cached is not None:
        return dataclasses.replace(cached, took_ms=_ms(started))
    result = _run_query(index, request, started)
    index.cache.put(key, result)
    return result


def _run_query(index: SearchIndex, request: SearchRequest, started: float) -> SearchResult:
    parsed = parse_query(request.q, index.analysis)
    date_from = dt.datetime.combine(request.date_from, dt.time.min, dt.timezone.utc) if request.date_from else None
    date_to = dt.datetime.combine(request.date_to, dt.time.max, dt.timezone.utc) if request.date_to else None
    plan = build_plan(parsed, request.filters, date_from, date_to)
    searcher = index.searcher()
    empty: dict[str, tuple[FacetCount, ...]] = {name: () for name in FACET_FIELDS.values()}
    if plan.required is wq.NullQuery:
        return SearchResult(request, parsed, 0, 0, _ms(started), (), empty)

    query = plan.combined()
    results = _collect(searcher, query, request, None, plan.ranked)
    partial = False
    suggestion = None
    if not results.docs():
        fallback, query = _three_quarters(searcher, parsed, plan)
        if fallback:
            results = _collect(searcher, query, request, fallback)
            partial = True
        suggestion = _suggest(searcher, parsed, plan)
    docs = results.docs()
    total = len(docs)
    pages = math.ceil(total / request.per_page) if total else 0
    first = (request.page - 1) * request.per_page
    ranked = plan.ranked and request.sort == "relevance"
    hits = tuple(_hit(hit, parsed, request, index.analysis, ranked) for hit in results[first:first + request.per_page])
    if ranked:  # equal scores: the newer post first
        hits = tuple(sorted(hits, key=lambda h: (-h.score, -h.date.timestamp())))
    facets = index.facet_table(searcher).count(docs) if total else empty
    return SearchResult(request, parsed, total, pages, _ms(started), hits, facets, suggestion, partial)


def _collect(
    searcher: Searcher, query: wq.Query, request: SearchRequest, only: set[int] | None, ranked: bool = True
) -> Results:
    """One pass that ranks the requested page and records every matching document (for total and facets)."""
    sort = request.sort if ranked or request.sort != "relevance" else "newest"
    limit = request.page * request.per_page
    if sort != "relevance":  # Whoosh's sorting collector records every match already
        return searcher.search(query, limit=limit, sortedby="date", reverse=sort == "newest", filter=only, terms=False)
    collector: Any = _TopAndAllCollector(limit)
    if only is not None:
        collector = collectors.FilterCollector(collector, allow=only)
    searcher.search_with_collector(query, collector)
    return collector.results()


class _TopAndAllCollector(collectors.TopCollector):  # type: ignore[misc]
    """Top N by score, and the set of every match for total and facets, in one pass.

    Whoosh's TopCollector keeps only the top N, so asking it for the total runs the query again.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(limit=limit, usequality=False, replace=0)  # no pruning: every match counts

    def _collect(self, global_docnum: int, score: float) -> Any:
        self.docset.add(global_docnum)
        return super()._collect(global_docnum, score)

    def all_ids(self) -> set[int]:
        return self.docset  # type: ignore[no-any-return]

    def count(self) -> int:
        return len(self.docset)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _three_quarters(searcher: Searcher, parsed: ParsedQuery, plan: QueryPlan) -> tuple[set[int], wq.Query]:
    """When no post has every word: posts with at least three quarters of them, if that is fewer."""
    words = plan.words
    need = math.ceil(0.75 * len(words))
    if parsed.phrases or len(words) < 2 or need >= len(words):
        return set(), plan.combined()
    counts: Counter[int] = Counter()
    for wq_ in words:
        counts.update(set(searcher.docs_for_query(plan.combined(wq_))))
    docs = {d for d, n in counts.items() if n >= need}
    return docs, plan.combined(wq.Or(list(words)))


def _suggest(searcher: Searcher, parsed: ParsedQuery, plan: QueryPlan) -> str | None:
    """A narrower query that matches: drop the typed words that match nothing, then the rarest."""
    if len(parsed.groups) < 2:
        return None

    def group_query(words: tuple[str, ...]) -> wq.Query:
        return wq.And([word_query(w) for w in words]) if len(words) > 1 else word_query(words[0])

    counts = {text: sum(1 for _ in searcher.docs_for_query(plan.combined(group_query(words))))
              for text, words in parsed.groups}
    kept = [g for g in parsed.groups if counts[g[0]]]
    while kept:
        q = plan.combined(wq.And([group_query(words) for _, words in kept]))
        if any(True for _ in searcher.docs_for_query(q)):
            return " ".join(text for text, _ in kept)
        kept.remove(min(kept, key=lambda g: counts[g[0]]))
    return None


def _hit(hit: Any, parsed: ParsedQuery, request: SearchRequest, analysis: AnalysisSettings, ranked: bool) -> Hit:
    stored = hit.fields()
    terms = parsed.highlight_terms
    return Hit(
        id=stored["id"],
        url=stored["url"],
        title=stored["title"],
        title_html=mark_title(stored["title"], terms),
        snippet_html=make_snippet(stored_text(stored["text"]), terms, request.snippet_chars, analysis),
        date=stored["date"],
        categories=tuple(stored.get("category") or ()),
        tags=tuple(stored.get("tag") or ()),
        authors=tuple(stored.get("author") or ()),
        image=stored.get("image", ""),
        score=round(float(hit.score), 3) if ranked and hit.score else 0.0,
    )


def suggest_titles(index: SearchIndex, q: str, limit: int = 8) -> list[tuple[str, str]]:
    """Titles holding every word typed so far (as substrings, so 数字经 completes 数字经济)."""
    index.refresh()
    parsed = parse_query(q, index.analysis)
    terms = parsed.words + parsed.phrases
    if not terms:
        return []
    parts: list[wq.Query] = []
    for i, term in enumerate(terms):
        options = [wq.Term("title", term), substring_query("title", term)]
        if i == len(terms) - 1 and term.isascii() and term.isalnum():
            options.append(wq.Prefix("title_sub", term))  # the word still being typed
        parts.append(wq.Or(options))
    query = wq.And(parts) if len(parts) > 1 else parts[0]
    hits = index.searcher().search(query, limit=limit, terms=False)
    return [(hit["title"], hit["url"]) for hit in hits]
