"""Engine, on disk: the codec — Whoosh's W3 segment layout, each file written and read by the module
that owns its structure: posting lists (lists), the term table (terms), per-document columns
(perdoc)."""

from __future__ import annotations

import io
import pickle
import sys
from array import array
from typing import Any, Iterator

import numpy as np
from whoosh.codec.whoosh3 import W3Codec, W3FieldWriter, W3PostingsWriter
from whoosh.fields import Schema
from whoosh.filedb.structfile import StructFile

from searchsvc.engine.codec.lists import (
    ARRAY_MAGIC,
    ArrayMatcher,
    TermPostings,
    _extent_length,
    encode_list,
)
from searchsvc.engine.codec.perdoc import _length_cache, _PerDocReader, _PerDocWriter
from searchsvc.engine.codec.terms import TermTableWriter, _TermInfo


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
        """add_postings for postings grouped by term (a PostingPool's): one call per term, not
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


class InliningCodec(W3Codec):  # type: ignore[misc]
    """Whoosh's W3 codec with rare terms inlined, other posting lists in the array layout
    (encode_list; Whoosh's own blocks only for term vectors, which no field has), and field lengths
    cached while writing and reading."""

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
