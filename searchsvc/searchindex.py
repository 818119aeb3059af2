"""Search stage: an index directory held open for searching, across reindexes and threads."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from whoosh import scoring
from whoosh.codec.whoosh3 import STORED_COLUMN
from whoosh.index import Index
from whoosh.reading import EmptyReader, IndexReader, MultiReader, SegmentReader
from whoosh.searching import Searcher

from searchsvc.analysis import AnalysisSettings
from searchsvc.bulk import IndexArrays, LruCache, leaf_readers
from searchsvc.index import generation_token, open_index, read_settings
from searchsvc.model import FacetCount
from searchsvc.query import FACET_FIELDS

FACET_LIMIT = 20


class SearchIndex:
    """An index directory opened once per generation; reopens by itself after a reindex.

    Whoosh searchers are not safe to share between threads, so each thread holds its own.
    """

    def __init__(self, index_dir: Path, cache_size: int = 0) -> None:
        self.index_dir = Path(index_dir)
        self.cache = LruCache(cache_size)  # results keyed by commit and request
        self._lock = threading.Lock()
        self._local = threading.local()
        self._state: tuple[tuple[str, int], Index, AnalysisSettings] | None = None
        self._arrays: dict[tuple[str, int], IndexArrays] = {}
        self._checked = 0.0
        self._searchers: list[Searcher] = []
        self._open()

    def _open(self) -> None:
        ix, gen_name = open_index(self.index_dir)
        settings = read_settings(self.index_dir / gen_name)
        self.site_url = settings.urls.site_url  # the public site's scheme://host, "" when unknown
        self._state = (generation_token(self.index_dir, ix, gen_name), ix, settings.analysis)

    def refresh(self, max_age: float = 0.5) -> None:
        """Notice a new generation or commit; checked at most every `max_age` seconds."""
        now = time.monotonic()
        if now - self._checked < max_age:
            return
        self._checked = now
        assert self._state is not None
        token, ix, _ = self._state
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
        token, ix, _ = self._state
        held = getattr(self._local, "held", None)
        if held is None or held[0] != token:
            if held is not None:
                held[1].close()
            opened, arrays = self._open_searcher(ix)
            held = (token, opened, arrays)
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

    def arrays(self, searcher: Searcher) -> IndexArrays:
        """The arrays for whole-list evaluation of this thread's searcher (see searcher())."""
        held = getattr(self._local, "held", None)
        assert held is not None and held[1] is searcher, "arrays() takes this thread's searcher"
        return held[2]  # type: ignore[no-any-return]

    def _open_searcher(self, ix: Index) -> tuple[Searcher, IndexArrays]:
        """A searcher on the newest commit with every file it reads already open: Whoosh opens the
        stored-fields and length columns on first use, and an incremental reindex deletes the
        files of segments it merged away. A commit landing while we open: open the newer one."""
        for attempt in range(20):
            opened = None
            try:
                opened = Searcher(_open_reader(ix), fromindex=ix, weighting=scoring.BM25F(B=0.75, K1=1.2))
                for sub, _ in leaf_readers(opened):
                    sub._perdoc._cached_reader("_stored", STORED_COLUMN)
                token = (self.generation[0], opened.reader().generation())
                return opened, self._arrays_for(token, opened)
            except FileNotFoundError:
                if opened is not None:
                    opened.close()
                if attempt == 19:
                    raise
                time.sleep(0.01)
        raise AssertionError("unreachable")

    def _arrays_for(self, token: tuple[str, int], searcher: Searcher) -> IndexArrays:
        """Shared by the threads searching the same commit (segment readers are not: each thread
        reads postings through its own)."""
        with self._lock:
            arrays = self._arrays.get(token)
        if arrays is None:
            arrays = IndexArrays(searcher)
            with self._lock:
                arrays = self._arrays.setdefault(token, arrays)
                for old in [t for t in self._arrays if t != token]:
                    del self._arrays[old]  # a thread still on an older commit keeps its own reference
        return arrays

    def document_count(self) -> int:
        return self.searcher().doc_count()


def _open_reader(ix: Index) -> IndexReader:
    """ix.reader(), closing what it opened when it fails: a segment whose files an incremental
    reindex merged away raises FileNotFoundError, and Whoosh leaves the segments it opened before
    it open."""
    toc = ix._read_toc()
    readers: list[SegmentReader] = []
    try:
        for segment in toc.segments:
            readers.append(SegmentReader(ix.storage, toc.schema, segment, generation=toc.generation))
    except BaseException:
        for reader in readers:
            reader.close()
        raise
    if len(readers) == 1:
        return readers[0]
    return MultiReader(readers, generation=toc.generation) if readers else EmptyReader(toc.schema)


def facet_counts(arrays: IndexArrays, leaves: list[tuple[Any, int]], mask: Any) -> dict[str, tuple[FacetCount, ...]]:
    """The most frequent values of each facet among the matching documents."""
    out = {}
    matched = np.flatnonzero(mask)
    for name in FACET_FIELDS.values():
        table = arrays.facet_table(leaves, name)
        counts = table.count(mask, matched)
        top = sorted(((int(c), v) for v, c in zip(table.values, counts) if c), key=lambda cv: (-cv[0], cv[1]))
        out[name] = tuple(FacetCount(v, c) for c, v in top[:FACET_LIMIT])
    return out
