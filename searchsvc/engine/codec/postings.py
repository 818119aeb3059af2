"""Index stage: how segments are written and read — Whoosh's W3 codec with rare terms inlined,
other posting lists stored whole as compressed arrays, field lengths cached, and a term table
written many records at a time."""

from __future__ import annotations

import io
import itertools
import pickle
import struct
import sys
import zlib
from array import array
from typing import Any, Iterator

import numpy as np
from whoosh.codec.whoosh3 import (
    LENGTHS_COLUMN,
    WHOOSH3_HEADER_MAGIC,
    W3Codec,
    W3FieldWriter,
    W3PerDocReader,
    W3PerDocWriter,
    W3PostingsWriter,
    W3TermInfo,
    _lenfield,
)
from whoosh.columns import PickleColumn, VarBytesColumn
from whoosh.fields import Schema
from whoosh.filedb.filetables import OrderedHashWriter, _dir_entry
from whoosh.filedb.structfile import StructFile
from whoosh.matching import ListMatcher
from whoosh.reading import TermNotFound
from whoosh.util.numeric import byte_to_length

# One term's postings as the writer hands them over: field, term, documents, weights, values.
TermPostings = tuple[str, bytes, "array[int]", "array[float]", "list[bytes] | None"]
_POINTER = np.dtype([("hash", ">u4"), ("pos", ">i8")])
# Whoosh pickles inlined postings with protocol 2, which has no opcode for bytes: each posting's
# positions become a call to codecs.encode, 10x slower to write and read, twice the size.
PICKLE_PROTOCOL = 5


ARRAY_MAGIC = b"SsA1"  # a posting list in our array layout; Whoosh's own lists start with b"W3Bl"
# magic, postings, id gap width, weight code, value size width, which parts are zlib'd, first part's length
_LIST_HEAD = struct.Struct("<4sIBBBBI")
_RAW_BELOW = 64


def _width(top: int) -> int:
    """Bytes an unsigned integer up to `top` needs: 1, 2, 4 or 8."""
    return 1 if top < 1 << 8 else 2 if top < 1 << 16 else 4 if top < 1 << 32 else 8


def _planes(values: np.ndarray, width: int) -> bytes:
    """Unsigned integers at `width` bytes each, stored a byte plane at a time (every low byte,
    then every next byte): the high planes of small numbers are runs of zeros, which zlib
    compresses to almost nothing."""
    data = np.ascontiguousarray(values, dtype=f"<u{width}")
    return data.tobytes() if width == 1 else data.view(np.uint8).reshape(-1, width).T.tobytes()


def _unplanes(body: bytes, at: int, count: int, width: int) -> tuple[np.ndarray, int]:
    data = np.frombuffer(body, dtype=np.uint8, count=count * width, offset=at)
    if width > 1:
        data = np.ascontiguousarray(data.reshape(width, count).T)
    return data.view(f"<u{width}").reshape(count), at + count * width


