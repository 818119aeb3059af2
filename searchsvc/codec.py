"""Index stage: how segments are written and read — Whoosh's W3 codec with rare terms inlined,
field lengths cached, and a term table written many records at a time."""

from __future__ import annotations

import io
import itertools
import pickle
import sys
import zlib
from array import array
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
from whoosh.codec.whoosh3 import (
    LENGTHS_COLUMN,
    WHOOSH3_HEADER_MAGIC,
    W3Codec,
    W3FieldWriter,
    W3LeafMatcher,
    W3PerDocReader,
    W3PostingsWriter,
    W3TermInfo,
    _lenfield,
)
from whoosh.fields import Schema
from whoosh.filedb.filetables import OrderedHashWriter, _dir_entry
from whoosh.filedb.structfile import StructFile
from whoosh.system import pack_int
from whoosh.util.numeric import byte_to_length, length_to_byte

if TYPE_CHECKING:
    from searchsvc.bulkwrite import TermPostings

_POINTER = np.dtype([("hash", ">u4"), ("pos", ">i8")])
# Whoosh pickles blocks with protocol 2, which has no opcode for bytes: each posting's positions
# become a call to codecs.encode, 10x slower to write and read and twice the size before zlib.
# Any protocol reads back with pickle.loads, so segments stay readable by Whoosh.
PICKLE_PROTOCOL = 5


def compress_block(data: bytes, level: int) -> bytes:
    """zlib as Whoosh reads it, with a 4 KB window: a block's pickle is a few KB at most, and
    zlib.compress spends ~40 us setting up its default 32 KB window and state, more than it takes
    to compress a small block (same output size here; measured 22 -> 10 us for a 133-byte block)."""
    packer = zlib.compressobj(level, zlib.DEFLATED, 12)
    return packer.compress(data) + packer.flush()


def block_bytes(gaps: tuple[int, ...], weights: list[float], values: tuple[bytes, ...] | None, last_id: int,
                max_weight: float, length_bytes: tuple[int, int], compression: int, last: bool) -> bytes:
    """One W3 block as Whoosh reads it: its size (negative for a term's last block), its pickled
    statistics, then its pickled (id gaps, weights, values), compressed. Weights are minified as
    Whoosh does: None when all are 1, one number when all are equal."""
    first = weights[0]
    mini_weights = (None if first == 1.0 else first) if weights.count(first) == len(weights) else tuple(weights)
    data = compress_block(pickle.dumps((gaps, mini_weights, values), PICKLE_PROTOCOL), compression)
    info = pickle.dumps((len(gaps), last_id, max_weight, compression, *length_bytes), PICKLE_PROTOCOL)
    size = len(info) + len(data)
    return pack_int(-size if last else size) + info + data


class _InliningPostingsWriter(W3PostingsWriter):  # type: ignore[misc]
    """Whoosh 2.7's inlining calls a method that does not exist (`set_inline`), so its default
    inline limit of 1 turns inlining off. Most bigram terms occur in one or two posts; writing
    each as its own compressed block costs time and disk, inlining them in the term table does not.
    """

    def finish_postings(self) -> Any:
        terminfo: Any = self._terminfo  # type: ignore[has-type]
        if not self.written() and len(self) < self._inlinelimit:
            terminfo.add_block(self)
            # Empty values are not buffered; without one per posting, Whoosh reads them back as ""
            # (a str), and merging segments then fails on it.
            values = self._values if len(self._values) == len(self._ids) else [b""] * len(self._ids)
            terminfo.set_inlined(self._ids, self._weights, values)
            self._terminfo = None
            return terminfo
        return super().finish_postings()

    def _write_block(self, last: bool = False) -> None:
        """W3PostingsWriter's, encoded by block_bytes."""
        if not self._blockcount:
            self._postfile.write(WHOOSH3_HEADER_MAGIC)
        terminfo: Any = self._terminfo
        terminfo.add_block(self)
        lengths = (length_to_byte(self._minlength), length_to_byte(self._maxlength))
        self._postfile.write(block_bytes(self._mini_ids(), self._weights.tolist(), self._mini_values(), self._ids[-1],
                                         self._maxweight, lengths, self._compression, last))
        self._blockcount += 1
        self._new_block()

    def add_many(self, ids: Any, weights: Any, values: list[bytes] | None, lengths: list[int]) -> None:
        """add_posting for all of one term's postings, a block-sized slice at a time."""
        start, count, limit = 0, len(ids), self._blocklimit
        while start < count:
            if len(self._ids) >= limit:
                self._write_block()
            end = min(count, start + limit - len(self._ids))
            self._ids.extend(ids[start:end])
            chunk = weights[start:end].tolist()
            self._weights.fromlist(chunk)  # float32 on disk, as Whoosh's own writer stores them
            self._maxweight = max(self._maxweight, max(chunk))  # type: ignore[has-type]
            if values is not None:
                self._values.extend(v for v in values[start:end] if v)
            present = [n for n in lengths[start:end] if n]
            if present:
                low, high = min(present), max(present)
                if self._minlength is None or low < self._minlength:  # type: ignore[has-type]
                    self._minlength = low
                self._maxlength = max(self._maxlength, high)  # type: ignore[has-type]
            start = end


