"""Backends: the Whoosh engine in this process behind the Searcher protocol."""

from __future__ import annotations

from pathlib import Path

from searchsvc.analysis.segment import AnalysisSettings
from searchsvc.engine.evaluate.queries import build_queries
from searchsvc.engine.read.searcher import SearchIndex
from searchsvc.engine.run import run_query, suggest_titles
from searchsvc.ingest.lexicon import LEXICON, Lexicon
from searchsvc.search.model import SearchRequest, SearchResult
from searchsvc.search.parse import ParsedQuery
from searchsvc.search.plan import plan_query
from searchsvc.search.synonyms import Synonyms
from searchsvc.search.understand import Understanding


class WhooshSearcher:
    """SearchIndex and run_query behind the Searcher interface; queries read with the current
    generation's lexicon and the owner's synonyms."""

    def __init__(self, index_dir: Path, cache_size: int = 0, synonyms: Synonyms | None = None) -> None:
        self.index = SearchIndex(index_dir, cache_size)
        self.synonyms = synonyms
        self._lexicon: tuple[str, Lexicon | None] = ("", None)

    @property
    def analysis(self) -> AnalysisSettings:
        return self.index.analysis

    def lexicon(self) -> Lexicon | None:
        self.index.refresh()
        name = self.index.generation[0]
        if self._lexicon[0] != name:
            path = self.index.index_dir / name / LEXICON
            self._lexicon = (name, Lexicon(path) if path.is_file() else None)
        return self._lexicon[1]

    def _read(self, q: str, analysis: AnalysisSettings) -> ParsedQuery:
        return Understanding(self.lexicon(), self.synonyms).read(q, analysis)

    def read(self, q: str) -> ParsedQuery:
        return self._read(q, self.analysis)

    @property
    def site_url(self) -> str:
        return self.index.site_url

    def run(self, request: SearchRequest) -> SearchResult:
        return run_query(self.index, request, self._read)

    def suggest(self, q: str, limit: int = 8) -> list[tuple[str, str]]:
        return suggest_titles(self.index, q, limit, self._read)

    def document_count(self) -> int:
        return self.index.document_count()

    def explain(self, request: SearchRequest) -> str:
        parsed = self.read(request.q)
        return f"parsed: {parsed}\nwhoosh: {build_queries(plan_query(parsed, request))}"

    def close(self) -> None:
        self.index.close()