def take_values(data: np.ndarray, sizes: np.ndarray, pick: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values of varying size stored end to end (`data`, `sizes` bytes each): those at `pick`, in
    that order, end to end, and their sizes."""
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    picked = sizes[pick]
    firsts = np.concatenate([[0], np.cumsum(picked)[:-1]]).astype(np.int64)
    return data[np.repeat(starts[pick] - firsts, picked) + np.arange(int(picked.sum()))], picked


def list_widths(gaps_max: int, weights_min: float, weights_max: float, weights_whole: bool,
                sizes_max: int | None) -> tuple[int, int, int]:
    """encode_list's layout for a list with these extremes: id gap width, weight code (1: a byte
    each, for small whole numbers; 4: float32, as Whoosh stores weights), value size width (0: a
    format without values)."""
    whole = weights_whole and weights_min >= 0 and weights_max < 256
    return _width(gaps_max), 1 if whole else 4, 0 if sizes_max is None else _width(sizes_max)


def encode_list(gaps: np.ndarray, weights: np.ndarray, sizes: np.ndarray | None, blob: bytes,
                compression: int, widths: tuple[int, int, int] | None = None) -> bytes:
    """A whole posting list as arrays in two parts: document gaps (the first is the document
    itself) and weights, compressed; then, for formats with values, each value's size and the
    values' bytes, as they are. `widths` as list_widths gives them (computed here when not given).
    A first part under _RAW_BELOW bytes is stored as it is: zlib would not shrink it.

    The values are positions, two bytes a gap, which zlib shrank only 1.4x (body_sub at 10k
    posts: 32.2 -> 22.6 MB) while decompressing them was a phrase query's largest cost (100k
    posts, the benchmark's query mix: 0.74 ms a query, 109 KB). Lists written compressed (the
    header's flag) are still read.

    Whoosh's W3 blocks pickle a tuple of Python numbers and bytes every 128 postings: measured on
    a 100,000-post index, 1.6-3.4x the size of this, and 10-35x slower to decode (0.4-1.8 us a
    posting, against a few nanoseconds here)."""
    weights = np.asarray(weights, dtype=np.float32)
    if widths is None:
        widths = list_widths(int(gaps.max()), float(weights.min()), float(weights.max()),
                             bool((weights % 1 == 0).all()), None if sizes is None else int(sizes.max()))
    id_width, weight_code, size_width = widths
    head = _planes(gaps, id_width) + (weights.astype(np.uint8).tobytes() if weight_code == 1
                                      else _planes(weights.view(np.uint32), 4))
    tail = _planes(sizes, size_width) + blob if sizes is not None else b""
    head, head_zipped = _pack(head, compression)
    return _LIST_HEAD.pack(ARRAY_MAGIC, len(gaps), id_width, weight_code, size_width, head_zipped,
                           len(head)) + head + tail


def _pack(data: bytes, compression: int) -> tuple[bytes, int]:
    if len(data) < _RAW_BELOW:
        return data, 0
    packer = zlib.compressobj(compression, zlib.DEFLATED, 12)  # a 4 KB window: as small, quicker to set up
    return packer.compress(data) + packer.flush(), 1


def decode_list(buf: bytes, with_values: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, bytes]:
    """encode_list's document numbers (int64), weights (float32, as stored), value sizes (None for
    a format without values, or when not asked for) and values. The values follow the documents and
    weights apart (raw; zlib'd in lists written before), so a term query never reads them."""
    _, count, id_width, weight_code, size_width, zipped, head_len = _LIST_HEAD.unpack_from(buf)
    view = memoryview(buf)
    start = _LIST_HEAD.size
    part = view[start:start + head_len]
    body = zlib.decompress(part) if zipped & 1 else bytes(part)
    gaps, at = _unplanes(body, 0, count, id_width)
    ids = np.cumsum(gaps, dtype=np.int64)
    if weight_code == 1:
        weights = np.frombuffer(body, dtype=np.uint8, count=count, offset=at).astype(np.float32)
    else:
        raw, at = _unplanes(body, at, count, 4)
        weights = raw.view(np.float32)
    if not size_width or not with_values:
        return ids, weights, None, b""
    tail = view[start + head_len:]
    values = zlib.decompress(tail) if zipped & 2 else bytes(tail)
    sizes, at = _unplanes(values, 0, count, size_width)
    return ids, weights, sizes.astype(np.int64), values[at:]


class ArrayMatcher(ListMatcher):  # type: ignore[misc]
    """An array-layout posting list through Whoosh's matcher interface: the list is one block,
    whose statistics are the term's. Documents and weights stay numpy arrays and each value is cut
    from the values' bytes when asked for: a matcher that skips to a few documents (an And's later
    parts) touches few postings, and making Python lists of them all cost 5-9 ms for 37,000."""

    @classmethod
    def from_bytes(cls, buf: bytes, format_: Any, scorer: Any, term: Any, terminfo: Any) -> ArrayMatcher:
        ids, weights, sizes, blob = decode_list(buf)
        ends = np.cumsum(sizes) if sizes is not None else None
        return cls(ids, weights.astype(np.float64), (blob, ends) if ends is not None else None, format_, scorer, term=term,
                   terminfo=terminfo)

    def copy(self) -> ArrayMatcher:  # ListMatcher's forgets the term and its statistics
        return ArrayMatcher(self._ids, self._weights, self._values, self._format, self._scorer, self._i,
                            term=self._term, terminfo=self._terminfo)

    _lists: tuple[list[int], list[float], list[int]] | None = None  # made on the first next()

    def next(self) -> None:
        self._i += 1
        if self._lists is None:  # stepping through postings: Python lists are quicker to read
            ends = self._values[1].tolist() if self._values is not None else []
            self._lists = (self._ids.tolist(), self._weights.tolist(), ends)

    def id(self) -> int:
        return self._lists[0][self._i] if self._lists is not None else int(self._ids[self._i])

    def weight(self) -> float:
        return self._lists[1][self._i] if self._lists is not None else float(self._weights[self._i])

    def value(self) -> bytes:
        return self._value_at(self._i)

    def _value_at(self, i: int) -> bytes:
        if self._values is None:
            return b""
        blob, ends = self._values
        if self._lists is not None:
            ends = self._lists[2]
        return blob[int(ends[i - 1]) if i else 0:int(ends[i])]  # type: ignore[no-any-return]

    def all_ids(self) -> Iterator[int]:
        return iter(self._ids.tolist())

    def all_items(self) -> Iterator[tuple[int, bytes]]:
        return ((docnum, self._value_at(i)) for i, docnum in enumerate(self._ids.tolist()))

    def skip_to(self, id: int) -> None:  # ListMatcher's steps one posting at a time
        at: int = self._i  # type: ignore[has-type]
        if self.is_active() and id > self._ids[at]:
            self._i = at + int(np.searchsorted(self._ids[at:], id))

    def block_max_weight(self) -> float:  # ListMatcher's takes the max of every weight, each call
        return self._terminfo.max_weight()  # type: ignore[no-any-return]

    def skip_to_quality(self, minquality: float) -> int:  # one block: skip all of it or none
        if self.is_active() and self.block_quality() <= minquality:
            self._i = len(self._ids)
            return 1
        return 0


class _InliningPostingsWriter(W3PostingsWriter):  # type: ignore[misc]
    """A term's postings buffered whole, then written in one piece: a list of fewer than
    `inlinelimit` postings inlined in the term table (Whoosh 2.7's inlining calls a method that
    does not exist, `set_inline`, so its default limit of 1 turns it off; most bigram terms occur
    in one or two posts), a longer one as an array list (encode_list)."""

    def add_posting(self, id_: int, weight: float, vbytes: bytes, length: int | None = None) -> None:
        """W3PostingsWriter's, without blocks, keeping empty values as b"" (Whoosh drops them, then
        reads them back as "", a str, on which merging segments fails)."""
        self._ids.append(id_)
        self._weights.append(weight)
        self._values.append(vbytes or b"")
        self._maxweight = max(self._maxweight, weight)  # type: ignore[has-type]
        if length:
            self._note_lengths(length, length)

    def add_many(self, ids: Any, weights: Any, values: list[bytes] | None, lengths: list[int]) -> None:
        """add_posting for all of one term's postings."""
        if not len(ids):
            return
        self._ids.extend(ids)
        chunk = weights.tolist()
        self._weights.fromlist(chunk)  # float32, as Whoosh's own writer stores them
        self._maxweight = max(self._maxweight, max(chunk))  # type: ignore[has-type]
        self._values.extend(values if values is not None else [b""] * len(ids))
        present = [n for n in lengths if n]
        if present:
            self._note_lengths(min(present), max(present))

    def _note_lengths(self, low: int, high: int) -> None:
        """The shortest and longest field lengths so far (a block's statistics in Whoosh)."""
        if self._minlength is None or low < self._minlength:  # type: ignore[has-type]
            self._minlength = low
        self._maxlength = max(self._maxlength, high)  # type: ignore[has-type]

    def finish_postings(self) -> Any:
        terminfo: Any = self._terminfo  # type: ignore[has-type]
        terminfo.add_block(self)
        if len(self) < self._inlinelimit:
            terminfo.set_inlined(self._ids, self._weights, self._values)
        else:
            ids = np.frombuffer(self._ids, dtype=np.uint32).astype(np.int64)
            with_values = self._format.fixed_value_size() != 0
            sizes = np.fromiter(map(len, self._values), dtype=np.int64, count=len(ids)) if with_values else None
            start = self._postfile.tell()
            self._postfile.write(encode_list(np.diff(ids, prepend=0), np.frombuffer(self._weights, dtype=np.float32),
                                             sizes, b"".join(self._values) if with_values else b"",
                                             self._compression))
            terminfo.set_extent(start, self._postfile.tell() - start)
        self._terminfo = None
        return terminfo


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


# Each post's stored fields, pickled; Whoosh's W3 also compresses each with zlib, which cost
# 20-44 us a hit (half of reading its fields) for 40% of the stored bytes (100k posts: ~270 MB).
STORED_PICKLED = PickleColumn(VarBytesColumn())
_STORED_BYTES = VarBytesColumn()


def load_stored(data: bytes) -> dict[str, Any]:
    """A post's stored fields from their bytes: pickled (a pickle starts with its protocol
    opcode, 0x80), or pickled then zlib-compressed (0x78) as Whoosh's own codec writes them."""
    if not data:
        return {}
    return pickle.loads(data if data[:1] == b"\x80" else zlib.decompress(data))  # type: ignore[no-any-return]


class _PerDocWriter(W3PerDocWriter):  # type: ignore[misc]
    """Whoosh's per-document writer with stored fields pickled but not compressed."""

    def _create_column(self, fieldname: str, column: Any) -> None:
        super()._create_column(fieldname, STORED_PICKLED if fieldname == "_stored" else column)


class _PerDocReader(W3PerDocReader):  # type: ignore[misc]
    """Stored fields in either layout (load_stored), and field lengths decoded once per field into
    memory: BM25 asks for one per scored posting, and Whoosh answers each with a seek and a
    one-byte read of the length column."""

    def stored_reader(self) -> Any:
        """The stored-fields column's bytes per document (None for a segment without any)."""
        return self._cached_reader("_stored", _STORED_BYTES)

    def stored_fields(self, docnum: int) -> dict[str, Any]:
        reader = self.stored_reader()
        return load_stored(reader[docnum]) if reader is not None else {}

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
    """Whoosh's W3 codec with rare terms inlined, other posting lists in the array layout
    (encode_list; W3's blocks are still read, so older indexes open), and field lengths cached
    while writing and reading."""

    def field_writer(self, storage: Any, segment: Any) -> Any:
        return _FieldWriter(self, storage, segment)

    def per_document_writer(self, storage: Any, segment: Any) -> Any:
        return _PerDocWriter(self, storage, segment)

    def per_document_reader(self, storage: Any, segment: Any) -> Any:
        return _PerDocReader(storage, segment)

    def __init__(self, blocklimit: int = 128, compression: int = 3, inlinelimit: int = 4) -> None:
        super().__init__(blocklimit=blocklimit, compression=compression, inlinelimit=inlinelimit)

    def postings_writer(self, dbfile: Any, byteids: bool = False) -> Any:
        kind = W3PostingsWriter if byteids else _InliningPostingsWriter  # term vectors: Whoosh's blocks
        return kind(dbfile, blocklimit=self._blocklimit, byteids=byteids, compression=self._compression,
                    inlinelimit=self._inlinelimit)

    def postings_reader(self, dbfile: Any, terminfo: Any, format_: Any, term: Any = None, scorer: Any = None) -> Any:
        if not terminfo.is_inlined():
            offset, length = terminfo.extent()
            if dbfile.get(offset, len(ARRAY_MAGIC)) == ARRAY_MAGIC:
                return ArrayMatcher.from_bytes(dbfile.get(offset, _extent_length(length)), format_, scorer, term,
                                               terminfo)
        return super().postings_reader(dbfile, terminfo, format_, term, scorer)


def _extent_length(length: Any) -> int:
    return length[0] if isinstance(length, tuple) else length  # type: ignore[no-any-return]  # Whoosh unpacks a 1-tuple


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
    lookup in the term table, where `in`, doc_frequency() and postings() make one each."""
    terms = getattr(reader, "_terms", None)  # an index of no posts has an EmptyReader
    try:
        return terms.term_info(fieldname, btext) if terms is not None else None
    except TermNotFound:
        return None


def read_postings(reader: Any, fieldname: str, btext: bytes, with_values: bool = False,
                  terminfo: Any = None) -> tuple[np.ndarray, np.ndarray, tuple[bytes, np.ndarray]]:
    """A term's postings in one segment (its reader, and its term_info if already looked up):
    document numbers, weights and, when asked, the values as one bytes object and each value's
    size. Deleted documents are included (the caller applies deletions)."""
    terms = reader._terms
    if terminfo is None:
        terminfo = terms.term_info(fieldname, btext)
    if terminfo.is_inlined():  # a rare term: a few postings in the term table
        ids, weights, values = terminfo.inlined_postings()
        values = values if with_values else ()
        lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        return np.array(ids, dtype=np.int64), np.array(weights, dtype=np.float64), (b"".join(values), lengths)
    offset, length = terminfo.extent()
    buf = terms._postfile.get(offset, _extent_length(length))  # the whole list in one read
    if buf[:len(ARRAY_MAGIC)] != ARRAY_MAGIC:
        return _read_blocks(buf, with_values)
    ids, weights, sizes, blob = decode_list(buf, with_values)
    if not with_values:
        return ids, weights, (b"", np.zeros(0, dtype=np.int64))
    return ids, weights, (blob, sizes if sizes is not None else np.zeros(len(ids), dtype=np.int64))


def _read_blocks(buf: bytes, with_values: bool) -> tuple[np.ndarray, np.ndarray, tuple[bytes, np.ndarray]]:
    """read_postings for a list in Whoosh's W3 blocks (indexes written before the array layout)."""
    blobs: list[bytes] = []
    sizes: list[np.ndarray] = []
    id_blocks: list[np.ndarray] = []
    weight_blocks: list[np.ndarray] = []
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
        if with_values and block_values is None:  # a format without values
            sizes.append(np.zeros(count, dtype=np.int64))
        elif with_values and isinstance(block_values, bytes):  # fixed-size values, joined
            blobs.append(block_values)
            sizes.append(np.full(count, len(block_values) // count, dtype=np.int64))
        elif with_values:
            blobs.append(b"".join(block_values))
            sizes.append(np.fromiter(map(len, block_values), dtype=np.int64, count=count))
        if size < 0:
            break
        at += 4 + size
    value_sizes = np.concatenate(sizes) if sizes else np.zeros(0, dtype=np.int64)
    return np.concatenate(id_blocks), np.concatenate(weight_blocks), (b"".join(blobs), value_sizes)
