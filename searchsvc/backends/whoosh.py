"""Backends: the Whoosh engine in this process behind the Searcher protocol."""

from __future__ import annotations

from pathlib import Path

from searchsvc.engine.evaluate.queries import build_queries
from searchsvc.engine.read.searcher import SearchIndex
from searchsvc.engine.run import run_query, suggest_titles
from searchsvc.search.model import SearchRequest, SearchResult
from searchsvc.search.parse import parse_query
from searchsvc.search.plan import plan_query


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
        return f"parsed: {parsed}\nwhoosh: {build_queries(plan_query(parsed, request))}"

    def close(self) -> None:
        self.index.close()
