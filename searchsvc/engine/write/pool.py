"""Engine, writing: the text fields' term occurrences grouped into postings by term with numpy.

Whoosh's writer handles every posting with a few Python calls, and a 6 KB post makes ~2,900 of
them. Here a post's terms arrive as arrays (textarrays.py); a batch of posts is sorted by term in
one call and reduced to postings (weights, packed positions) by array operations and written out
as a run; the runs are merged a range of terms at a time for segment.py to write.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from searchsvc.analysis.arrays import (
    PACKED_CHARS,
    TermColumns,
    pack_terms,
    unpack_terms,
)
from searchsvc.engine.codec.lists import take_values
from searchsvc.engine.codec.positions import encode_many

RUN_ARRAYS = ("keys", "long", "docs", "weights")
# A writer's memory per pending term occurrence at its peak, the spill's sort and copies included
# (measured: 340 MB resident at 2.8M occurrences, 150 MB of it before the first post).
BYTES_PER_OCCURRENCE = 80
CHUNK_POSTINGS = 200_000  # postings written per merged range: bounds the Python objects made at once
SAMPLE_STEP = 256  # every 256th key of a run stays in memory, to cut the merge into ranges


class TextPool:
    """Term occurrences of the text fields, reduced to postings and spilled a batch at a time.

    Terms longer than PACKED_CHARS get a number (`long`, from 1) in arrival order; the runs are
    sorted by (packed key, number), and the merge re-sorts each range by the numbers' string
    order, so terms come out in the order Whoosh's term table needs.
    """

    def __init__(self, tempdir: Path, limitmb: int = 128) -> None:
        self.tempdir = tempdir
        self.limit = max(10_000, limitmb * 1024 * 1024 // BYTES_PER_OCCURRENCE)
        self.long_ids: dict[str, int] = {}
        self.positional: dict[str, bool] = {}
        self.pending: dict[str, list[tuple[int, TermColumns, float]]] = {}
        self.pending_count = 0
        self.runs: list[dict[str, dict[str, Any]]] = []  # per field: _RunArray files and a key sample
        self.paths: list[Path] = []
        self._long_order_cache: tuple[list[str], np.ndarray] | None = None

    def add(self, fieldname: str, docnum: int, columns: TermColumns, field_boost: float, positional: bool) -> None:
        self.positional[fieldname] = positional
        self.pending.setdefault(fieldname, []).append((docnum, columns, field_boost))
        self.pending_count += columns.length
        if self.pending_count >= self.limit:
            self.spill()

    @property
    def fieldnames(self) -> set[str]:
        return set(self.pending) | {name for run in self.runs for name in run}

    def spill(self) -> None:
        """The pending occurrences as one sorted run of postings on disk."""
        run = {name: _postings(items, self._long_numbers(items), self.positional[name])
               for name, items in self.pending.items()}
        self.pending, self.pending_count = {}, 0
        if run:
            self.runs.append(self._save(run))

    def add_terms(self, fieldname: str, terms: Iterable[tuple[Any, bytes, Any, Any, Any]]) -> None:
        """Postings that arrive already grouped by term (from segments being merged) as one run."""
        keys: list[np.ndarray] = []
        longs: list[np.ndarray] = []
        docs: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        values: list[bytes] = []
        for _, tbytes, tdocs, tweights, tvalues in terms:
            text = tbytes.decode("utf-8")
            codes = np.frombuffer(text[:PACKED_CHARS].encode("utf-32-le"), dtype="<u4")
            key = pack_terms(np.concatenate([codes, np.zeros(PACKED_CHARS, dtype="<u4")]),
                             np.zeros(1, dtype=np.int64), np.array([len(codes)]))[0]
            long = self.long_ids.setdefault(text, len(self.long_ids) + 1) if len(text) > PACKED_CHARS else 0
            keys.append(np.full(len(tdocs), key, dtype=np.uint64))
            longs.append(np.full(len(tdocs), long, dtype=np.uint32))
            docs.append(np.asarray(tdocs, dtype=np.uint32))
            weights.append(np.asarray(tweights, dtype=np.float32))
            values.extend(tvalues if tvalues is not None else [b""] * len(tdocs))
        if not keys:
            return
        sizes = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        arrays = {
            "keys": np.concatenate(keys), "long": np.concatenate(longs), "docs": np.concatenate(docs),
            "weights": np.concatenate(weights), "voffsets": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            "values": np.frombuffer(b"".join(values), dtype=np.uint8),
        }
        self.positional.setdefault(fieldname, bool(sizes.any()))
        self.runs.append(self._save({fieldname: arrays}))

    def _long_numbers(self, items: list[tuple[int, TermColumns, float]]) -> list[np.ndarray]:
        numbers = []
        for _, columns, _ in items:
            long = np.zeros(columns.length, dtype=np.uint32)
            if columns.long_terms:
                ids = self.long_ids
                long[columns.long_at] = [ids.setdefault(t, len(ids) + 1) for t in columns.long_terms]
            numbers.append(long)
        return numbers

    def _save(self, run: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        saved: dict[str, dict[str, Any]] = {}
        for fieldname, arrays in run.items():
            saved[fieldname] = {"sample": arrays["keys"][::SAMPLE_STEP].copy()}
            for name, array in arrays.items():
                path = self.tempdir / f"text-{os.getpid()}-{id(self)}-{len(self.paths)}.bin"
                self.paths.append(path)
                saved[fieldname][name] = _RunArray(path, array)
        return saved

    def chunks(self, fieldname: str) -> Iterator[Chunk]:
        """The field's postings in term order, then document order, a range of terms at a time."""
        runs = [run[fieldname] for run in self.runs if fieldname in run]
        if not runs:
            return
        long_terms, rank = self._long_order()
        bounds = _key_bounds([r["sample"] for r in runs], sum(r["keys"].size for r in runs))
        # where each range starts and ends in each run: the runs' keys are read once, one at a time
        cuts = [np.concatenate([[0], np.searchsorted(r["keys"].read(), bounds), [r["keys"].size]]) for r in runs]
        for i in range(len(bounds) + 1):
            parts = []
            for r, cut in zip(runs, cuts):
                a, b = int(cut[i]), int(cut[i + 1])
                if b > a:
                    offsets = r["voffsets"].read(a, b + 1)
                    values = r["values"].read(int(offsets[0]), int(offsets[-1])) if "values" in r else _NO_VALUES
                    parts.append({name: r[name].read(a, b) for name in RUN_ARRAYS} | {"voffsets": offsets, "values": values})
            if parts:
                yield Chunk.merge(parts, rank, long_terms)

    def _long_order(self) -> tuple[list[str], np.ndarray]:
        """The long terms by number, and each number's rank in string order (0 for none). Sorted
        again only when terms were added since: every text field's merge asks for it."""
        if self._long_order_cache is None or len(self._long_order_cache[0]) != len(self.long_ids):
            long_terms = sorted(self.long_ids, key=self.long_ids.__getitem__)
            rank = np.zeros(len(long_terms) + 1, dtype=np.uint32)
            rank[1 + np.argsort(np.array(long_terms, dtype=object), kind="stable")] = np.arange(1, len(long_terms) + 1)
            self._long_order_cache = (long_terms, rank)
        return self._long_order_cache

    def cleanup(self) -> None:
        self.pending, self.runs = {}, []
        for path in self.paths:
            path.unlink(missing_ok=True)
        self.paths = []


