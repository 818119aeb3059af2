"""Index stage: how segments are written and read — Whoosh's W3 codec with rare terms inlined,
field lengths cached, and a writer that keeps postings in memory grouped by term."""

from __future__ import annotations

import heapq
import io
import marshal
import os
import pickle
import sys
from array import array
from itertools import groupby
from pathlib import Path
from typing import Any, Iterator

from whoosh.codec.whoosh3 import (
    LENGTHS_COLUMN,
    W3Codec,
    W3FieldWriter,
    W3PerDocReader,
    W3PostingsWriter,
    _lenfield,
)
from whoosh.fields import Schema
from whoosh.filedb.structfile import StructFile
from whoosh.index import Index
from whoosh.util.numeric import byte_to_length
from whoosh.writing import SegmentWriter


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
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._postfile = _TrackedFile(self._postfile)  # type: ignore[has-type]

    def add_postings(self, schema: Schema, lengths: Any, items: Any) -> None:
        super().add_postings(schema, _LengthCache(lengths) if lengths else lengths, items)

    def add_terms(self, schema: Schema, lengths: Any, terms: Iterator[TermPostings]) -> None:
        """add_postings for postings grouped by term (a PostingTable's): one call per term, not
        several per posting. Writes the same files."""
        cache = _LengthCache(lengths) if lengths else None
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


TermPostings = tuple[str, bytes, "array[int]", "array[float]", "list[bytes] | None"]
RunRecord = tuple[str, bytes, bytes, bytes, "list[bytes] | None"]  # docnums and weights as array bytes


class PostingTable:
    """Postings grouped by field and term as they arrive, in compact arrays.

    Whoosh's pool keeps one 5-tuple per posting and, past `limitmb`, pickles each one to a run
    file, loads it back and merges the runs one posting at a time: a third of a full build's time.
    Documents arrive in docnum order, so each term's postings are already sorted: only terms need
    sorting. Past `limitmb` the table is written out as a run of whole terms, and the runs are
    merged term by term at the end; every MAX_RUNS runs are merged into one, so a build of any
    size keeps a bounded number of files open.
    """

    BYTES_PER_POSTING = 150  # measured: a writer's private memory at the first spill, per posting
    MAX_RUNS = 32

    def __init__(self, tempdir: Path, limitmb: int = 128) -> None:
        self.fields: dict[str, dict[bytes, tuple[array[int], array[float], list[bytes] | None]]] = {}
        self.count = 0
        self.limit = max(1000, limitmb * 1024 * 1024 // self.BYTES_PER_POSTING)
        self.tempdir = tempdir
        self.runs: list[Path] = []
        self._serial = 0

    def add(self, item: tuple[str, bytes, int, float, bytes | None]) -> None:
        fieldname, tbytes, docnum, weight, vbytes = item
        terms = self.fields.get(fieldname)
        if terms is None:
            terms = self.fields[fieldname] = {}
        entry = terms.get(tbytes)
        if entry is None:
            entry = terms[tbytes] = (array("I"), array("d"), [] if vbytes else None)
        entry[0].append(docnum)
        entry[1].append(weight)
        if entry[2] is not None:
            entry[2].append(vbytes or b"")
        self.count += 1
        if self.count >= self.limit:
            self._spill()

    def _sorted_terms(self) -> Iterator[RunRecord]:
        for fieldname in sorted(self.fields):
            terms = self.fields[fieldname]
            for tbytes in sorted(terms):
                docs, weights, values = terms[tbytes]
                yield fieldname, tbytes, docs.tobytes(), weights.tobytes(), values

    def _spill(self) -> None:
        self.runs.append(self._write_run(self._sorted_terms()))
        self.fields = {}
        self.count = 0
        if len(self.runs) >= self.MAX_RUNS:
            runs, self.runs = self.runs, []
            self.runs.append(self._write_run(_merge_records([_read_run(path) for path in runs])))
            for path in runs:
                path.unlink()

    def _write_run(self, records: Iterator[RunRecord]) -> Path:
        path = self.tempdir / f"postings-{os.getpid()}-{id(self)}-{self._serial}.run"
        self._serial += 1
        with path.open("wb") as f:
            for record in records:
                marshal.dump(record, f)
        return path

    def iter_terms(self) -> Iterator[TermPostings]:
        """(field, term, docnums, weights, values or None) in field and term order."""
        sources = [_read_run(path) for path in self.runs] + [self._sorted_terms()]
        for fieldname, tbytes, docs, weights, values in _merge_records(sources):
            docnums, scores = array("I"), array("d")
            docnums.frombytes(docs)
            scores.frombytes(weights)
            yield fieldname, tbytes, docnums, scores, values

    def iter_postings(self) -> Iterator[tuple[str, bytes, int, float, bytes]]:
        for fieldname, tbytes, docs, weights, values in self.iter_terms():
            for i, docnum in enumerate(docs):
                yield fieldname, tbytes, docnum, weights[i], values[i] if values is not None else b""

    def cleanup(self) -> None:
        self.fields.clear()
        for path in self.runs:
            path.unlink(missing_ok=True)
        self.runs = []


def _merge_records(sources: list[Iterator[RunRecord]]) -> Iterator[RunRecord]:
    """One record per term from several sorted sources; earlier sources hold earlier documents."""
    merged = heapq.merge(*sources, key=lambda record: (record[0], record[1]))
    for (fieldname, tbytes), group in groupby(merged, key=lambda record: (record[0], record[1])):
        records = list(group)
        if len(records) == 1:
            yield records[0]
            continue
        values = [v for r in records for v in r[4] or ()] if records[0][4] is not None else None
        yield fieldname, tbytes, b"".join(r[2] for r in records), b"".join(r[3] for r in records), values


def _read_run(path: Path) -> Iterator[RunRecord]:
    with path.open("rb") as f:
        while True:
            try:
                yield marshal.load(f)
            except EOFError:
                return


class _TableWriter(SegmentWriter):  # type: ignore[misc]
    """A SegmentWriter whose pool is a PostingTable, written out a term at a time."""

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        lengths = self.per_document_reader() if self.codec.length_stats else None
        self.fieldwriter.add_terms(self.schema, lengths, self.pool.iter_terms())
        self.fieldwriter.close()
        if lengths:
            lengths.close()


def memory_writer(ix: Index, limitmb: int = 128) -> SegmentWriter:
    """A SegmentWriter with a PostingTable for its pool (see there). Not compound: Whoosh reads a
    compound segment by copying each part into a BytesIO, so every open reader would hold the
    whole index in memory (470 MB at 10k posts, per thread)."""
    writer = _TableWriter(ix, limitmb=limitmb, codec=InliningCodec(), compound=False)
    writer.pool.cleanup()
    writer.pool = PostingTable(Path(ix.storage.folder), limitmb)
    return writer