class _TermInfo(W3TermInfo):  # type: ignore[misc]
    def to_bytes(self) -> bytes:
        """W3TermInfo's, with inlined postings pickled with PICKLE_PROTOCOL."""
        packed: bytes = super().to_bytes()
        if self.is_inlined():
            return packed[:self._struct.size] + pickle.dumps(self._inlined, PICKLE_PROTOCOL)
        return packed


class _LengthCache:
    """Field lengths read once per field, not once per posting (Whoosh reads a column each time)."""

    def __init__(self, lengths: Any) -> None:
        self._lengths = lengths
        self._fields: dict[str, list[int]] = {}

    def doc_field_length(self, docnum: int, fieldname: str, default: int = 0) -> int:
        return self.field_table(fieldname, default)[docnum]

    def field_table(self, fieldname: str, default: int = 0) -> list[int]:
        table = self._fields.get(fieldname)
        if table is None:
            count = self._lengths.doc_count_all()
            table = [self._lengths.doc_field_length(d, fieldname, default) for d in range(count)]
            self._fields[fieldname] = table
        return table

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lengths, name)


def _length_cache(lengths: Any) -> _LengthCache | None:
    """A _LengthCache over a per-document reader (the one given, if it is one already)."""
    if not lengths or isinstance(lengths, _LengthCache):
        return lengths  # type: ignore[no-any-return]
    return _LengthCache(lengths)


class _TrackedFile(StructFile):  # type: ignore[misc]
    """The postings file being written, counting its own position: Whoosh asks tell() for every
    term, and each answer costs a system call (measured: 17.6 -> 23.5 docs/s on 500 posts)."""

    def __init__(self, wrapped: StructFile) -> None:
        super().__init__(wrapped.file, name=wrapped._name, onclose=wrapped.onclose)
        self._position = wrapped.file.tell()

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self._position += len(data)

    # StructFile writes these two to the file behind write()'s back
    def write_pickle(self, obj: Any, protocol: int = -1) -> None:
        self.write(pickle.dumps(obj, protocol))

    def write_array(self, values: Any) -> None:
        big_endian = array(values.typecode, values)
        if sys.byteorder == "little":
            big_endian.byteswap()
        self.write(big_endian.tobytes())

    def tell(self) -> int:
        return self._position

    def seek(self, *args: Any) -> Any:
        raise io.UnsupportedOperation("a segment file is written front to back")


class _FieldWriter(W3FieldWriter):  # type: ignore[misc]
    def __init__(self, codec: Any, storage: Any, segment: Any) -> None:  # W3FieldWriter's, with our files
        self._codec, self._storage, self._segment = codec, storage, segment
        self._fieldname: Any = None
        self._fieldid: Any = None
        self._btext: Any = None
        self._fieldobj: Any = None
        self._format: Any = None
        self._tindex = TermTableWriter(_TrackedFile(self._create_file(W3Codec.TERMS_EXT)))
        self._fieldmap: dict[str, int] = {}
        self._tindex.extras["fieldmap"] = self._fieldmap
        self._postfile = _TrackedFile(self._create_file(W3Codec.POSTS_EXT))
        self._postwriter: Any = None
        self._infield = False
        self.is_closed = False

    def start_term(self, btext: bytes) -> None:
        self._btext = btext
        self._postwriter.start_postings(self._fieldobj.format, _TermInfo())

    def add_postings(self, schema: Schema, lengths: Any, items: Any) -> None:
        super().add_postings(schema, _length_cache(lengths), items)

    def add_terms(self, schema: Schema, lengths: Any, terms: Iterator[TermPostings]) -> None:
        """add_postings for postings grouped by term (a PostingTable's): one call per term, not
        several per posting. Writes the same files."""
        cache = _length_cache(lengths)
        lastfn = None
        table: list[int] = []
        for fieldname, tbytes, docs, weights, values in terms:
            if fieldname != lastfn:
                if lastfn is not None:
                    self.finish_field()
                self.start_field(fieldname, schema[fieldname])
                lastfn = fieldname
                table = cache.field_table(fieldname) if cache else []
            self.start_term(tbytes)
            self._postwriter.add_many(docs, weights, values, [table[d] for d in docs] if table else [0] * len(docs))
            self.finish_term()
        if lastfn is not None:
            self.finish_field()