_NO_VALUES = np.zeros(0, dtype=np.uint8)


class _RunArray:
    """One array of a run, in a file, read a slice at a time. Not memory-mapped: every mapped page
    a merge touches would stay in the writer's resident memory."""

    def __init__(self, path: Path, array: np.ndarray) -> None:
        self.path, self.dtype, self.size = path, array.dtype, len(array)
        array.tofile(path)

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        stop = self.size if stop is None else stop
        return np.fromfile(self.path, dtype=self.dtype, count=stop - start, offset=start * self.dtype.itemsize)


def _postings(items: list[tuple[int, TermColumns, float]], longs: list[np.ndarray], positional: bool) -> dict[str, np.ndarray]:
    """One field's occurrences of a batch of posts as postings sorted by (term, document)."""
    lengths = [c.length for _, c, _ in items]
    keys = np.concatenate([c.keys for _, c, _ in items])
    long = np.concatenate(longs)
    docs = np.repeat(np.array([d for d, _, _ in items], dtype=np.uint32), lengths)
    boosts = np.concatenate([c.boosts * np.float32(b) for _, c, b in items])
    order = np.lexsort((long, keys))  # stable: each term's occurrences stay in document, position order
    keys, long, docs, boosts = keys[order], long[order], docs[order], boosts[order]
    new = np.ones(len(keys), dtype=bool)
    new[1:] = (keys[1:] != keys[:-1]) | (long[1:] != long[:-1]) | (docs[1:] != docs[:-1])
    starts = np.flatnonzero(new)
    arrays = {
        "keys": keys[starts], "long": long[starts], "docs": docs[starts],
        "weights": np.add.reduceat(boosts.astype(np.float64), starts).astype(np.float32) if len(starts) else boosts,
    }
    if positional:
        positions = np.concatenate([c.positions for _, c, _ in items if c.positions is not None])[order]
        arrays["voffsets"], arrays["values"] = encode_many(positions.astype(np.int64), starts)
    else:
        arrays["voffsets"] = np.zeros(len(starts) + 1, dtype=np.int64)
    return arrays


