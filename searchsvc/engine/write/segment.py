"""Engine, writing: segment files written from postings grouped by term (pool.py), as
codec.InliningCodec writes them: only the per-term work of the format is left to Python."""

from __future__ import annotations

import heapq
import marshal
import os
import pickle
from array import array
from itertools import groupby
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
from whoosh.codec.whoosh3 import W3TermInfo
from whoosh.index import Index
from whoosh.system import pack_int, pack_long, pack_ushort
from whoosh.util.numeric import _length_byte_cache
from whoosh.writing import SegmentWriter

from searchsvc.analysis.arrays import TextColumns, text_columns
from searchsvc.engine.codec.lists import TermPostings, encode_list, list_widths
from searchsvc.engine.codec.perdoc import _LengthCache
from searchsvc.engine.codec.segment import InliningCodec
from searchsvc.engine.codec.terms import PICKLE_PROTOCOL
from searchsvc.engine.schema import PackedPositions, WeightOnly
from searchsvc.engine.tokenizers import (
    CharTokenizer,
    JiebaTokenizer,
    SubstringTokenizer,
)
from searchsvc.engine.write.pool import Chunk, TextPool

_INFO = W3TermInfo._struct
_LENGTH_TABLE = np.asarray(_length_byte_cache, dtype=np.int64)
_HEAD = np.dtype([("inlined", "u1"), ("weight", ">f4"), ("df", ">u4"), ("minlength", "u1"), ("maxlength", "u1"),
                  ("maxweight", ">f4"), ("minid", ">u4"), ("maxid", ">u4")])  # W3TermInfo._struct, "!BfIBBfII"


def write_text_field(fieldwriter: Any, fieldname: str, fieldobj: Any, chunks: Iterable[Chunk],
                     lengths: np.ndarray, inlinelimit: int, compression: int) -> None:
    """The field's terms, postings and term-table records, as _FieldWriter would write them."""
    fieldwriter.start_field(fieldname, fieldobj)
    prefix = pack_ushort(fieldwriter._fieldid)
    postfile = fieldwriter._postfile
    with_values = fieldobj.format.fixed_value_size() != 0
    length_bytes = np.minimum(np.searchsorted(_LENGTH_TABLE, lengths), 255)
    for chunk in chunks:
        heads = _term_heads(chunk, length_bytes, inlinelimit)
        starts = chunk.starts
        inlined = np.diff(starts) < inlinelimit
        rare = _RareLists(chunk, inlined, with_values)
        gaps = np.diff(chunk.docs.astype(np.int64), prepend=0)
        gaps[starts[:-1]] = chunk.docs[starts[:-1]]  # each list's first gap is its first document
        sizes = np.diff(chunk.voffsets) if with_values else None
        weights, voffsets, values = chunk.weights, chunk.voffsets.tolist(), chunk.values
        widths = _list_widths(chunk, gaps, sizes)
        keys, infos = [], []
        for i, (term, a, b, inline) in enumerate(zip(chunk.terms, starts.tolist(), starts[1:].tolist(),
                                                    inlined.tolist())):
            keys.append(prefix + term.encode("utf-8"))
            head = heads[i * _INFO.size:(i + 1) * _INFO.size]
            if inline:
                infos.append(head + pickle.dumps(rare.postings(i), PICKLE_PROTOCOL))
            else:
                data = encode_list(gaps[a:b], weights[a:b], sizes[a:b] if sizes is not None else None,
                                   values[voffsets[a]:voffsets[b]].tobytes() if with_values else b"", compression,
                                   widths[i])
                infos.append(head + pack_long(postfile.tell()) + pack_int(len(data)))
                postfile.write(data)
        fieldwriter._tindex.add_many(keys, infos)
    fieldwriter.finish_field()


def _list_widths(chunk: Chunk, gaps: np.ndarray, sizes: np.ndarray | None) -> list[tuple[int, int, int]]:
    """codec.list_widths for every term of the chunk, from extremes reduced over all terms at once
    (per term, numpy's reductions cost more than the encoding)."""
    firsts = chunk.starts[:-1]
    if not len(firsts):
        return []
    weights = chunk.weights
    extremes = zip(np.maximum.reduceat(gaps, firsts).tolist(), np.minimum.reduceat(weights, firsts).tolist(),
                   np.maximum.reduceat(weights, firsts).tolist(),
                   np.logical_and.reduceat(weights % 1 == 0, firsts).tolist(),
                   np.maximum.reduceat(sizes, firsts).tolist() if sizes is not None else [None] * len(firsts))
    return [list_widths(*e) for e in extremes]


class _RareLists:
    """The inlined terms' postings of a chunk as the Python tuples the term table pickles."""

    def __init__(self, chunk: Chunk, inlined: np.ndarray, with_values: bool) -> None:
        counts = np.diff(chunk.starts)
        pick = np.flatnonzero(np.repeat(inlined, counts))
        self.bounds = np.concatenate([[0], np.cumsum(np.where(inlined, counts, 0))]).tolist()
        self.docs = chunk.docs[pick].tolist()
        self.weights = chunk.weights[pick].astype(np.float64).tolist()
        if with_values:
            blob, offsets = chunk.values.tobytes(), chunk.voffsets
            self.values = [blob[a:b] for a, b in zip(offsets[pick].tolist(), offsets[pick + 1].tolist())]
        else:
            self.values = [b""] * len(pick)

    def postings(self, i: int) -> tuple[tuple[int, ...], tuple[float, ...], tuple[bytes, ...]]:
        """Term i's postings (ids, weights, values)."""
        a, b = self.bounds[i], self.bounds[i + 1]
        return tuple(self.docs[a:b]), tuple(self.weights[a:b]), tuple(self.values[a:b])


