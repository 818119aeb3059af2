"""Engine: run one request on the index (plan, evaluate, fall back, page, facets, hits) -> plain, frozen result objects."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable

import numpy as np
from whoosh import query as wq
from whoosh.searching import Searcher

from searchsvc.analysis.segment import AnalysisSettings
from searchsvc.engine.evaluate.arrays import BulkEvaluator, Matches
from searchsvc.engine.evaluate.collect import by_key, top
from searchsvc.engine.evaluate.queries import (
    WhooshQueries,
    build_queries,
    substring_query,
    word_query,
)
from searchsvc.engine.read.searcher import SearchIndex, facet_counts
from searchsvc.engine.read.tables import IndexArrays
from searchsvc.search.fallback import narrower_query, suggests, words_needed
from searchsvc.search.hits import make_hit
from searchsvc.search.model import (
    FacetCount,
    Hit,
    SearchRequest,
    SearchResult,
)
from searchsvc.search.parse import FACET_FIELDS, ParsedQuery, parse_query
from searchsvc.search.plan import plan_query


Reader = Callable[[str, AnalysisSettings], ParsedQuery]  # the query text -> what it asks for


def run_query(index: SearchIndex, request: SearchRequest, read: Reader = parse_query) -> SearchResult:
    """Read, plan, match, rank, count facets, page and highlight one request (or reuse it)."""
    started = time.perf_counter()
    index.refresh()
    key = (index.generation, request)
    cached = index.cache.get(key) if index.cache.budget else None
    if cached is not None:
        return dataclasses.replace(cached, took_ms=_ms(started))
    result = _run_query(index, request, started, read)
    index.cache.put(key, result)
    return result


def _run_query(index: SearchIndex, request: SearchRequest, started: float, read: Reader) -> SearchResult:
    parsed = read(request.q, index.analysis)
    plan = build_queries(plan_query(parsed, request))
    if plan.required is wq.NullQuery:
        return SearchResult(request, 0, 0, _ms(started), (), _no_facets())
    with index.searching() as (searcher, arrays):
        return _evaluate(searcher, arrays, request, parsed, plan, index.analysis, started)


def _evaluate(searcher: Searcher, arrays: IndexArrays, request: SearchRequest, parsed: ParsedQuery, plan: WhooshQueries,
              analysis: AnalysisSettings, started: float) -> SearchResult:
    evaluator = BulkEvaluator(searcher, arrays)
    matches = evaluator.evaluate(plan.combined())
    partial = False
    suggestion = None
    if not matches.mask.any():
        fallback = _three_quarters(evaluator, parsed, plan)
        if fallback is not None and fallback.mask.any():
            matches = fallback
            partial = True
        suggestion = _suggest(evaluator, parsed, plan)
    total = int(np.count_nonzero(matches.mask))
    pages = math.ceil(total / request.per_page) if total else 0
    first = (request.page - 1) * request.per_page
    limit = request.page * request.per_page
    ranked = plan.ranked and request.sort == "relevance"
    tiers = _tiers(evaluator, plan, matches, limit) if ranked and total else None
    if ranked:
        docs = top(matches, limit, tiers)
    else:  # by date; a filter alone has nothing to rank by, so it lists the newest first
        docs = by_key(matches, arrays.keys("date"), limit, reverse=request.sort != "oldest")
    page = [int(d) for d in docs[first:limit]]
    hits = tuple(_hit(searcher, d, float(matches.score[d]), parsed, request, analysis, ranked) for d in page)
    if ranked:  # equal tiers and scores: the newer post first
        rank = {h.id: int(tiers[d]) if tiers is not None else 0 for h, d in zip(hits, page)}
        hits = tuple(sorted(hits, key=lambda h: (-rank[h.id], -h.score, -h.date.timestamp())))
    facets = facet_counts(arrays, evaluator.leaves, matches.mask) if total else _no_facets()
    return SearchResult(request, total, pages, _ms(started), hits, facets, suggestion, partial)


def _tiers(evaluator: BulkEvaluator, plan: WhooshQueries, matches: Matches, limit: int) -> np.ndarray | None:
    """Each matching post's tier, which ranks it before its score does. Most significant: per
    group of alternatives (in order), how early the first alternative it holds comes; then two
    for every verbatim text of the query it holds, one for a title that is the query. None when
    every post has the same.

    A verbatim text held by many candidates is confirmed only where it decides the first `limit`
    (_settle); the tiers of posts below those may be left low."""
    if not plan.alternatives and not plan.verbatim and plan.exact_title is None:
        return None
    docs = np.flatnonzero(matches.mask)
    rank = np.zeros(len(docs), dtype=np.int32)
    for group in plan.alternatives:
        held = np.zeros(len(docs), dtype=np.int32)
        for place, q in reversed(list(enumerate(group))):  # the earliest one held wins
            held[evaluator.holds(q, docs)[0]] = len(group) - place
        rank = rank * (len(group) + 1) + held
    rank *= 2 * len(plan.verbatim) + 2
    defer = limit <= MAX_SETTLED
    pending = []
    for q in plan.verbatim:
        sure, unsure = evaluator.holds(q, docs, defer)
        rank += 2 * sure
        pending.append((q, unsure))
    if plan.exact_title is not None:
        rank += evaluator.holds(plan.exact_title, docs)[0]
    if pending and any(unsure.any() for _, unsure in pending):
        _settle(evaluator, docs, matches.score[docs], rank, pending, limit)
    if not rank.any():
        return None
    tiers = np.zeros(len(matches.mask), dtype=np.int32)
    tiers[docs] = rank
    return tiers


# A verbatim text's unsure candidates are confirmed a page at a time, in the order they could
# rank, up to MAX_SETTLED of them; the rest then all at once.
MAX_SETTLED = 64


def _settle(evaluator: BulkEvaluator, docs: np.ndarray, score: np.ndarray, rank: np.ndarray,
            pending: list[tuple[wq.Query, np.ndarray]], limit: int) -> None:
    """Confirm the unsure verbatim candidates (`pending`: each text's unsure mask over `docs`)
    that could reach the first `limit`, adding to `rank` in place: ranked as if they held every
    text, the first `limit` are taken; once none of them is unsure they are the first `limit`
    whatever the others hold, else their unsure ones are confirmed and it goes again."""
    unsure = np.zeros(len(docs), dtype=bool)
    for _, maybe in pending:
        unsure |= maybe
    settled = 0
    every = Matches(np.ones(len(docs), dtype=bool), score)  # positions in docs, which are in order
    while unsure.any():
        hoped = rank + sum(2 * maybe for _, maybe in pending)
        best = top(every, limit, hoped)
        ask = np.sort(best[unsure[best]])  # in document order, as a domain is
        if not len(ask):
            return
        if settled + len(ask) > MAX_SETTLED:
            ask = np.flatnonzero(unsure)
        for q, maybe in pending:
            open_ = ask[maybe[ask]]
            if len(open_):
                rank[open_] += 2 * evaluator.holds(q, docs[open_])[0]
                maybe[open_] = False
        unsure[ask] = False
        settled += len(ask)


def _no_facets() -> dict[str, tuple[FacetCount, ...]]:
    return {name: () for name in FACET_FIELDS.values()}


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _three_quarters(evaluator: BulkEvaluator, parsed: ParsedQuery, plan: WhooshQueries) -> Matches | None:
    """When no post has every word: posts with at least three quarters of them, if that is fewer."""
    words = plan.words
    need = words_needed(parsed)
    if need is None:
        return None
    # A post with `need` of the words holds at least one of any len(words) - need + 1 of them:
    # the rarest that many give the candidates, and only those are counted.
    rarest = sorted(words, key=evaluator.estimate)[:len(words) - need + 1]
    docs = np.flatnonzero(evaluator.evaluate(plan.combined(wq.Or(rarest))).mask)
    counts = sum(evaluator.evaluate_in(plan.combined(w), docs)[0].astype(np.int32) for w in words)
    mask, score = evaluator.evaluate_in(plan.combined(wq.Or(list(words))), docs)
    mask &= counts >= need
    score[~mask] = 0.0
    matches = evaluator.empty()
    matches.mask[docs], matches.score[docs] = mask, score
    return matches


def _suggest(evaluator: BulkEvaluator, parsed: ParsedQuery, plan: WhooshQueries) -> str | None:
    """A narrower query that matches: drop the typed words that match nothing, then the rarest."""
    if not suggests(parsed):
        return None

    def group_query(words: tuple[str, ...]) -> wq.Query:
        return wq.And([word_query(w) for w in words]) if len(words) > 1 else word_query(words[0])

    def count(q: wq.Query) -> int:
        return int(np.count_nonzero(evaluator.evaluate(plan.combined(q)).mask))

    counts = {text: count(group_query(words)) for text, words in parsed.groups}
    return narrower_query(list(parsed.groups), counts,
                          lambda kept: bool(count(wq.And([group_query(words) for _, words in kept]))))


def _hit(
    searcher: Searcher, docnum: int, score: float, parsed: ParsedQuery, request: SearchRequest,
    analysis: AnalysisSettings, ranked: bool,
) -> Hit:
    stored = searcher.stored_fields(docnum)
    return make_hit(
        parsed, request, analysis, id=stored["id"], url=stored["url"], title=stored["title"], body=stored["text"],
        date=stored["date"], categories=tuple(stored.get("category") or ()), tags=tuple(stored.get("tag") or ()),
        authors=tuple(stored.get("author") or ()), image=stored.get("image", ""), score=score if ranked else 0.0,
    )


def suggest_titles(index: SearchIndex, q: str, limit: int = 8, read: Reader = parse_query) -> list[tuple[str, str]]:
    """Titles holding every word typed so far (as substrings, so 数字经 completes 数字经济; a
    pinyin run by what it reads as in the titles, so shuzij completes 数字经济 too)."""
    index.refresh()
    parsed = read(q, index.analysis)
    terms = parsed.words + parsed.phrases
    if not terms and not parsed.alternatives:
        return []
    parts: list[wq.Query] = [wq.Or([substring_query("title", t) for t in group]) for group in parsed.alternatives]
    for i, term in enumerate(terms):
        options = [wq.Term("title", term), substring_query("title", term)]
        if i == len(terms) - 1 and term.isascii() and term.isalnum():
            options.append(wq.Prefix("title_sub", term))  # the word still being typed
        parts.append(wq.Or(options))
    query = wq.And(parts) if len(parts) > 1 else parts[0]
    with index.searching() as (searcher, _):
        hits = searcher.search(query, limit=limit, terms=False)
        return [(hit["title"], hit["url"]) for hit in hits]