def _key_bounds(samples: list[np.ndarray], total: int) -> np.ndarray:
    """Keys that cut the runs into ranges of about CHUNK_POSTINGS postings (a term is never split)."""
    if total <= CHUNK_POSTINGS:
        return np.zeros(0, dtype=np.uint64)
    sample = np.sort(np.concatenate(samples))
    step = max(1, CHUNK_POSTINGS // SAMPLE_STEP)
    return np.unique(sample[step::step])


class Chunk:
    """A range of terms' postings sorted by term, then document, with the terms' strings."""

    def __init__(self, keys: np.ndarray, long: np.ndarray, docs: np.ndarray, weights: np.ndarray,
                 voffsets: np.ndarray, values: np.ndarray, long_terms: list[str]) -> None:
        new = np.ones(len(keys), dtype=bool)
        new[1:] = (keys[1:] != keys[:-1]) | (long[1:] != long[:-1])
        self.starts = np.append(np.flatnonzero(new), len(keys))
        firsts = self.starts[:-1]
        terms = unpack_terms(keys[firsts])
        for i in np.flatnonzero(long[firsts]).tolist():
            terms[i] = long_terms[long[firsts[i]] - 1]
        self.terms = terms
        self.docs, self.weights, self.voffsets, self.values = docs, weights, voffsets, values

    @classmethod
    def merge(cls, parts: list[dict[str, np.ndarray]], rank: np.ndarray, long_terms: list[str]) -> Chunk:
        keys = np.concatenate([p["keys"] for p in parts])
        long = np.concatenate([p["long"] for p in parts])
        docs = np.concatenate([p["docs"] for p in parts])
        weights = np.concatenate([p["weights"] for p in parts])
        sizes = np.concatenate([np.diff(p["voffsets"]) for p in parts])
        values = np.concatenate([p["values"] for p in parts])
        if len(parts) > 1 or long.any():  # one run of short terms is in order already
            order = np.lexsort((docs, rank[long], keys))
            keys, long, docs, weights = keys[order], long[order], docs[order], weights[order]
            if len(values):
                values, sizes = take_values(values, sizes, order)
            else:
                sizes = sizes[order]
        voffsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        return cls(keys, long, docs, weights, voffsets, values, long_terms)
