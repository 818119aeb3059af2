"""Backends: what every backend offers the edges — the Searcher protocol — and its one error."""

from __future__ import annotations

from typing import Protocol

from searchsvc.analysis.segment import AnalysisSettings
from searchsvc.ingest.lexicon import Lexicon
from searchsvc.search.model import SearchRequest, SearchResult
from searchsvc.search.parse import ParsedQuery


class BackendUnavailable(Exception):
    """The search cluster did not answer; the message never holds the API key."""


class Searcher(Protocol):
    @property
    def site_url(self) -> str: ...  # scheme://host of the public site, "" when unknown

    @property
    def analysis(self) -> AnalysisSettings: ...

    def run(self, request: SearchRequest) -> SearchResult: ...

    def read(self, q: str) -> ParsedQuery: ...  # q as this backend reads it: synonyms and pinyin applied

    def lexicon(self) -> Lexicon | None: ...  # the index's lexicon, None for an index without one

    def suggest(self, q: str, limit: int = 8) -> list[tuple[str, str]]: ...

    def document_count(self) -> int: ...

    def explain(self, request: SearchRequest) -> str: ...

    def close(self) -> None: ...
