"""Index stage: the schema, its codec, and index generations on disk (open, swap, lock)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import time
import zlib
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any, Iterator

from whoosh import index as whoosh_index
from whoosh.fields import DATETIME, ID, KEYWORD, STORED, TEXT, Schema
from whoosh.formats import Format, Positions, tokens
from whoosh.index import Index

from searchsvc.analysis import (
    AnalysisSettings,
    BaseTokenizer,
    CharTokenizer,
    JiebaTokenizer,
    SubstringTokenizer,
    normalize_spaced,
)
from searchsvc.codec import InliningCodec  # noqa: F401  (segments built before the split pickled it here)
from searchsvc.documents import Post
from searchsvc.keepback import KeepBack
from searchsvc.permalinks import UrlRules

SCHEMA_VERSION = 5  # 5: what the owner keeps back (encrypted bodies were indexed before)
CURRENT = "CURRENT"
LOCK = ".reindex.lock"
SETTINGS = "searchsvc.json"


class IndexMissing(Exception):
    """There is no usable index at the given path (none yet, or one from another schema)."""

    def __init__(self, path: Path, reason: str = "") -> None:
        self.path = path
        self.reason = reason or f"No index at {path}/."
        super().__init__(self.reason)


class ReindexBusy(Exception):
    """Another reindex holds the lock on this index."""


@dataclass(frozen=True)
class IndexSettings:
    """What a generation was built with; a change to any of it needs a full rebuild."""

    urls: UrlRules = field(default_factory=UrlRules)
    engine: str = "auto"
    userdict: str | None = None
    userdict_hash: str = ""
    keep_back: KeepBack = field(default_factory=KeepBack)
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def create(cls, urls: UrlRules | None = None, engine: str = "auto", userdict: str | None = None,
               keep_back: KeepBack | None = None) -> IndexSettings:
        digest = hashlib.sha1(Path(userdict).read_bytes()).hexdigest() if userdict else ""
        path = str(Path(userdict).resolve()) if userdict else None
        return cls(urls=urls or UrlRules(), engine=engine, userdict=path, userdict_hash=digest,
                   keep_back=keep_back or KeepBack())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexSettings:
        """The inverse of dataclasses.asdict, as the settings are saved."""
        return cls(**{**data, "urls": UrlRules(**data.get("urls", {})),
                      "keep_back": KeepBack.from_dict(data.get("keep_back", {}))})

    @property
    def analysis(self) -> AnalysisSettings:
        return AnalysisSettings(engine=self.engine, userdict=self.userdict)


class PackedPositions(Positions):  # type: ignore[misc]
    """Positions as a packed array of deltas: 3 bytes for the usual single position, not Whoosh's
    13-byte pickle, and decoded by C code (the substring matcher decodes one per candidate post)."""

    def word_values(self, value: Any, analyzer: Any, **kwargs: Any) -> Iterator[tuple[str, int, float, bytes]]:
        if not isinstance(analyzer, BaseTokenizer) or isinstance(value, (list, tuple)):
            return super().word_values(value, analyzer, **kwargs)  # type: ignore[no-any-return]
        poses: dict[str, list[int]] = {}
        weights: defaultdict[str, float] = defaultdict(float)
        for text, _, _, pos, boost in analyzer.terms_of(value, kwargs.get("mode", "")):
            found = poses.get(text)
            if found is None:
                poses[text] = [pos]
            else:
                found.append(pos)
            weights[text] += boost
        fb = self.field_boost
        return ((w, len(ps), weights[w] * fb, self.encode(ps)) for w, ps in poses.items())

    def encode(self, poslist: list[int]) -> bytes:
        deltas = [b - a for a, b in zip([0] + poslist, poslist)]
        code = "H" if max(deltas, default=0) < 65536 else "I"
        return code.encode() + array(code, deltas).tobytes()

    def decode_positions(self, value: bytes) -> list[int]:
        deltas = array(chr(value[0]))
        deltas.frombytes(value[1:])
        return list(accumulate(deltas))

    def decode_frequency(self, value: bytes) -> int:
        return (len(value) - 1) // array(chr(value[0])).itemsize

    def decode_weight(self, value: bytes) -> float:
        return self.decode_frequency(value) * self.field_boost  # type: ignore[no-any-return]


class WeightOnly(Format):  # type: ignore[misc]
    """Term frequency kept only as the posting's weight (what BM25F reads); no per-posting value.

    Whoosh's Frequency format stores the same count twice: as the weight and as a packed value.
    """

    posting_size = 0

    def __init__(self, field_boost: float = 1.0) -> None:
        self.field_boost = field_boost
        self.options: dict[str, Any] = {}

    def word_values(self, value: Any, analyzer: Any, **kwargs: Any) -> Iterator[tuple[str, int, float, bytes]]:
        counts: Counter[str] = Counter()
        weights: defaultdict[str, float] = defaultdict(float)
        if isinstance(analyzer, BaseTokenizer) and not isinstance(value, (list, tuple)):
            for text, _, _, _, boost in analyzer.terms_of(value, kwargs.get("mode", "")):
                counts[text] += 1
                weights[text] += boost
        else:
            kwargs["boosts"] = True
            for t in tokens(value, analyzer, kwargs):
                counts[t.text] += 1
                weights[t.text] += t.boost
        fb = self.field_boost
        return ((w, n, weights[w] * fb, b"") for w, n in counts.items())

    def encode(self, value: Any) -> bytes:
        return b""

    def decode_frequency(self, value: bytes) -> int:
        return 1

    def decode_weight(self, value: bytes) -> float:
        return self.field_boost  # type: ignore[no-any-return]


def _text(analyzer: Any, positions: bool, field_boost: float = 1.0, stored: bool = False) -> TEXT:
    field = TEXT(analyzer=analyzer, phrase=positions, field_boost=field_boost, stored=stored)
    field.format = PackedPositions(field_boost=field_boost) if positions else WeightOnly(field_boost=field_boost)
    return field


def build_schema(analysis: AnalysisSettings = AnalysisSettings()) -> Schema:
    # Words hold CJK words only: other words are terms of the substring fields already.
    words = JiebaTokenizer(analysis.engine, analysis.userdict, cjk_only=True)
    facet = dict(stored=True, lowercase=False, scorable=False, commas=True)
    return Schema(
        id=ID(stored=True, unique=True, sortable=True),
        hash=ID(sortable=True),
        title=_text(words, positions=False, field_boost=2.0, stored=True),
        title_sub=_text(SubstringTokenizer(), positions=True, field_boost=2.0),
        title_chr=_text(CharTokenizer(), positions=False, field_boost=2.0),
        title_exact=ID(),
        body=_text(words, positions=False),
        body_sub=_text(SubstringTokenizer(), positions=True),
        body_chr=_text(CharTokenizer(), positions=False),
        text=STORED(),
        url=STORED(),
        image=STORED(),
        date=DATETIME(stored=True, sortable=True),
        category=KEYWORD(**facet),
        tag=KEYWORD(**facet),
        author=KEYWORD(**facet),
    )


def post_fields(post: Post) -> dict[str, Any]:
    """One Post as the values of one Whoosh document."""
    return dict(
        id=post.id,
        hash=post.content_hash,
        title=post.title,
        title_sub=post.title,
        title_chr=post.title,
        title_exact=normalize_spaced(post.title),
        body=post.body,
        body_sub=post.body,
        body_chr=post.body,
        text=post.body,  # Whoosh compresses each post's stored fields: compressing it first too cost 0.26 ms
        url=post.url,
        image=post.image,
        date=post.date,
        category=list(post.categories),
        tag=list(post.tags),
        author=list(post.authors),
    )


def stored_text(stored: str | bytes) -> str:
    """The stored body: text, or zlib-compressed UTF-8 in indexes written before 2026-11-29."""
    return stored if isinstance(stored, str) else zlib.decompress(stored).decode("utf-8")


# --- generations on disk -------------------------------------------------------------------


def current_generation(index_dir: Path) -> Path | None:
    try:
        name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    gen = index_dir / name
    return gen if name and gen.is_dir() else None


def read_settings(gen: Path) -> IndexSettings:
    data = json.loads((gen / SETTINGS).read_text(encoding="utf-8"))
    if data.get("schema_version") != SCHEMA_VERSION:  # other fields may mean other things there
        return IndexSettings(schema_version=int(data.get("schema_version") or 0))
    return IndexSettings.from_dict(data)


def purge_deleted(writer: Any, segments: list[Any]) -> list[Any]:
    """A merge policy for commits that take posts private: every segment holding a deleted post
    is rewritten without it, so its body leaves the stored fields and postings on disk instead of
    lingering there marked deleted until some later merge."""
    from whoosh.reading import SegmentReader

    kept = []
    for segment in segments:
        if segment.has_deletions():
            reader = SegmentReader(writer.storage, writer.schema, segment)
            writer.add_reader(reader)
            reader.close()
        else:
            kept.append(segment)
    return kept


def open_index(index_dir: Path) -> tuple[Index, str]:
    """Open the current generation; returns the index and the generation's name."""
    gen = current_generation(index_dir)
    if gen is None:
        raise IndexMissing(index_dir)
    settings = read_settings(gen)
    if settings.schema_version != SCHEMA_VERSION:
        raise IndexMissing(index_dir, f"The index at {index_dir}/ was built by another version of searchsvc.")
    return whoosh_index.open_dir(str(gen), schema=build_schema(settings.analysis)), gen.name


