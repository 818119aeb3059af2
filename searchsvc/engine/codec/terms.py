"""Engine, on disk: the term table — Whoosh's ordered hash file of term infos, written many records
at a time with CRC-32 hashes, rare terms' postings inlined, and one lookup per term."""

from __future__ import annotations

import itertools
import pickle
import zlib
from typing import Any

import numpy as np
from whoosh.codec.whoosh3 import W3TermInfo
from whoosh.filedb.filetables import OrderedHashWriter, _dir_entry
from whoosh.reading import TermNotFound

_POINTER = np.dtype([("hash", ">u4"), ("pos", ">i8")])


# Whoosh pickles inlined postings with protocol 2, which has no opcode for bytes: each posting's
# positions become a call to codecs.encode, 10x slower to write and read, twice the size.
PICKLE_PROTOCOL = 5


class _TermInfo(W3TermInfo):  # type: ignore[misc]
    def to_bytes(self) -> bytes:
        """W3TermInfo's, with inlined postings pickled with PICKLE_PROTOCOL."""
        packed: bytes = super().to_bytes()
        if self.is_inlined():
            return packed[:self._struct.size] + pickle.dumps(self._inlined, PICKLE_PROTOCOL)
        return packed


class TermTableWriter(OrderedHashWriter):  # type: ignore[misc]
    """Whoosh's ordered hash file of term infos, with records added many at a time, CRC-32 hashes
    (Whoosh's reader supports them: the hash type is in the file's header) instead of MD5 in
    Python, and the hash tables built with numpy."""

    def __init__(self, dbfile: Any) -> None:
        super(OrderedHashWriter, self).__init__(dbfile, hashtype=1)
        self.lastkey = b""
        self._positions: list[np.ndarray] = []
        self._hashes: list[np.ndarray] = []
        self._keys: list[bytes] = []  # records not written yet: add() is called once per term
        self._values: list[bytes] = []

    def add(self, key: bytes, value: bytes) -> None:
        self._check_order(key)
        self._keys.append(key)
        self._values.append(value)
        if len(self._keys) >= 4096:
            self._flush()

    def add_many(self, keys: list[bytes], values: list[bytes]) -> None:
        if keys:
            self._check_order(keys[0])
        self._keys.extend(keys)
        self._values.extend(values)
        self._flush()

    def _check_order(self, key: bytes) -> None:
        previous = self._keys[-1] if self._keys else self.lastkey
        if key <= previous:
            raise ValueError(f"Keys must increase: {previous!r}..{key!r}")

    def _flush(self) -> None:
        keys, values = self._keys, self._values
        if not keys:
            return
        self._keys, self._values = [], []
        sizes = np.fromiter(itertools.chain.from_iterable((len(k), len(v)) for k, v in zip(keys, values)),
                            dtype=np.int64, count=2 * len(keys)).reshape(-1, 2)
        heads = sizes.astype(">i4").tobytes()
        start = self.dbfile.tell()
        self._positions.append(start + np.concatenate([[0], np.cumsum(8 + sizes.sum(axis=1))[:-1]]))
        self._hashes.append(np.fromiter(map(zlib.crc32, keys), dtype=np.uint32, count=len(keys)))
        self.dbfile.write(b"".join(itertools.chain.from_iterable(
            zip((heads[i:i + 8] for i in range(0, len(heads), 8)), keys, values))))
        self.lastkey = keys[-1]

    def _all_positions(self) -> np.ndarray:
        """Every record's position, in one array (close() asks for it twice)."""
        self._flush()
        if len(self._positions) != 1:
            self._positions = [np.concatenate(self._positions) if self._positions else np.zeros(0, dtype=np.int64)]
        return self._positions[0]

    def _write_hashes(self) -> None:
        positions = self._all_positions()
        hashes = np.concatenate(self._hashes) if self._hashes else np.zeros(0, dtype=np.uint32)
        buckets = hashes & 255
        order = np.argsort(buckets, kind="stable")
        bounds = np.searchsorted(buckets[order], np.arange(257))
        for bucket in range(256):
            entries = order[bounds[bucket]:bounds[bucket + 1]]
            slots = 2 * len(entries)
            table = np.zeros(slots, dtype=_POINTER)
            if slots:
                where = _probe(((hashes[entries] >> 8) % slots).tolist(), slots)
                table["hash"][where] = hashes[entries]
                table["pos"][where] = positions[entries]
            self.directory.append((self.dbfile.tell(), slots))
            self.dbfile.write(table.tobytes())

    def _write_directory(self) -> None:
        self.dbfile.write(b"".join(_dir_entry.pack(pos, slots) for pos, slots in self.directory))

    def _write_extras(self) -> None:
        positions = self._all_positions()
        top = int(positions[-1]) if len(positions) else 0
        typecode = "H" if top < 2**16 else "i" if top < 2**31 else "I" if top < 2**32 else "q"
        self.extras["indextype"] = typecode
        self.extras["indexlen"] = len(positions)
        self.dbfile.write_pickle(self.extras)
        self.dbfile.write(positions.astype(">" + {"H": "u2", "i": "i4", "I": "u4", "q": "i8"}[typecode]).tobytes())


def _probe(homes: list[int], slots: int) -> list[int]:
    """Linear probing as HashWriter does it: each entry takes the first free slot from its home."""
    filled = bytearray(slots)
    where = []
    for home in homes:
        while filled[home]:
            home = home + 1 if home + 1 < slots else 0
        filled[home] = 1
        where.append(home)
    return where


def term_info(reader: Any, fieldname: str, btext: bytes) -> Any:
    """A term's statistics and where its postings are in one segment (its reader), or None: one
    lookup in the term table, where `in`, doc_frequency() and postings() make one each; then kept
    with the segment's term reader (a segment's table never changes), up to MAX_CACHED_INFOS.

    A pasted title looks up ~180 bigram terms, ~25 us each through Whoosh's hash table (a third of
    them preads); readers' text repeats its bigrams. Measured at 10k posts, queries unseen but
    after 200 others, paired with an index reading the table each time: p50 titles -1.5 ms,
    sentences -1.7, passages -4.5, fragments -1.2, full-width -1.4 (10-20%); ~420 bytes an entry."""
    terms = getattr(reader, "_terms", None)  # an index of no posts has an EmptyReader
    if terms is None:
        return None
    cache = terms.__dict__.setdefault("_searchsvc_infos", {})
    key = (fieldname, btext)
    found = cache.get(key, _UNKNOWN)
    if found is _UNKNOWN:
        try:
            found = terms.term_info(fieldname, btext)
        except TermNotFound:
            found = None
        if len(cache) >= MAX_CACHED_INFOS:
            cache.clear()
        cache[key] = found
    return found


_UNKNOWN = object()
MAX_CACHED_INFOS = 16_384  # a segment's: ~7 MB at most, then it starts again
