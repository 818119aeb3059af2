"""Ingest stage: the site's lexicon — one SQLite file beside the index, the same for every backend:
the names (titles, tags, categories, authors) with their pinyin readings, found by a trigram
index on their joined full and initial readings; and the words the posts hold, with their fuzzy
sound, where corrections come from. Written by a reindex, read by searches.

A name's rows are kept per post, so an incremental run removes exactly what a changed or deleted
post held. A word's post count only grows between full rebuilds (a deleted post's words stay
candidates): corrections are ranked by what the backend counts, never by this number.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from searchsvc.analysis.normalize import is_cjk, normalize_spaced
from searchsvc.analysis.pinyin import Reading, initials_of, readings, sound_keys
from searchsvc.analysis.segment import AnalysisSettings, segment
from searchsvc.ingest.posts import Post

LEXICON = "lexicon.sqlite"
MAX_COMBOS = 8  # readings of one name indexed for lookup (every reading is kept for matching)
MAX_CANDIDATES = 400  # names a lookup checks
MAX_WORD_CHARS = 4
_SCHEMA = """
CREATE TABLE IF NOT EXISTS names(post TEXT NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS names_post ON names(post);
CREATE TABLE IF NOT EXISTS readings(id INTEGER PRIMARY KEY, text TEXT UNIQUE NOT NULL, posts INTEGER NOT NULL,
                                    chars TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS full_keys USING fts5(key, tokenize='trigram');
CREATE VIRTUAL TABLE IF NOT EXISTS initial_keys USING fts5(key, tokenize='trigram');
CREATE TABLE IF NOT EXISTS words(word TEXT PRIMARY KEY, posts INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sounds(key TEXT NOT NULL, word TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sounds_key ON sounds(key);
"""


def _encode(per_char: list[Reading]) -> str:
    """Readings as stored: characters by spaces, a character's readings by '/', '-' for none."""
    return " ".join("/".join(r) or "-" for r in per_char)


def decode(chars: str) -> list[Reading]:
    return [() if c == "-" else tuple(c.split("/")) for c in chars.split(" ")]


def _keys(per_char: list[Reading]) -> tuple[list[str], list[str]]:
    """A name's joined full readings and joined initials, one per combination (up to MAX_COMBOS).
    Characters without a reading (punctuation, spaces, Latin, digits) are left out, as a reader
    typing the pinyin of 入门教程五：网格 leaves them out (search.readings aligns the same way)."""
    read = [r for r in per_char if r]
    full = ("".join(combo) for combo in itertools.product(*read))
    initials = ("".join(combo) for combo in itertools.product(*[initials_of(r) for r in read]))
    return (list(dict.fromkeys(itertools.islice(full, MAX_COMBOS))),
            list(dict.fromkeys(itertools.islice(initials, MAX_COMBOS))))


def post_names(post: Post) -> list[str]:
    """What of a post is read as pinyin: its title, tags, categories and authors (never its body)."""
    names = [post.title, *post.tags, *post.categories, *post.authors]
    return list(dict.fromkeys(n for n in (normalize_spaced(x) for x in names) if any(is_cjk(c) for c in n)))


def post_words(post: Post, analysis: AnalysisSettings) -> set[str]:
    """The words a correction may be: jieba words of two to four Chinese characters and Latin words
    of two letters or more, of every field; and pairs of title words up to four characters."""
    words: set[str] = set()
    for text in (post.title, post.body, *post.tags, *post.categories, *post.authors):
        norm = normalize_spaced(text)
        found = [w for w, _, _, _ in segment(norm, True, analysis.engine, analysis.userdict)]
        words.update(w for w in found if _wordlike(w))
        if text is post.title:
            words.update(a + b for a, b in zip(found, found[1:]) if _wordlike(a + b) and is_cjk(a[0]))
    return words


def _wordlike(word: str) -> bool:
    if all(is_cjk(c) for c in word):
        return 2 <= len(word) <= MAX_WORD_CHARS
    return len(word) >= 2 and word.isascii() and word.isalpha()


class LexiconWriter:
    """Adds and removes posts; words are counted in memory and written at close()."""

    def __init__(self, path: Path, analysis: AnalysisSettings) -> None:
        self.path, self.analysis = path, analysis
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" + _SCHEMA)
        self.db.execute("BEGIN")
        self.words: Counter[str] = Counter()

    def add(self, post: Post) -> None:
        for name in post_names(post):
            self._add_name(post.id, name, lambda text: readings(text, self.analysis, phrases=True))
        self.words.update(post_words(post, self.analysis))

    def _add_name(self, post_id: str, name: str, read: Callable[[str], list[Reading]]) -> None:
        """One name of a post; a name new to the lexicon is read (`read`) and indexed."""
        self.db.execute("INSERT INTO names VALUES (?, ?)", (post_id, name))
        if self.db.execute("UPDATE readings SET posts = posts + 1 WHERE text = ?", (name,)).rowcount == 0:
            per_char = read(name)
            rowid = self.db.execute("INSERT INTO readings(text, posts, chars) VALUES (?, 1, ?)",
                                    (name, _encode(per_char))).lastrowid
            self._index(int(rowid or 0), per_char)

    def _index(self, rowid: int, per_char: list[Reading]) -> None:
        full, initials = _keys(per_char)
        self.db.executemany("INSERT INTO full_keys(rowid, key) VALUES (?, ?)",
                            [(rowid * MAX_COMBOS + i, k) for i, k in enumerate(full)])
        self.db.executemany("INSERT INTO initial_keys(rowid, key) VALUES (?, ?)",
                            [(rowid * MAX_COMBOS + i, k) for i, k in enumerate(initials)])

    def remove(self, post_ids: Iterable[str]) -> None:
        for post_id in post_ids:
            for (name,) in self.db.execute("SELECT text FROM names WHERE post = ?", (post_id,)).fetchall():
                self.db.execute("UPDATE readings SET posts = posts - 1 WHERE text = ?", (name,))
            self.db.execute("DELETE FROM names WHERE post = ?", (post_id,))
        for (rowid,) in self.db.execute("SELECT id FROM readings WHERE posts <= 0").fetchall():
            keys = [(rowid * MAX_COMBOS + i,) for i in range(MAX_COMBOS)]
            self.db.executemany("DELETE FROM full_keys WHERE rowid = ?", keys)
            self.db.executemany("DELETE FROM initial_keys WHERE rowid = ?", keys)
        self.db.execute("DELETE FROM readings WHERE posts <= 0")

    def merge(self, other: Path) -> None:
        """Fold another writer's file (a writer process's share of a full build) into this one."""
        part = sqlite3.connect(other)
        try:
            known = dict(part.execute("SELECT text, chars FROM readings"))  # read by the writer process already
            for post_id, name in part.execute("SELECT post, text FROM names"):
                self._add_name(post_id, name, lambda text: decode(known[text]))
            self._write_words(dict(part.execute("SELECT word, posts FROM words")))
        finally:
            part.close()

    def _write_words(self, counts: dict[str, int]) -> None:
        if not counts:
            return
        known = {w for (w,) in self.db.execute("SELECT word FROM words")} if self.db.execute(
            "SELECT 1 FROM words LIMIT 1").fetchone() else set()
        self.db.executemany("UPDATE words SET posts = posts + ? WHERE word = ?",
                            [(n, w) for w, n in counts.items() if w in known])
        fresh = [(w, n) for w, n in counts.items() if w not in known]
        self.db.executemany("INSERT INTO words VALUES (?, ?)", fresh)
        # a word under its likely reading only (the phrase dictionary's, else each character's commonest):
        # under every reading, 宜家 (jia, gu, jie) was a candidate for 一股
        self.db.executemany("INSERT INTO sounds VALUES (?, ?)",
                            [(key, w) for w, _ in fresh if is_cjk(w[0]) for key in sound_keys(w, self.analysis, limit=1, phrases=True)])

    def close(self, commit: bool = True) -> None:
        try:
            if commit:
                self._write_words(dict(self.words))
                self.db.execute("COMMIT")
            else:
                self.db.execute("ROLLBACK")
        finally:
            self.db.close()


def remove_lexicon(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


@dataclass(frozen=True)
class Name:
    text: str
    posts: int
    chars: list[Reading]


class Lexicon:
    """The lexicon of one index, read-only; safe to share between threads (a connection each)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._local.db = db
        return db

    def names_by_full(self, key: str) -> Iterator[Name]:
        """Names with some reading whose joined syllables hold `key` (at least three letters)."""
        return self._names("full_keys", key)

    def names_by_initials(self, key: str) -> Iterator[Name]:
        return self._names("initial_keys", key)

    def _names(self, table: str, key: str) -> Iterator[Name]:
        if len(key) < 3:
            return iter(())
        quoted = '"' + key.replace('"', '""') + '"'
        rows = self._rows(
            f"SELECT DISTINCT r.text, r.posts, r.chars FROM {table} k JOIN readings r ON r.id = k.rowid / {MAX_COMBOS}"
            f" WHERE k.key MATCH ? ORDER BY r.posts DESC LIMIT {MAX_CANDIDATES}", (quoted,))
        return (Name(text, posts, decode(chars)) for text, posts, chars in rows)

    def _rows(self, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
        """All rows at once: a statement left unfinished would hold its snapshot, and this reader
        would not see the next reindex's commit."""
        cursor = self._db().execute(sql, args)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    def holds(self, word: str) -> bool:
        return bool(self._rows("SELECT 1 FROM words WHERE word = ?", (word,)))

    def sounding_like(self, key: str, length: int, limit: int = 50) -> list[tuple[str, int]]:
        """Words of `length` characters with this fuzzy sound key, most posts first."""
        rows = self._rows(
            "SELECT w.word, w.posts FROM sounds s JOIN words w ON w.word = s.word WHERE s.key = ? AND length(w.word) = ?"
            " ORDER BY w.posts DESC LIMIT ?", (key, length, limit))
        return [(w, n) for w, n in rows]

    def latin_near(self, word: str, limit: int = 12) -> list[tuple[str, int]]:
        """Latin words within one edit (two for words of seven letters or more), most posts first."""
        bound = 2 if len(word) >= 7 else 1
        rows = self._rows(
            "SELECT word, posts FROM words WHERE word >= ? AND word < ? AND length(word) BETWEEN ? AND ?",
            (word[0], chr(ord(word[0]) + 1), len(word) - bound, len(word) + bound))
        near = [(w, n) for w, n in rows if w != word and _within(word, w, bound)]
        near.sort(key=lambda item: -item[1])
        return near[:limit]

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def _within(a: str, b: str, bound: int) -> bool:
    """Whether the edit distance (Damerau's adjacent swap counted as one) of a and b is <= bound."""
    previous2: list[int] | None = None
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb))
            if previous2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], previous2[j - 2] + 1)
        if min(row) > bound:
            return False
        previous2, previous = previous, row
    return previous[-1] <= bound
