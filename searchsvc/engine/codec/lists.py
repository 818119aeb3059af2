"""Engine, on disk: posting lists — a term's documents, weights and values stored whole as arrays
(document gaps and value sizes a byte plane at a time), and their reading through Whoosh's
matcher interface or all at once."""

from __future__ import annotations

import struct
import zlib
from array import array
from typing import Any, Iterator

import numpy as np
from whoosh.matching import ListMatcher

# One term's postings as the writer hands them over: field, term, documents, weights, values.
TermPostings = tuple[str, bytes, "array[int]", "array[float]", "list[bytes] | None"]
ARRAY_MAGIC = b"SsA1"  # a posting list in our array layout; Whoosh's own lists start with b"W3Bl"


# magic, postings, id gap width, weight code, value size width, which parts are zlib'd, first part's length
_LIST_HEAD = struct.Struct("<4sIBBBBI")
_RAW_BELOW = 64
_RAW_FROM = 8192


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
    A first part under _RAW_BELOW bytes is stored as it is: zlib would not shrink it; so is one of
    _RAW_FROM bytes or more, a common term's, which queries read whole again and again: at 100k
    posts zlib took 200-400 us of such a list's 0.2-0.8 ms decoding, for a third of its size
    (body_sub at 10k posts: heads of 19.4 MB compressed, 33.4 MB raw).

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
    if len(data) < _RAW_BELOW or len(data) >= _RAW_FROM:
        return data, 0
    packer = zlib.compressobj(compression, zlib.DEFLATED, 12)  # a 4 KB window: as small, quicker to set up
    return packer.compress(data) + packer.flush(), 1


def decode_list(buf: bytes, with_values: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, bytes]:
    """encode_list's document numbers (int64), weights (float32, as stored), value sizes (None for
    a format without values, or when not asked for) and values. The values follow the documents and
    weights apart (raw), so a term query never reads them."""
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
    values = bytes(tail)
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
    if with_values:
        buf = terms._postfile.get(offset, _extent_length(length))  # the whole list in one read
    else:  # only its documents and weights: a body's positions are most of its bytes
        head = terms._postfile.get(offset, _LIST_HEAD.size)
        buf = head + terms._postfile.get(offset + _LIST_HEAD.size, _LIST_HEAD.unpack(head)[6])
    ids, weights, sizes, blob = decode_list(buf, with_values)
    if not with_values:
        return ids, weights, (b"", np.zeros(0, dtype=np.int64))
    return ids, weights, (blob, sizes if sizes is not None else np.zeros(len(ids), dtype=np.int64))


def read_postings_in(reader: Any, fieldname: str, btext: bytes, terminfo: Any,
                     wanted: np.ndarray) -> tuple[np.ndarray, bytes, np.ndarray]:
    """The postings of the `wanted` documents (sorted local numbers) only: their document numbers,
    their values end to end and each value's size. Reads the list's documents and value sizes,
    then only the stretch of values they span: a common bigram's positions run to megabytes at
    100,000 posts, where a phrase narrowed to a few documents needs a few hundred bytes."""
    if not len(wanted):
        return np.zeros(0, dtype=np.int64), b"", np.zeros(0, dtype=np.int64)
    if terminfo.is_inlined():
        docs, _, (blob, sizes) = read_postings(reader, fieldname, btext, True, terminfo)
        keep = _in_sorted(wanted, docs)
        values, picked = take_values(np.frombuffer(blob, dtype=np.uint8), sizes, keep)
        return docs[keep], values.tobytes(), picked
    postfile = reader._terms._postfile
    offset, _ = terminfo.extent()
    _, count, id_width, weight_code, size_width, zipped, head_len = _LIST_HEAD.unpack(
        postfile.get(offset, _LIST_HEAD.size))
    start = offset + _LIST_HEAD.size
    front = postfile.get(start, head_len + count * size_width)
    head = front[:head_len]
    gaps, _ = _unplanes(zlib.decompress(head) if zipped & 1 else head, 0, count, id_width)
    docs = np.cumsum(gaps, dtype=np.int64)
    keep = _in_sorted(wanted, docs)
    if not len(keep):
        return docs[:0], b"", np.zeros(0, dtype=np.int64)
    if not size_width:  # a format without values
        return docs[keep], b"", np.zeros(len(keep), dtype=np.int64)
    sizes = _unplanes(front, head_len, count, size_width)[0].astype(np.int64)
    ends = np.cumsum(sizes)
    picked = sizes[keep]
    values_at = start + len(front)
    low, high = int(ends[keep[0]] - picked[0]), int(ends[keep[-1]])
    if len(keep) <= _SEPARATE_READS and high - low > _SPAN_BYTES:  # a few far apart: a read each
        pieces = (postfile.get(values_at + int(end - size), int(size)) for end, size in zip(ends[keep], picked))
        return docs[keep], b"".join(pieces), picked
    span = np.frombuffer(postfile.get(values_at + low, high - low), dtype=np.uint8)
    firsts = np.concatenate([[0], np.cumsum(picked)[:-1]]).astype(np.int64)
    values = span[np.repeat(ends[keep] - picked - low - firsts, picked) + np.arange(int(picked.sum()))]
    return docs[keep], values.tobytes(), picked


_SEPARATE_READS = 16
_SPAN_BYTES = 64 * 1024


def _in_sorted(wanted: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """Where in `docs` (sorted) the documents of `wanted` (sorted) are: the shorter one looked up
    in the longer (a phrase narrowed to a few hundred posts against a bigram's 90,000)."""
    if not len(wanted) or not len(docs):
        return np.zeros(0, dtype=np.int64)
    if len(wanted) < len(docs):
        at = np.minimum(np.searchsorted(docs, wanted), len(docs) - 1)
        return at[docs[at] == wanted]  # type: ignore[no-any-return]
    at = np.searchsorted(wanted, docs)
    return np.flatnonzero(wanted[np.minimum(at, len(wanted) - 1)] == docs)


def _extent_length(length: Any) -> int:
    return length[0] if isinstance(length, tuple) else length  # type: ignore[no-any-return]  # Whoosh unpacks a 1-tuple
