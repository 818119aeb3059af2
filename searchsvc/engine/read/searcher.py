"""Engine, reading: an index directory held open for searching, across reindexes and threads."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from whoosh import scoring
from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import StructFile
from whoosh.index import Index
from whoosh.reading import EmptyReader, IndexReader, MultiReader, SegmentReader
from whoosh.searching import Searcher

from searchsvc.analysis.segment import AnalysisSettings
from searchsvc.engine.generations import generation_token, open_index, read_settings
from searchsvc.engine.read.tables import IndexArrays, LruCache, leaf_readers
from searchsvc.search.model import FACET_LIMIT, FacetCount
from searchsvc.search.parse import FACET_FIELDS


class SharedFile:
    """A read-only file that threads share: each read is a pread at a position kept per thread,
    so a seek in one thread never moves another's reads. What Whoosh's segment readers read
    through here (positioned gets, and the seek-then-read of headers and old W3 blocks)."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self._close = weakref.finalize(self, os.close, self._fd)  # also when dropped unclosed
        self._local = threading.local()

    @property
    def fd(self) -> int:
        return self._fd

    @property
    def closed(self) -> bool:
        return not self._close.alive

    def tell(self) -> int:
        return getattr(self._local, "pos", 0)  # type: ignore[no-any-return]

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            offset += self.tell()
        elif whence == os.SEEK_END:
            offset += os.fstat(self._fd).st_size
        self._local.pos = offset
        return self._local.pos  # type: ignore[no-any-return]

    def read(self, size: int | None = -1) -> bytes:
        pos = self.tell()
        if size is None or size < 0:
            size = max(0, os.fstat(self._fd).st_size - pos)
        data = os.pread(self._fd, size, pos)
        self._local.pos = pos + len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        start, line = self.tell(), b""
        while not line.endswith(b"\n") and (size is None or size < 0 or len(line) < size):
            chunk = os.pread(self._fd, 256, start + len(line))
            if not chunk:
                break
            line += chunk
        end = line.find(b"\n")
        line = line[:end + 1] if end >= 0 else line
        line = line[:size] if size is not None and size >= 0 else line
        self._local.pos = start + len(line)
        return line

    def close(self) -> None:
        self._close()


class SharedStructFile(StructFile):  # type: ignore[misc]
    """Whoosh's StructFile over a SharedFile; positioned gets go straight to one pread."""

    def __init__(self, path: str, name: str | None = None, onclose: Any = None) -> None:
        super().__init__(SharedFile(path), name=name, onclose=onclose)

    def get(self, position: int, length: int) -> bytes:
        return os.pread(self.file.fd, length, position)


class SharedFileStorage(FileStorage):  # type: ignore[misc]
    """A read-only FileStorage whose files threads can share."""

    def open_file(self, name: str, **kwargs: Any) -> SharedStructFile:
        return SharedStructFile(self._fpath(name), name=name, **kwargs)


class _Commit:
    """One commit's searcher and arrays, shared by every thread, with a count of the searches
    using it: replaced by a newer commit, it is closed when the last of them is done."""

    def __init__(self, token: tuple[str, int], searcher: Searcher, arrays: IndexArrays) -> None:
        self.token = token
        self.searcher = searcher
        self.arrays = arrays
        self.users = 0
        self.retired = False


class SearchIndex:
    """An index directory opened once per generation; reopens by itself after a reindex.

    One searcher per commit serves every thread (its files are read with pread at per-thread
    positions): measured at 100k posts, a searcher for each of 8 server threads cost a worker
    1.6 MB a thread (their readers' offset tables, buffers and caches).
    """

    def __init__(self, index_dir: Path, cache_size: int = 0) -> None:
        self.index_dir = Path(index_dir)
        self.cache = LruCache(cache_size)  # results keyed by commit and request
        self._lock = threading.Lock()
        self._state: tuple[tuple[str, int], Index, AnalysisSettings] | None = None
        self._commit: _Commit | None = None
        self._checked = 0.0
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

    @contextlib.contextmanager
    def searching(self) -> Iterator[tuple[Searcher, IndexArrays]]:
        """The newest commit's searcher and arrays, for the length of one search."""
        commit = self._current()
        try:
            yield commit.searcher, commit.arrays
        finally:
            with self._lock:
                commit.users -= 1
                if commit.retired and not commit.users:
                    commit.searcher.close()

    def searcher(self) -> Searcher:
        """The newest commit's searcher, not counted as in use: for one thread working alone
        (tests, tools); a server's searches go through searching()."""
        commit = self._current()
        with self._lock:
            commit.users -= 1
        return commit.searcher

    def arrays(self, searcher: Searcher) -> IndexArrays:
        """The arrays for whole-list evaluation of a searcher from searcher()."""
        commit = self._commit
        assert commit is not None and commit.searcher is searcher, "arrays() takes the newest searcher"
        return commit.arrays

    def _current(self) -> _Commit:
        """The newest commit, opened when it is new, counted as in use once more."""
        assert self._state is not None
        with self._lock:
            token, ix, _ = self._state
            commit = self._commit
            if commit is None or commit.token != token:
                searcher, arrays = self._open_searcher(ix)
                if commit is not None:
                    commit.retired = True
                    if not commit.users:
                        commit.searcher.close()
                commit = self._commit = _Commit(token, searcher, arrays)
            commit.users += 1
            return commit

    def close(self) -> None:
        """Close the searcher (searches still running on it must be done)."""
        with self._lock:
            if self._commit is not None:
                self._commit.searcher.close()
                self._commit = None

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open_searcher(self, ix: Index) -> tuple[Searcher, IndexArrays]:
        """A searcher on the newest commit with every file it reads already open: Whoosh opens the
        stored-fields and length columns on first use, and an incremental reindex deletes the
        files of segments it merged away. A commit landing while we open: open the newer one."""
        for attempt in range(20):
            opened = None
            try:
                opened = Searcher(_open_reader(ix), fromindex=ix, weighting=scoring.BM25F(B=0.75, K1=1.2))
                for sub, _ in leaf_readers(opened):
                    sub._perdoc.stored_reader()
                return opened, IndexArrays(opened)
            except FileNotFoundError:
                if opened is not None:
                    opened.close()
                if attempt == 19:
                    raise
                time.sleep(0.01)
        raise AssertionError("unreachable")

    def document_count(self) -> int:
        with self.searching() as (searcher, _):
            return searcher.doc_count()  # type: ignore[no-any-return]


def _open_reader(ix: Index) -> IndexReader:
    """ix.reader(), closing what it opened when it fails: a segment whose files an incremental
    reindex merged away raises FileNotFoundError, and Whoosh leaves the segments it opened before
    it open."""
    toc = ix._read_toc()
    storage = SharedFileStorage(ix.storage.folder, readonly=True)
    readers: list[SegmentReader] = []
    try:
        for segment in toc.segments:
            readers.append(SegmentReader(storage, toc.schema, segment, generation=toc.generation))
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
    # over four fifths of the documents match: count the few that do not, and take them away
    unmatched = np.flatnonzero(arrays.live & ~mask) if len(matched) * 5 > arrays.size * 4 else None
    for name in FACET_FIELDS.values():
        table = arrays.facet_table(leaves, name)
        counts = table.count(mask, matched, unmatched)
        top = sorted(((int(c), v) for v, c in zip(table.values, counts) if c), key=lambda cv: (-cv[0], cv[1]))
        out[name] = tuple(FacetCount(v, c) for c, v in top[:FACET_LIMIT])
    return out
