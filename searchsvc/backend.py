"""The seam between the service and its search engine: Whoosh in this process (the default), or a
Typesense cluster. Posts, analysis, the query language and snippets are shared; each backend
indexes and answers queries its own way."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Protocol

from searchsvc.index import IndexSettings, current_generation
from searchsvc.model import SearchRequest, SearchResult
from searchsvc.query import build_plan, parse_query
from searchsvc.reindex import Progress, ReindexReport, update_index
from searchsvc.search import SearchIndex, run_query, suggest_titles

if TYPE_CHECKING:  # the Typesense client is imported only when that backend is used
    from searchsvc.tsindex import TypesenseConfig

BACKENDS = ("whoosh", "typesense")


class BackendUnavailable(Exception):
    """The search cluster did not answer; the message never holds the API key."""


class Searcher(Protocol):
    @property
    def site_url(self) -> str: ...  # scheme://host of the public site, "" when unknown

    def run(self, request: SearchRequest) -> SearchResult: ...

    def suggest(self, q: str, limit: int = 8) -> list[tuple[str, str]]: ...

    def document_count(self) -> int: ...

    def explain(self, request: SearchRequest) -> str: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class BackendConfig:
    """Which engine, and where. `index_dir` is Whoosh's index; with Typesense it only holds the
    lock that keeps reindexes on this machine one at a time."""

    kind: str = "whoosh"
    index_dir: Path = Path("index")
    typesense: TypesenseConfig | None = None

    def __post_init__(self) -> None:
        if self.kind not in BACKENDS:
            raise ValueError(f"unknown backend {self.kind!r}; use one of {', '.join(BACKENDS)}")
        if self.kind == "typesense" and not self.typesense:
            raise ValueError("the typesense backend needs its nodes and API key")

    def describe(self) -> str:
        if self.typesense:
            return f"Typesense collection '{self.typesense.collection}' on {', '.join(self.typesense.nodes)}"
        return f"{self.index_dir}/"


class WhooshSearcher:
    """SearchIndex and run_query behind the Searcher interface."""

    def __init__(self, index_dir: Path, cache_size: int = 0) -> None:
        self.index = SearchIndex(index_dir, cache_size)

    @property
    def site_url(self) -> str:
        return self.index.site_url

    def run(self, request: SearchRequest) -> SearchResult:
        return run_query(self.index, request)

    def suggest(self, q: str, limit: int = 8) -> list[tuple[str, str]]:
        return suggest_titles(self.index, q, limit)

    def document_count(self) -> int:
        return self.index.document_count()

    def explain(self, request: SearchRequest) -> str:
        parsed = parse_query(request.q, self.index.analysis)
        return f"parsed: {parsed}\nwhoosh: {build_plan(parsed, request.filters)}"

    def close(self) -> None:
        self.index.close()


def open_searcher(config: BackendConfig, cache_size: int = 0) -> Searcher:
    """Raises IndexMissing when there is nothing to search yet (and, for Typesense,
    BackendUnavailable when no node answers)."""
    if config.typesense:
        from searchsvc.tssearch import TypesenseSearch

        return TypesenseSearch(config.typesense)
    return WhooshSearcher(config.index_dir, cache_size)


def reindex(
    config: BackendConfig, posts_dir: Path, settings: IndexSettings, *, full: bool = False,
    changed: Iterable[str] | None = None, progress: Progress | None = None,
) -> ReindexReport:
    if config.typesense:
        from searchsvc.tsindex import typesense_reindex

        return typesense_reindex(config.typesense, config.index_dir, posts_dir, settings, full=full, changed=changed,
                                 progress=progress)
    return update_index(posts_dir, config.index_dir, full=full, settings=settings, changed=changed, progress=progress)


def has_index(config: BackendConfig) -> bool:
    if config.typesense:
        from searchsvc.tsindex import CLIENT_ERRORS, close_client, current_collection, unavailable

        client = config.typesense.client()
        try:
            return current_collection(client, config.typesense.collection) is not None
        except CLIENT_ERRORS as exc:
            raise unavailable(config.typesense, exc) from None
        finally:
            close_client(client)
    return current_generation(config.index_dir) is not None
