"""Backends, Typesense: searching — the same query language, matching and snippets as the
Whoosh backend, with Typesense finding, counting and ranking.

Every word is a phrase of its substring tokens (or a single character), so matching is exact
substring matching as in Whoosh. Posts holding the typed text verbatim come first: they are a
first tier, searched apart from the rest, as the Whoosh engine ranks them in a tier of their own.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from searchsvc.analysis.segment import AnalysisSettings
from searchsvc.backends.base import BackendUnavailable
from searchsvc.backends.typesense.index import (
    CLIENT_ERRORS,
    TypesenseConfig,
    close_client,
    lexicon_path,
    open_collection,
    unavailable,
)
from searchsvc.ingest.lexicon import Lexicon
from searchsvc.search.errors import IndexMissing
from searchsvc.search.fallback import narrower_query, suggests, words_needed
from searchsvc.search.hits import make_hit
from searchsvc.search.model import (
    FACET_KEYS,
    FACET_LIMIT,
    FacetCount,
    Hit,
    SearchRequest,
    SearchResult,
)
from searchsvc.search.parse import ParsedQuery
from searchsvc.search.plan import QueryPlan, plan_query, substring_plan
from searchsvc.search.synonyms import Synonyms
from searchsvc.search.understand import Understanding

TEXT_FIELDS = "title_sub,title_chr,body_sub,body_chr"
WEIGHTS = "3,3,1,1"
STORED = "path,url,title,text,date,categories,tags,authors,image"
MAX_FALLBACK_SUBSETS = 16
MAX_ALTERNATIVE_TIERS = 12
FALLBACK_DEPTH = 250


def word_terms(word: str) -> list[str]:
    """One word as Typesense query terms: the phrase of its substring units (search.plan), and the
    trailing character required apart."""
    plan = substring_plan(word)
    if plan is None:
        return []
    core = plan.units[0] if len(plan.units) == 1 else '"' + " ".join(plan.units) + '"'
    return [core] + ([plan.char] if plan.char else [])


def _terms(words: tuple[str, ...] | list[str]) -> list[str]:
    return [t for w in words for t in word_terms(w)]


def _exclusions(plan: QueryPlan) -> list[str]:
    return ["-" + terms[0] for terms in map(word_terms, plan.excluded) if terms]


@dataclass(frozen=True)
class TypesensePlan:
    """The Typesense searches for one parsed query: one q per tier, and the shared parameters."""

    tiers: tuple[str, ...]
    params: dict[str, Any]
    ranked: bool

    def __str__(self) -> str:
        return " | ".join(f"q={q!r}" for q in self.tiers) + f" {self.params}"


def _alternative_tiers(plan: QueryPlan) -> list[list[str]]:
    """The terms each alternatives tier adds, in rank order: per group, its i-th text and not the
    ones before it (so the tiers are disjoint and their counts add up), groups combined in order."""
    per_group = []
    for group in plan.alternatives:
        options: list[list[str]] = []
        before: list[str] = []
        for text in group:
            terms = word_terms(text)
            if terms:
                options.append(terms + ["-" + t for t in before])
                before.append(terms[0])
        per_group.append(options)
    if not all(per_group):
        return []
    return [sum(combo, []) for combo in itertools.islice(itertools.product(*per_group), MAX_ALTERNATIVE_TIERS)]


def build_ts_plan(plan: QueryPlan, request: SearchRequest) -> TypesensePlan | None:
    required = _terms(plan.words + plan.phrases)
    alternatives = _alternative_tiers(plan) if plan.alternatives else [[]]
    if not alternatives:
        return None  # a group none of whose texts can match
    excluded = _exclusions(plan)
    filters = _filter_by(plan)
    if not required and not filters and not plan.alternatives:
        return None
    ranked = bool(required) or bool(plan.alternatives)
    sort = request.sort if ranked or request.sort != "relevance" else "newest"
    params: dict[str, Any] = {
        "query_by": TEXT_FIELDS, "query_by_weights": WEIGHTS, "prefix": "false", "num_typos": "0",
        "typo_tokens_threshold": 0, "drop_tokens_threshold": 0, "include_fields": STORED,
        "highlight_fields": "title_chr", "highlight_full_fields": "title_chr", "snippet_threshold": 0,
        "facet_by": ",".join(FACET_KEYS.values()), "max_facet_values": 100,
        "sort_by": {"relevance": "_text_match:desc,date:desc", "newest": "date:desc", "oldest": "date:asc"}[sort],
    }
    if filters:
        params["filter_by"] = filters
    tiers = []
    chunks = [c for c in plan.verbatim if word_terms(c)]
    for extra in alternatives:
        terms = required + extra
        base = " ".join(terms + excluded) if terms else "*"
        if terms and chunks:  # posts holding the verbatim text first, then the others
            chunk = word_terms(max(chunks, key=len))
            verbatim = " ".join(chunk)
            tiers += [f"{base} {verbatim}", f"{base} -{chunk[0]}"] if chunk[0].startswith('"') else [base]
        else:
            tiers.append(base)
    return TypesensePlan(tuple(tiers), params, ranked)


def _filter_by(plan: QueryPlan) -> str:
    by_field: dict[str, list[str]] = {}
    for name, value in plan.filters:
        by_field.setdefault(FACET_KEYS.get(name, name), []).append(value.replace("`", ""))
    parts = [f"{name}:=[{','.join(f'`{v}`' for v in values)}]" for name, values in sorted(by_field.items())]
    if plan.date_from:
        parts.append(f"date:>={int(plan.date_from.timestamp())}")
    if plan.date_to:
        parts.append(f"date:<={int(plan.date_to.timestamp())}")
    return " && ".join(parts)


class TypesenseSearch:
    """The service's searcher on a Typesense cluster (any node answers; the client fails over)."""

    def __init__(self, config: TypesenseConfig, folder: Path | None = None, synonyms: Synonyms | None = None) -> None:
        self.config = config
        self.folder, self.synonyms = folder, synonyms  # folder: where reindex left the lexicon
        self._lock = threading.Lock()
        self._checked = 0.0
        self._lexicon: tuple[str, Lexicon | None] = ("", None)
        self.client, self.collection, settings = open_collection(config)
        self.analysis: AnalysisSettings = settings.analysis
        self.site_url = settings.urls.site_url

    def lexicon(self) -> Lexicon | None:
        collection = self.collection
        if self._lexicon[0] != collection:
            path = lexicon_path(self.folder, collection) if self.folder else None
            self._lexicon = (collection, Lexicon(path) if path and path.is_file() else None)
        return self._lexicon[1]

    def read(self, q: str) -> ParsedQuery:
        """The query as every backend reads it: with the collection's lexicon and the synonyms."""
        return Understanding(self.lexicon(), self.synonyms).read(q, self.analysis)

    def refresh(self, max_age: float = 2.0) -> None:
        """Notice a full reindex (the alias points at a new collection) for its settings."""
        if time.monotonic() - self._checked < max_age:
            return
        self._checked = time.monotonic()
        try:
            client, collection, settings = open_collection(self.config)
        except (BackendUnavailable, IndexMissing):
            return  # keep searching what we have; the search itself retries through an election
        if collection == self.collection:
            close_client(client)
            return
        with self._lock:
            old, self.client, self.collection = self.client, client, collection
            self.analysis, self.site_url = settings.analysis, settings.urls.site_url
        close_client(old)

    def _search(self, searches: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One multi-search. While the cluster elects a new leader its nodes may refuse for a
        moment; the client tries every node, and we try again for a few seconds."""
        deadline = time.monotonic() + self.config.retry_seconds
        while True:
            try:
                answer = self.client.multi_search.perform({"searches": searches}, {"collection": self.config.collection})
                results = answer["results"]
                failed = [r["error"] for r in results if "error" in r]
                if not failed:
                    return results  # type: ignore[no-any-return]
                error: Exception = RuntimeError(str(failed[0]))
            except CLIENT_ERRORS as exc:
                error = exc
            if time.monotonic() > deadline:
                raise unavailable(self.config, error)
            time.sleep(0.1)

    def run(self, request: SearchRequest) -> SearchResult:
        started = time.perf_counter()
        self.refresh()
        parsed = self.read(request.q)
        query = plan_query(parsed, request)
        plan = build_ts_plan(query, request)
        empty: dict[str, tuple[FacetCount, ...]] = {name: () for name in FACET_KEYS}
        if plan is None:
            return SearchResult(request, 0, 0, _ms(started), (), empty)
        hits, total, facets = self._tiered(plan, request)
        partial, suggestion = False, None
        if total == 0 and plan.ranked:
            hits, total, facets, partial = self._three_quarters(parsed, query, plan, request)
            suggestion = self._suggest(parsed, plan)
        pages = math.ceil(total / request.per_page) if total else 0
        rendered = tuple(self._hit(h, parsed, request, plan.ranked and request.sort == "relevance") for h in hits)
        return SearchResult(request, total, pages, _ms(started), rendered, facets or empty, suggestion, partial)

    def _tiered(self, plan: TypesensePlan, request: SearchRequest) -> tuple[list[dict[str, Any]], int, dict[str, tuple[FacetCount, ...]]]:
        """The requested page across the tiers, the total and the facet counts."""
        per_page, start = request.per_page, (request.page - 1) * request.per_page
        if len(plan.tiers) == 1:
            result = self._search([{**plan.params, "q": plan.tiers[0], "page": request.page, "per_page": per_page}])[0]
            return result["hits"], result["found"], _facets([result])
        # The first page (what readers ask) comes with the counts: each tier's first hits
        # cover it, so one round trip instead of two (at 2k posts 86% of a query was the node's).
        first = start == 0
        counts = self._search([{**plan.params, "q": q, "per_page": per_page if first else 0} for q in plan.tiers])
        hits: list[dict[str, Any]] = []
        offset = 0
        for q, counted in zip(plan.tiers, counts):
            found = counted["found"]
            lo, hi = max(start - offset, 0), min(start + per_page - offset, found)
            if lo < hi:
                hits += counted["hits"][lo:hi] if first else self._slice({**plan.params, "q": q, "facet_by": ""},
                                                                          lo, hi - lo, per_page)
            offset += found
        return hits, offset, _facets(counts)

    def _slice(self, params: dict[str, Any], start: int, count: int, per_page: int) -> list[dict[str, Any]]:
        first = start // per_page + 1
        pages = [{**params, "page": p, "per_page": per_page} for p in range(first, (start + count - 1) // per_page + 2)]
        hits = [h for r in self._search(pages) for h in r["hits"]]
        skip = start - (first - 1) * per_page
        return hits[skip:skip + count]

    def _three_quarters(
        self, parsed: ParsedQuery, query: QueryPlan, plan: TypesensePlan, request: SearchRequest,
    ) -> tuple[list[dict[str, Any]], int, dict[str, tuple[FacetCount, ...]], bool]:
        """Posts with at least three quarters of the words, most words first (as the Whoosh backend)."""
        need = words_needed(parsed)
        # counted before they are made: a paste of 32 words needing 24 has 10.5 million (4 s)
        if need is None or math.comb(len(parsed.words), need) > MAX_FALLBACK_SUBSETS:
            return [], 0, {}, False
        subsets = list(itertools.combinations(parsed.words, need))
        searches = [{**plan.params, "q": " ".join(_terms(s) + _exclusions(query)),
                     "per_page": FALLBACK_DEPTH, "include_fields": "id,date", "facet_by": ""} for s in subsets]
        seen: Counter[str] = Counter()
        dates: dict[str, int] = {}
        for result in self._search(searches):
            for hit in result["hits"]:
                seen[hit["document"]["id"]] += 1
                dates[hit["document"]["id"]] = hit["document"]["date"]
        if not seen:
            return [], 0, {}, False
        newest_first = request.sort != "oldest"
        order = sorted(seen, key=lambda d: (-seen[d] if request.sort == "relevance" else 0,
                                            -dates[d] if newest_first else dates[d]))
        start = (request.page - 1) * request.per_page
        page_ids = order[start:start + request.per_page]
        fetch = {**plan.params, "q": "*", "filter_by": f"id:[{','.join(order)}]", "per_page": max(len(page_ids), 1)}
        got = self._search([fetch, {**fetch, "filter_by": f"id:[{','.join(page_ids or order[:1])}]",
                                    "include_fields": STORED + ",id"}])
        by_id = {h["document"]["id"]: h for h in got[1]["hits"]}
        return [by_id[d] for d in page_ids if d in by_id], len(order), _facets([got[0]]), True

    def _suggest(self, parsed: ParsedQuery, plan: TypesensePlan) -> str | None:
        if not suggests(parsed):
            return None

        def q_of(groups: list[tuple[str, tuple[str, ...]]]) -> dict[str, Any]:
            terms = _terms([w for _, words in groups for w in words])
            return {**plan.params, "q": " ".join(terms), "per_page": 0, "facet_by": ""}

        counted = self._search([q_of([g]) for g in parsed.groups])
        counts = {g[0]: r["found"] for g, r in zip(parsed.groups, counted)}
        return narrower_query(list(parsed.groups), counts, lambda kept: bool(self._search([q_of(kept)])[0]["found"]))

    def _hit(self, hit: dict[str, Any], parsed: ParsedQuery, request: SearchRequest, ranked: bool) -> Hit:
        doc = hit["document"]
        return make_hit(
            parsed, request, self.analysis, id=doc["path"], url=doc.get("url", ""), title=doc.get("title", ""),
            body=doc.get("text", ""), date=dt.datetime.fromtimestamp(doc["date"], dt.timezone.utc),
            categories=tuple(doc.get("categories") or ()), tags=tuple(doc.get("tags") or ()),
            authors=tuple(doc.get("authors") or ()), image=doc.get("image") or "",
            score=hit.get("text_match", 0) / 2**59 if ranked else 0.0,
        )

    def suggest(self, q: str, limit: int = 8) -> list[tuple[str, str]]:
        self.refresh()
        parsed = self.read(q)
        terms = _terms(parsed.words + parsed.phrases)
        extras = _alternative_tiers(plan_query(parsed)) if parsed.alternatives else [[]]
        if not terms and not any(extras):
            return []
        typing = bool(terms) and terms[-1].isascii() and terms[-1].isalnum()
        results = self._search([{"q": " ".join(terms + extra), "query_by": "title_sub,title_chr",
                                 "prefix": str(typing).lower(), "num_typos": "0", "drop_tokens_threshold": 0,
                                 "per_page": limit, "include_fields": "title,url"} for extra in extras])
        found = dict.fromkeys((h["document"]["title"], h["document"]["url"]) for r in results for h in r["hits"])
        return list(found)[:limit]

    def document_count(self) -> int:
        try:
            return int(self.client.collections[self.collection].retrieve()["num_documents"])
        except CLIENT_ERRORS as exc:
            raise unavailable(self.config, exc) from None

    def explain(self, request: SearchRequest) -> str:
        parsed = self.read(request.q)
        return f"parsed: {parsed}\ntypesense: {build_ts_plan(plan_query(parsed, request), request)}"

    def close(self) -> None:
        close_client(self.client)


def _facets(results: list[dict[str, Any]]) -> dict[str, tuple[FacetCount, ...]]:
    counts: dict[str, Counter[str]] = {name: Counter() for name in FACET_KEYS}
    fields = {v: k for k, v in FACET_KEYS.items()}
    for result in results:
        for facet in result.get("facet_counts", []):
            for item in facet["counts"]:
                counts[fields[facet["field_name"]]][item["value"]] += item["count"]
    return {name: tuple(FacetCount(v, c) for v, c in sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))[:FACET_LIMIT])
            for name, found in counts.items()}


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
