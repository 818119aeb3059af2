"""Search stage, part two: run a query plan on the index -> plain, frozen result objects."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, Iterable, Mapping

from whoosh import collectors
from whoosh import query as wq
from whoosh import scoring
from whoosh.index import Index
from whoosh.searching import Results, Searcher

from searchsvc.analysis import AnalysisSettings
from searchsvc.highlight import DEFAULT_SNIPPET_CHARS, make_snippet, mark_title
from searchsvc.index import generation_token, open_index, read_settings, stored_text
from searchsvc.query import (
    FACET_FIELDS, MAX_QUERY_CHARS, ParsedQuery, QueryError, QueryPlan, build_plan, parse_query, substring_query,
    word_query,
)

MAX_PER_PAGE = 100
SORTS = ("relevance", "newest", "oldest")
FACET_LIMIT = 20


@dataclass(frozen=True)
class SearchRequest:
    q: str
    page: int = 1
    per_page: int = 10
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    sort: str = "relevance"
    snippet_chars: int = DEFAULT_SNIPPET_CHARS

    @property
    def filters(self) -> tuple[tuple[str, str], ...]:
        return tuple([("category", c) for c in self.categories] + [("tag", t) for t in self.tags]
                     + [("author", a) for a in self.authors])


def make_request(params: Mapping[str, list[str]]) -> SearchRequest:
    """Validate raw parameters (each a list of strings, as in a query string) into a request."""
    def one(name: str, default: str | None = None) -> str | None:
        values = params.get(name) or []
        return values[-1] if values else default

    q = one("q")
    if q is None:
        raise QueryError("the parameter q is required")
    if len(q) > MAX_QUERY_CHARS:
        raise QueryError(f"q is longer than {MAX_QUERY_CHARS} characters")
    page = _int_param("page", one("page", "1"), 1, 10**6)
    per_page = _int_param("per_page", one("per_page", "10"), 1, MAX_PER_PAGE)
    sort = one("sort", "relevance") or "relevance"
    if sort not in SORTS:
        raise QueryError(f"sort must be one of {', '.join(SORTS)}")
    date_from, date_to = _date_param("from", one("from")), _date_param("to", one("to"))
    if date_from and date_to and date_from > date_to:
        raise QueryError("from is after to")
    return SearchRequest(
        q=q, page=page, per_page=per_page, sort=sort, date_from=date_from, date_to=date_to,
        categories=_values(params, "category"), tags=_values(params, "tag"), authors=_values(params, "author"),
    )


def _values(params: Mapping[str, list[str]], name: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in params.get(name) or [] if v.strip()))


def _int_param(name: str, raw: str | None, low: int, high: int) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise QueryError(f"{name} must be a whole number, not {str(raw)[:20]!r}") from None
    if not low <= value <= high:
        raise QueryError(f"{name} must be between {low} and {high}")
    return value


def _date_param(name: str, raw: str | None) -> dt.date | None:
    if raw is None or not raw.strip():
        return None
    try:
        return dt.date.fromisoformat(raw.strip()[:10])
    except ValueError:
        raise QueryError(f"{name} must be an ISO date such as 2021-03-23, not {raw[:20]!r}") from None


@dataclass(frozen=True)
class Hit:
    id: str
    url: str
    title: str
    title_html: str
    snippet_html: str
    date: dt.datetime
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    authors: tuple[str, ...]
    image: str
    score: float


@dataclass(frozen=True)
class FacetCount:
    value: str
    count: int


@dataclass(frozen=True)
class SearchResult:
    request: SearchRequest
    parsed: ParsedQuery
    total: int
    pages: int
    took_ms: float
    hits: tuple[Hit, ...]
    facets: Mapping[str, tuple[FacetCount, ...]]
    suggestion: str | None = None
    partial: bool = False  # True when not every word matched (the three-quarters fallback)


class SearchIndex:
    """An index directory opened once per generation; reopens by itself after a reindex.

    Whoosh searchers are not safe to share between threads, so each thread holds its own.
    """

    def __init__(self, index_dir: Path, cache_size: int = 0) -> None:
        self.index_dir = Path(index_dir)
        self.cache = _ResultCache(cache_size)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._state: tuple[tuple[str, int], Index, AnalysisSettings, _FacetTable | None] | None = None
        self._checked = 0.0
        self._searchers: list[Searcher] = []
        self._open()

    def _open(self) -> None:
        ix, gen_name = open_index(self.index_dir)
        settings = read_settings(self.index_dir / gen_name)
        self._state = (generation_token(self.index_dir, ix, gen_name), ix, settings.analysis, None)

    def refresh(self, max_age: float = 0.5) -> None:
        """Notice a new generation or commit; checked at most every `max_age` seconds."""
        now = time.monotonic()
        if now - self._checked < max_age:
            return
        self._checked = now
        assert self._state is not None
        token, ix, _, _ = self._state
        if generation_token(self.index_dir, ix, token[0]) != token:
            with self._lock:
                self._open()

    @property
    def analysis(self) -> AnalysisSettings:
        assert self._state is not None
        return self._state[2]

    @property
    def generation(self) -> tuple[str, int]:
        assert self._state is not None
        return self._state[0]

    def searcher(self) -> Searcher:
        assert self._state is not None
        token, ix, _, _ = self._state
        held = getattr(self._local, "held", None)
        if held is None or held[0] != token:
            if held is not None:
                held[1].close()
            held = (token, ix.searcher(weighting=scoring.BM25F(B=0.75, K1=1.2)))
            self._local.held = held
            with self._lock:
                self._searchers = [s for s in self._searchers if not s.is_closed] + [held[1]]
        return held[1]

    def close(self) -> None:
        """Close every searcher this index handed out (their threads must be done with them)."""
        with self._lock:
            for searcher in self._searchers:
                searcher.close()
            self._searchers = []

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def facet_table(self, searcher: Searcher) -> _FacetTable:
        assert self._state is not None
        token, ix, analysis, table = self._state
        if table is None or table.token != token:
            table = _FacetTable(token, searcher)
            with self._lock:
                if self._state[0] == token:
                    self._state = (token, ix, analysis, table)
        return table

    def document_count(self) -> int:
        return self.searcher().doc_count()


class _FacetTable:
    """docnum -> facet values, read once per generation so counting a result set is a C-speed loop."""

    def __init__(self, token: tuple[str, int], searcher: Searcher) -> None:
        self.token = token
        size = searcher.doc_count_all()
        self.values: dict[str, list[tuple[str, ...]]] = {}
        reader = searcher.reader()
        for name in FACET_FIELDS.values():
            per_doc: list[list[str]] = [[] for _ in range(size)]
            for term in reader.lexicon(name):
                value = term.decode("utf-8")
                for docnum in reader.postings(name, term).all_ids():
                    per_doc[docnum].append(value)
            self.values[name] = [tuple(v) for v in per_doc]

    def count(self, docs: Iterable[int]) -> dict[str, tuple[FacetCount, ...]]:
        docs = list(docs)
        out = {}
        for name, table in self.values.items():
            counts = Counter(chain.from_iterable(map(table.__getitem__, docs)))
            top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:FACET_LIMIT]
            out[name] = tuple(FacetCount(v, c) for v, c in top)
        return out


class _ResultCache:
    """Recent results keyed by index generation and request; a new commit or generation misses."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], SearchResult] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> SearchResult | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], result: SearchResult) -> None:
        if not self.size:
            return
        with self._lock:
            self._items[key] = result
            while len(self._items) > self.size:
                self._items.popitem(last=False)


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
