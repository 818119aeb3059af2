"""Search stage: an index directory held open for searching, across reindexes and threads."""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from itertools import chain
from pathlib import Path
from typing import Any, Iterable

from whoosh import scoring
from whoosh.index import Index
from whoosh.searching import Searcher

from searchsvc.analysis import AnalysisSettings
from searchsvc.index import generation_token, open_index, read_settings
from searchsvc.model import FacetCount, SearchResult
from searchsvc.query import FACET_FIELDS

FACET_LIMIT = 20


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
        self.site_url = settings.urls.site_url  # the public site's scheme://host, "" when unknown
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
