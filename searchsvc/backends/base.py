"""Backends: what every backend offers the edges — the Searcher protocol — and its one error."""

from __future__ import annotations

from typing import Protocol

from searchsvc.search.model import SearchRequest, SearchResult


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