def generation_token(index_dir: Path, ix: Index | None = None, gen_name: str | None = None) -> tuple[str, int]:
    """Changes whenever a full rebuild swaps generations or an incremental reindex commits."""
    gen = current_generation(index_dir)
    if gen is None:
        raise IndexMissing(index_dir)
    if ix is not None and gen.name == gen_name:
        return gen.name, ix.latest_generation()
    return gen.name, -1  # another generation: its commit number does not matter, its name differs


def swap_current(index_dir: Path, gen: Path) -> None:
    tmp = index_dir / (CURRENT + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(gen.name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / CURRENT)
    dir_fd = os.open(index_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_old_generations(index_dir: Path, keep: set[str]) -> None:
    """Keep the current and the previous generation: a server may still be reading the latter."""
    gens = sorted(p for p in index_dir.glob("gen-*") if p.is_dir())
    for gen in gens:
        if gen.name not in keep:
            shutil.rmtree(gen, ignore_errors=True)


@contextlib.contextmanager
def reindex_lock(index_dir: Path, wait_seconds: float = 3.0) -> Iterator[None]:
    """One reindex at a time per index; a second waits a few seconds (a killed run's writer
    processes need a moment to die), then stops with a clear message."""
    index_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    with open(index_dir / LOCK, "a+") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise ReindexBusy(f"another reindex is running on {index_dir}; try again when it has finished") from exc
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
