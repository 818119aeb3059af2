"""Stats: the query log — what readers searched and clicked, written to SQLite off the request path.

No IP address, user agent or cookie is stored; times are kept to the minute. A page load's random
session id only lives in `intents` (for folding and clicks) and is forgotten after INTENT_SECONDS.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import queue
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterator

from searchsvc.analysis.normalize import normalize_spaced

LOG = logging.getLogger("searchsvc.stats")
SCHEMA = """
CREATE TABLE IF NOT EXISTS searches (
    id INTEGER PRIMARY KEY,
    minute INTEGER NOT NULL,       -- unix time // 60
    typed TEXT NOT NULL,
    normalized TEXT NOT NULL,
    hits INTEGER NOT NULL,
    page INTEGER NOT NULL,
    backend TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS searches_by_minute ON searches (minute);
CREATE TABLE IF NOT EXISTS clicks (
    search INTEGER NOT NULL REFERENCES searches (id) ON DELETE CASCADE,
    minute INTEGER NOT NULL,
    post TEXT NOT NULL,
    position INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS clicks_by_search ON clicks (search);
CREATE TABLE IF NOT EXISTS intents (   -- transient: a page load's latest search
    session TEXT PRIMARY KEY,
    search INTEGER NOT NULL,
    normalized TEXT NOT NULL,
    at REAL NOT NULL
);
"""
FOLD_SECONDS = 5.0  # a prefix chain typed within this long is one search (数 -> 数字 -> 数字经济)
INTENT_SECONDS = 1800.0  # a click or a next page this long after the search still counts for it
BATCH_SECONDS = 0.25  # the writer waits this long for more entries before a transaction
MAX_QUEUED = 10_000  # entries waiting for the writer; beyond this a search goes unlogged, said once
MAX_SESSION_CHARS = 64
DEFAULT_DAYS = 90
PRUNE_SECONDS = 6 * 3600.0
LOG_NAME = "stats.sqlite"  # the query log's file in the index folder, unless given a path


def log_path(index_dir: Path, given: Path | str | None = None) -> Path:
    """Where the query log is: the path given, else LOG_NAME beside the index."""
    return Path(given) if given else Path(index_dir) / LOG_NAME


@dataclasses.dataclass(frozen=True)
class Search:
    typed: str
    hits: int
    page: int
    backend: str
    session: str | None = None
    at: float = dataclasses.field(default_factory=time.time)


@dataclasses.dataclass(frozen=True)
class Click:
    session: str
    post: str
    position: int
    at: float = dataclasses.field(default_factory=time.time)


def connect(path: Path, timeout: float = 2.0) -> sqlite3.Connection:
    """A connection to the log, its tables created when new (WAL: readers never wait for writers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.executescript(SCHEMA)
    except BaseException:
        db.close()
        raise
    return db


class QueryLog:
    """Entries queued by any thread and written in batches by one thread of this process; several
    processes may log to the same file. Nothing here ever raises into a search: a locked database
    or a full disk keeps the entries for the next batch (up to MAX_QUEUED) and logs why."""

    def __init__(self, path: Path, days: int = DEFAULT_DAYS) -> None:
        self.path = Path(path)
        self.days = days
        self._queue: queue.Queue[Search | Click | None] = queue.Queue(MAX_QUEUED)
        self._pending: list[Search | Click] = []
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._dropped = 0
        self._failing: str | None = None
        self._pruned = 0.0

    def record(self, entry: Search | Click) -> None:
        """Queue an entry (a few microseconds; never blocks, never raises)."""
        if self._thread is None or self._pid != os.getpid():
            self._start()
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self._dropped += 1
            if self._dropped == 1:
                LOG.warning("query log: %d entries are waiting for %s; new ones are not logged", MAX_QUEUED, self.path)

    def flush(self) -> None:
        """Wait until everything queued so far has been written (or given up on)."""
        if self._thread is not None and self._pid == os.getpid():
            self._queue.join()

    def close(self) -> None:
        """Write what is queued and stop the writer."""
        if self._thread is not None and self._pid == os.getpid():
            self._queue.put(None)
            self._thread.join(timeout=10)
        self._thread = None

    def _start(self) -> None:
        with self._lock:  # a forked worker starts its own writer; the parent's did not survive the fork
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._queue = queue.Queue(MAX_QUEUED)
                self._pending = []
                self._thread = threading.Thread(target=self._write_forever, name="searchsvc-stats", daemon=True)
                self._thread.start()

    def _write_forever(self) -> None:
        db: sqlite3.Connection | None = None
        try:
            while True:
                batch = list(self._take())
                stop = None in batch
                self._pending.extend(e for e in batch if e is not None)
                db = self._write(db)
                for _ in batch:
                    self._queue.task_done()
                if stop:
                    return
        finally:
            if db is not None:
                db.close()

    def _take(self) -> Iterator[Search | Click | None]:
        """The next entry (waiting for it), then whatever arrives within BATCH_SECONDS."""
        first = self._queue.get()
        yield first
        deadline = time.monotonic() + BATCH_SECONDS
        while first is not None:
            try:
                first = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return
            yield first

    def _write(self, db: sqlite3.Connection | None) -> sqlite3.Connection | None:
        """Write the pending entries in one transaction; on failure keep them and say why."""
        if not self._pending:
            return db
        try:
            db = db or connect(self.path)
            with transaction(db):
                for entry in self._pending:
                    if isinstance(entry, Search):
                        write_search(db, entry)
                    else:
                        write_click(db, entry)
                self._prune(db)
        except (sqlite3.Error, OSError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if reason != self._failing:
                LOG.warning("query log: %d entries not written to %s yet (%s); searches go on", len(self._pending),
                            self.path, reason)
            self._failing = reason
            if isinstance(exc, (sqlite3.OperationalError, OSError)):  # locked, full, unwritable: later
                del self._pending[:-MAX_QUEUED]
            else:  # something in the entries themselves: they would fail again
                LOG.warning("query log: %d entries dropped", len(self._pending))
                self._pending = []
            if db is not None:
                db.close()
            return None
        if self._failing:
            LOG.warning("query log: writing to %s again", self.path)
            self._failing = None
        self._pending = []
        return db

    def _prune(self, db: sqlite3.Connection) -> None:
        now = time.time()
        if now - self._pruned < PRUNE_SECONDS:
            return
        self._pruned = now
        prune(db, self.days, now)


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taken at its start (IMMEDIATE): a fold reads then updates, and another
    process must not slip a write in between."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def write_search(db: sqlite3.Connection, entry: Search) -> int:
    """Log a search, or fold it into its page load's previous one: the same query again (another
    page of it) within INTENT_SECONDS, or a prefix chain within FOLD_SECONDS of a search nobody
    clicked (数字 -> 数字经济, or back to 数字). The search's row id."""
    typed = entry.typed.strip()
    normalized = normalize_spaced(typed)
    minute = int(entry.at // 60)
    session = (entry.session or "")[:MAX_SESSION_CHARS] or None
    found = db.execute("SELECT search, normalized, at FROM intents WHERE session = ?", (session,)).fetchone() \
        if session else None
    if found is not None:
        search, previous, at = found
        since = entry.at - at
        if previous == normalized and since <= INTENT_SECONDS:
            db.execute("UPDATE searches SET hits = ?, page = max(page, ?) WHERE id = ?", (entry.hits, entry.page, search))
            db.execute("UPDATE intents SET at = ? WHERE session = ?", (entry.at, session))
            return int(search)
        chain = normalized.startswith(previous) or previous.startswith(normalized)
        if chain and since <= FOLD_SECONDS and not db.execute("SELECT 1 FROM clicks WHERE search = ?", (search,)).fetchone():
            db.execute("UPDATE searches SET minute = ?, typed = ?, normalized = ?, hits = ?, page = ? WHERE id = ?",
                       (minute, typed, normalized, entry.hits, entry.page, search))
            db.execute("UPDATE intents SET normalized = ?, at = ? WHERE session = ?", (normalized, entry.at, session))
            return int(search)
    search = db.execute("INSERT INTO searches (minute, typed, normalized, hits, page, backend) VALUES (?, ?, ?, ?, ?, ?)",
                        (minute, typed, normalized, entry.hits, entry.page, entry.backend)).lastrowid
    if session:
        db.execute("INSERT OR REPLACE INTO intents (session, search, normalized, at) VALUES (?, ?, ?, ?)",
                   (session, search, normalized, entry.at))
    return int(search or 0)


def write_click(db: sqlite3.Connection, entry: Click) -> None:
    """Log a click on the page load's latest search; a click with no such search is dropped."""
    found = db.execute("SELECT search, at FROM intents WHERE session = ?", (entry.session[:MAX_SESSION_CHARS],)).fetchone()
    if found is None or entry.at - found[1] > INTENT_SECONDS:
        return
    db.execute("INSERT INTO clicks (search, minute, post, position) VALUES (?, ?, ?, ?)",
               (found[0], int(entry.at // 60), entry.post, entry.position))


def prune(db: sqlite3.Connection, days: int, now: float) -> None:
    """Forget searches older than `days` (and their clicks), and sessions older than INTENT_SECONDS."""
    db.execute("DELETE FROM searches WHERE minute < ?", (int((now - days * 86400) // 60),))
    db.execute("DELETE FROM intents WHERE at < ?", (now - INTENT_SECONDS,))