class _PerDocReader(W3PerDocReader):  # type: ignore[misc]
    """Field lengths decoded once per field into memory. BM25 asks for one per scored posting, and
    Whoosh answers each with a seek and a one-byte read of the length column."""

    def doc_field_length(self, docnum: int, fieldname: str, default: int = 0) -> int | None:
        lengths = self.__dict__.setdefault("_lengths", {})
        table = lengths.get(fieldname)
        if table is None:
            column = self._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN)
            if column is None:
                return default
            table = lengths[fieldname] = [byte_to_length(b) if b else None for b in column]
        return table[docnum]  # type: ignore[no-any-return]


class InliningCodec(W3Codec):  # type: ignore[misc]
    """Whoosh's own codec with inlined rare terms, and field lengths cached while writing and reading."""

    def field_writer(self, storage: Any, segment: Any) -> Any:
        return _FieldWriter(self, storage, segment)

    def per_document_reader(self, storage: Any, segment: Any) -> Any:
        return _PerDocReader(storage, segment)

    def __init__(self, blocklimit: int = 128, compression: int = 3, inlinelimit: int = 4) -> None:
        super().__init__(blocklimit=blocklimit, compression=compression, inlinelimit=inlinelimit)

    def postings_writer(self, dbfile: Any, byteids: bool = False) -> Any:
        return _InliningPostingsWriter(
            dbfile, blocklimit=self._blocklimit, byteids=byteids, compression=self._compression,
            inlinelimit=self._inlinelimit,
        )


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


def read_postings(matcher: Any, with_values: bool = False) -> tuple[np.ndarray, np.ndarray, tuple[bytes, np.ndarray]]:
    """A term's postings in one segment — document numbers, weights and (when asked) the values
    as one bytes object and each value's size — read a whole block at a time, deleted documents
    included (the caller applies deletions)."""
    leaf = getattr(matcher, "child", matcher)
    blobs: list[bytes] = []
    sizes: list[np.ndarray] = []
    if not isinstance(leaf, W3LeafMatcher):  # an inlined rare term: a few postings in memory
        ids, weights, values = [], [], []
        while leaf.is_active():
            ids.append(leaf.id())
            weights.append(leaf.weight())
            if with_values:
                values.append(leaf.value())
            leaf.next()
        lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        return np.array(ids, dtype=np.int64), np.array(weights, dtype=np.float64), (b"".join(values), lengths)
    id_blocks: list[np.ndarray] = []
    weight_blocks: list[np.ndarray] = []
    length = leaf._length[0] if isinstance(leaf._length, tuple) else leaf._length  # Whoosh unpacks a 1-tuple
    buf = leaf._postfile.get(leaf._startoffset, length)  # the whole list in one read
    stream = io.BytesIO(buf)
    at = len(WHOOSH3_HEADER_MAGIC)
    while True:
        size = int.from_bytes(buf[at:at + 4], "big", signed=True)
        stream.seek(at + 4)
        count, _, _, compression, _, _ = pickle.load(stream)  # the block's statistics
        raw = buf[stream.tell():at + 4 + abs(size)]
        block_ids, block_weights, block_values = pickle.loads(zlib.decompress(raw) if compression else raw)
        id_blocks.append(np.fromiter(itertools.accumulate(block_ids), dtype=np.int64, count=count))
        if block_weights is None:
            weight_blocks.append(np.ones(count))
        elif isinstance(block_weights, float):
            weight_blocks.append(np.full(count, block_weights))
        else:
            weight_blocks.append(np.asarray(block_weights, dtype=np.float64))
        if with_values:
            blobs.append(b"".join(block_values))
            sizes.append(np.fromiter(map(len, block_values), dtype=np.int64, count=count))
        if size < 0:
            break
        at += 4 + size
    value_sizes = np.concatenate(sizes) if sizes else np.zeros(0, dtype=np.int64)
    return np.concatenate(id_blocks), np.concatenate(weight_blocks), (b"".join(blobs), value_sizes)
