"""Search stage: the plain objects a search goes in and comes out as (request, hits, facets)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Mapping

from searchsvc.search.highlight import DEFAULT_SNIPPET_CHARS
from searchsvc.search.parse import MAX_QUERY_CHARS, QueryError

MAX_PER_PAGE = 100
SORTS = ("relevance", "newest", "oldest")
FACET_LIMIT = 20  # values shown per facet
# A facet's name (the filter parameter, `category:`) -> its key in JSON and the Typesense field.
FACET_KEYS = {"category": "categories", "tag": "tags", "author": "authors"}


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
    as_typed: bool = False  # never answer a correction instead (the page's "search as typed" link)

    @property
    def date_range(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """`from` and `to` as UTC instants, both days included."""
        start = dt.datetime.combine(self.date_from, dt.time.min, dt.timezone.utc) if self.date_from else None
        end = dt.datetime.combine(self.date_to, dt.time.max, dt.timezone.utc) if self.date_to else None
        return start, end

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
        as_typed=(one("as_typed", "") or "").strip().lower() in ("1", "true", "yes"),
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
    total: int
    pages: int
    took_ms: float
    hits: tuple[Hit, ...]
    facets: Mapping[str, tuple[FacetCount, ...]]
    suggestion: str | None = None
    partial: bool = False  # True when not every word matched (the three-quarters fallback)
    corrected: str | None = None  # the query answered instead of the typed one, which found nothing