def _term_heads(chunk: Chunk, length_bytes: np.ndarray, inlinelimit: int) -> bytes:
    """W3TermInfo's fixed part (flags, weight, df, min and max length, max weight, first and last
    document) for every term of the chunk, packed together."""
    firsts, ends = chunk.starts[:-1], chunk.starts[1:]
    lengths = length_bytes[chunk.docs]
    heads = np.zeros(len(firsts), dtype=_HEAD)
    heads["inlined"] = ends - firsts < inlinelimit
    heads["weight"] = np.add.reduceat(chunk.weights.astype(np.float64), firsts) if len(firsts) else 0
    heads["df"] = ends - firsts
    if len(firsts):
        heads["minlength"] = np.minimum.reduceat(lengths, firsts)
        heads["maxlength"] = np.maximum.reduceat(lengths, firsts)
        heads["maxweight"] = np.maximum.reduceat(chunk.weights, firsts)
        heads["minid"] = chunk.docs[firsts]
        heads["maxid"] = chunk.docs[ends - 1]
    return heads.tobytes()


RunRecord = tuple[str, bytes, bytes, bytes, "list[bytes] | None"]  # docnums and weights as array bytes


class PostingPool:
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
    """A SegmentWriter whose text fields (analyzed by our tokenizers) go to a TextPool as arrays;
    other fields, and postings of segments being merged, go to its pool, a PostingPool."""

    text_pool: TextPool
    text_fields: dict[str, tuple[str, bool]]  # field -> (TextColumns attribute, keeps positions)

    def add_document(self, **fields: Any) -> None:
        self._check_state()
        fieldnames = sorted(fields)
        if any(name.startswith("_") for name in fieldnames):  # boosts and stored overrides
            return super().add_document(**fields)  # type: ignore[no-any-return]
        self._check_fields(self.schema, fieldnames)
        perdocwriter, docnum = self.perdocwriter, self.docnum
        analyzed: dict[int, TextColumns] = {}
        perdocwriter.start_doc(docnum)
        try:
            for fieldname in fieldnames:
                value = fields[fieldname]
                if value is None:
                    continue
                field = self.schema[fieldname]
                length = 0
                kind = self.text_fields.get(fieldname) if isinstance(value, str) else None
                if kind is not None:
                    if id(value) not in analyzed:  # title and body each feed three fields
                        analyzed[id(value)] = text_columns(value, field.analyzer.engine, field.analyzer.userdict)
                    columns = getattr(analyzed[id(value)], kind[0])
                    self.text_pool.add(fieldname, docnum, columns, field.format.field_boost, kind[1])
                    length = columns.length
                elif field.indexed:
                    for tbytes, freq, weight, vbytes in field.index(value):
                        length += freq if field.scorable else 0
                        self.pool.add((fieldname, tbytes, docnum, weight, vbytes))
                perdocwriter.add_field(fieldname, field, value if field.stored else None, length)
                if field.column_type:
                    perdocwriter.add_column_value(fieldname, field.column_type, field.to_column_value(value))
        except Exception:
            perdocwriter.cancel_doc()
            raise
        perdocwriter.finish_doc()
        self._added = True
        self.docnum += 1

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        lengths = _LengthCache(self.per_document_reader())
        self.text_pool.spill()
        others = {name: list(terms) for name, terms in groupby(self.pool.iter_terms(), key=lambda t: t[0])}
        codec = self.codec
        for fieldname in sorted(self.text_pool.fieldnames | set(others)):
            if fieldname not in self.text_pool.fieldnames:
                self.fieldwriter.add_terms(self.schema, lengths, iter(others[fieldname]))
                continue
            if fieldname in others:  # postings of merged segments join the run order
                self.text_pool.add_terms(fieldname, others[fieldname])
            table = np.array([n or 0 for n in lengths.field_table(fieldname)], dtype=np.int64)
            write_text_field(self.fieldwriter, fieldname, self.schema[fieldname], self.text_pool.chunks(fieldname),
                             table, codec._inlinelimit, codec._compression)
        self.fieldwriter.close()
        lengths.close()
        self.text_pool.cleanup()

    def _finish(self) -> None:
        self.text_pool.cleanup()
        super()._finish()


def _text_kind(field: Any) -> tuple[str, bool] | None:
    """Which TextColumns a field indexes, if textarrays computes its terms exactly."""
    analyzer, fmt = getattr(field, "analyzer", None), getattr(field, "format", None)
    if type(fmt) not in (PackedPositions, WeightOnly) or field.vector or field.separate_spelling():
        return None
    if type(analyzer) is JiebaTokenizer and analyzer.cjk_only:
        kind = "words"
    elif type(analyzer) is SubstringTokenizer:
        kind = "substrings"
    elif type(analyzer) is CharTokenizer:
        kind = "chars"
    else:
        return None
    return kind, type(fmt) is PackedPositions


def memory_writer(ix: Index, limitmb: int = 128) -> SegmentWriter:
    """A SegmentWriter with a TextPool and a PostingPool for its pools (see there). Not compound:
    Whoosh reads a compound segment by copying each part into a BytesIO, so every open reader
    would hold the whole index in memory (470 MB at 10k posts, per thread)."""
    writer = _TableWriter(ix, limitmb=limitmb, codec=InliningCodec(), compound=False)
    writer.pool.cleanup()
    writer.pool = PostingPool(Path(ix.storage.folder), limitmb)
    writer.text_pool = TextPool(Path(ix.storage.folder), limitmb)
    writer.text_fields = {name: kind for name, field in ix.schema.items() if (kind := _text_kind(field)) is not None}
    return writer
