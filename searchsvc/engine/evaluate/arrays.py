"""Engine, evaluating: Whoosh queries evaluated over whole posting lists at once, with numpy.

Whoosh matches one document at a time through a tree of Python matchers: ~2-4 us per document
and query node, so a common word at 100,000 posts (60,000 matches, every one scored for the
exact total and facets) takes 0.2-0.5 s. Here every term's postings are decoded whole into
arrays (codec.lists.decode_list: zlib and numpy), scored with the same BM25F formula (bm25.py) and
statistics as Whoosh's scorer, and combined with array operations: Or and And add scores as
Whoosh's union and intersection matchers do, AndMaybe adds the optional part where it matches,
AndNot removes. Substring phrases are matched with arrays too (substring.substring_matches);
date ranges, and substring phrases over the few documents earlier parts of an And left, run
through Whoosh's own matcher. Every answer is the one Whoosh would give (tests/test_bulk.py
compares them on the query table).

Decoded postings are kept in a small cache per index commit (a byte budget), so a frequent
term costs its decoding once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np
from whoosh import query as wq
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield
from whoosh.columns import NumericColumn
from whoosh.query.compound import PreloadedOr
from whoosh.searching import Searcher
from whoosh.util.numeric import byte_to_length

from searchsvc.engine.codec.lists import read_postings
from searchsvc.engine.codec.terms import term_info
from searchsvc.engine.evaluate.bm25 import bm25, idf, length_norms
from searchsvc.engine.evaluate.substring import Substring, substring_matches

CACHE_BYTES = 8 * 1024 * 1024
_LENGTH_TABLE = np.array([byte_to_length(i) for i in range(256)], dtype=np.float64)


class Matches:
    """Every document of the index: whether it matches and its score (0 where it does not)."""

    __slots__ = ("mask", "score")

    def __init__(self, mask: np.ndarray, score: np.ndarray) -> None:
        self.mask = mask
        self.score = score


class Postings:
    """One term's postings over the whole index: global document numbers (int32) and weights
    (float32, as stored): 8 bytes a posting in the cache. `df` is the term's document frequency
    as the term table states it (deleted documents included), which Whoosh's idf reads."""

    __slots__ = ("ids", "weights", "df")

    def __init__(self, ids: np.ndarray, weights: np.ndarray, df: int) -> None:
        self.ids = ids
        self.weights = weights
        self.df = df

    @property
    def nbytes(self) -> int:
        return int(self.ids.nbytes + self.weights.nbytes) + 64


class LruCache:
    """Least recently used out first, within a budget of `size` units (items, bytes); an item
    larger than `largest` units is not kept. Shared by threads."""

    def __init__(self, budget: int, largest: int | None = None) -> None:
        self.budget = budget
        self.largest = budget if largest is None else largest
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._sizes: dict[Any, int] = {}
        self._used = 0
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: Any, value: Any, size: int = 1) -> None:
        if size > self.largest:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self._sizes[key] = size
            self._used += size
            while self._used > self.budget:
                old, _ = self._items.popitem(last=False)
                self._used -= self._sizes.pop(old)


class IndexArrays:
    """Per-commit arrays: which documents are live, field lengths and dates (read when built),
    facet tables (on first use), and decoded postings and leaf matches (kept within CACHE_BYTES)."""

    def __init__(self, searcher: Searcher) -> None:
        self.size = searcher.reader().doc_count_all()
        leaves = leaf_readers(searcher)
        live = np.ones(self.size, dtype=bool)
        for sub, offset in leaves:
            if sub.has_deletions():
                dead = np.fromiter(sub.deleted_docs_set, dtype=np.int64)
                live[dead + offset] = False
        self.live = live
        self.deletions = not live.all()
        self.cache = LruCache(CACHE_BYTES, largest=CACHE_BYTES // 4)
        self._lengths: dict[str, FieldLengths] = {}
        self._keys: dict[str, np.ndarray] = {}
        self._facets: dict[str, FacetTable] = {}
        self._lock = threading.Lock()
        for name, field in searcher.schema.items():  # columns: Whoosh opens their files lazily
            if field.scorable:
                self._lengths[name] = FieldLengths(_concat([
                    _numeric_column(sub._perdoc._cached_reader(_lenfield(name), LENGTHS_COLUMN),
                                    sub.doc_count_all(), np.uint8) for sub, _ in leaves], np.uint8))
            if name == "date":
                self._keys[name] = _concat([
                    _numeric_column(sub.column_reader(name, translate=False), sub.doc_count_all(), np.uint64)
                    for sub, _ in leaves], np.uint64)

    @property
    def scored_fields(self) -> set[str]:
        return set(self._lengths)

    def lengths(self, fieldname: str) -> FieldLengths:
        """Each document's length of a scored field as BM25 reads it (Whoosh's one-byte encoding)."""
        return self._lengths[fieldname]

    def keys(self, fieldname: str) -> np.ndarray:
        """A sortable numeric column (the date) for every document, as stored."""
        return self._keys[fieldname]

    def facet_table(self, leaves: list[tuple[Any, int]], fieldname: str) -> FacetTable:
        found = self._facets.get(fieldname)
        if found is None:
            found = FacetTable(self, leaves, fieldname)
            with self._lock:
                self._facets[fieldname] = found
        return found

    def postings(self, leaves: list[tuple[Any, int]], fieldname: str, btext: bytes, cache: bool = True) -> Postings:
        """A term's postings over the live documents (kept in the cache when `cache`)."""
        key = ("p", fieldname, btext)
        found = self.cache.get(key) if cache else None
        if found is not None:
            return found  # type: ignore[no-any-return]
        parts: list[tuple[np.ndarray, np.ndarray, int]] = []
        df = 0
        for sub, offset in leaves:
            info = term_info(sub, fieldname, btext)
            if info is None:
                continue
            df += info.doc_frequency()
            ids, weights, _ = read_postings(sub, fieldname, btext, terminfo=info)
            parts.append((ids, weights, offset))
        total = sum(len(ids) for ids, _, _ in parts)
        all_ids = np.empty(total, dtype=np.int32)
        all_weights = np.empty(total, dtype=np.float32)
        at = 0
        for ids, weights, offset in parts:  # into place: no concatenation, no conversion after
            np.add(ids, offset, out=all_ids[at:at + len(ids)], casting="unsafe")
            all_weights[at:at + len(ids)] = weights
            at += len(ids)
        post = Postings(all_ids, all_weights, df)
        if self.deletions:
            keep = self.live[all_ids]
            if not keep.all():
                post = Postings(all_ids[keep], all_weights[keep], df)
        if cache:
            self.cache.put(key, post, post.nbytes)
        return post


class FieldLengths:
    """A scored field's length per document, kept as Whoosh's one-byte codes (a float64 each
    would be 4.8 MB for six fields at 100k posts); indexing gives the lengths BM25 reads."""

    def __init__(self, codes: np.ndarray) -> None:
        self.codes = codes
        self._norms: tuple[tuple[float, float, float], np.ndarray] | None = None

    def __getitem__(self, docs: np.ndarray) -> np.ndarray:
        return _LENGTH_TABLE[self.codes[docs]]  # type: ignore[no-any-return]

    def bm25_norms(self, docs: np.ndarray, avgfl: float, B: float, K1: float) -> np.ndarray:
        """K1 * ((1 - B) + B * length / avgfl) for each of `docs`, the part of BM25's denominator
        a document's length gives: from a table of the 256 length codes, computed as Whoosh's
        scorer computes it for each document, so the scores are the same to the last bit."""
        params = (avgfl, B, K1)
        if self._norms is None or self._norms[0] != params:
            self._norms = params, length_norms(_LENGTH_TABLE, avgfl, B, K1)
        return self._norms[1][self.codes[docs]]  # type: ignore[no-any-return]


class FacetTable:
    """One facet field's (document, value) pairs, grouped twice: by value, so counting a large
    result set is one gather and one sum per value; and by document, so counting a small one
    touches only its own documents' pairs. Measured at 100k posts, three facets of 100,000 to
    150,000 pairs: by value 0.9-1.2 ms whatever the result's size; by document 0.06-0.11 ms for
    100 matches, 0.24 ms for 4,000, 0.95 ms for 25,000, 8.3 ms for 90,000. So by document for
    results under a fifth of the documents, and for results over four fifths as the totals less
    the documents that do not match (a one-character query matches 93% of the benchmark's)."""

    def __init__(self, arrays: IndexArrays, leaves: list[tuple[Any, int]], fieldname: str) -> None:
        found: dict[str, None] = {}
        for sub, _ in leaves:
            found.update(dict.fromkeys(t.decode("utf-8") for t in sub.lexicon(fieldname)))
        self.values = list(found)
        docs = [arrays.postings(leaves, fieldname, v.encode("utf-8"), cache=False).ids for v in self.values]
        sizes = np.array([len(d) for d in docs], dtype=np.int64)
        self.docs = _concat(docs, np.int32)  # Postings' documents are int32
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.empty = sizes == 0  # values whose every post was deleted
        self.totals = sizes  # each value's live documents
        order = np.argsort(self.docs, kind="stable")
        self.doc_values = np.repeat(np.arange(len(self.values), dtype=np.int32), sizes)[order]
        self.doc_starts = np.searchsorted(self.docs[order], np.arange(arrays.size + 1)).astype(np.int32)

    def count(self, mask: np.ndarray, matched: np.ndarray, unmatched: np.ndarray | None = None) -> np.ndarray:
        """How many documents of `mask` (whose positions are `matched`) hold each value; from the
        live ones that do not match (`unmatched`) when the caller gives them (most documents
        match: see read.searcher.facet_counts)."""
        if len(matched) * 5 < len(self.doc_starts):
            return self.count_by_document(matched)
        if unmatched is not None:
            return self.totals - self.count_by_document(unmatched)  # type: ignore[no-any-return]
        return self.count_by_value(mask)

    def count_by_document(self, matched: np.ndarray) -> np.ndarray:
        firsts = self.doc_starts[matched]
        held = self.doc_starts[matched + 1] - firsts
        total = int(held.sum())
        at = np.repeat(firsts - (np.cumsum(held) - held), held) + np.arange(total, dtype=np.int32)
        return np.bincount(self.doc_values[at], minlength=len(self.values))

    def count_by_value(self, mask: np.ndarray) -> np.ndarray:
        if not len(self.docs):
            return np.zeros(len(self.values), dtype=np.int64)
        hits = mask.view(np.uint8)[self.docs]
        counts = np.add.reduceat(hits, np.minimum(self.starts, len(hits) - 1), dtype=np.int64)
        counts[self.empty] = 0
        return counts  # type: ignore[no-any-return]


def leaf_readers(searcher: Searcher) -> list[tuple[Any, int]]:
    """The searcher's segment readers with their first global document numbers."""
    reader = searcher.reader()
    if hasattr(reader, "readers"):
        return list(zip(reader.readers, reader.doc_offsets))
    return [(reader, 0)] if hasattr(reader, "_perdoc") else []  # an index of no posts: EmptyReader


def _concat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def _numeric_column(column: Any, count: int, dtype: Any) -> np.ndarray:
    """A fixed-width numeric column read in one piece (Whoosh reads one value per call)."""
    out = np.zeros(count, dtype=dtype)
    if column is None or not count:
        return out
    if isinstance(column, NumericColumn.Reader):
        size = min(column._count, count)
        raw = column._dbfile.get(column._basepos, size * column._fixedlen)
        out[:size] = np.frombuffer(raw, dtype=np.dtype(">" + column._typecode))
        if size < count:
            out[size:] = column._default
        return out
    out[:] = [column[i] for i in range(count)]
    return out


class BulkEvaluator:
    """Evaluates Whoosh query trees to Matches for one searcher."""

    def __init__(self, searcher: Searcher, arrays: IndexArrays) -> None:
        self.searcher = searcher
        self.arrays = arrays
        self.weighting = searcher.weighting
        self.schema = searcher.schema
        self.leaves = leaf_readers(searcher)

    def empty(self) -> Matches:
        size = self.arrays.size
        return Matches(np.zeros(size, dtype=bool), np.zeros(size))

    def evaluate(self, q: Any, within: np.ndarray | None = None) -> Matches:
        """The query's matches and scores. With `within`, only documents inside it are exact (the
        caller intersects with it): the parts of an And are evaluated cheapest first, and each later
        part only over the documents the earlier ones left."""
        if q is wq.NullQuery or isinstance(q, type(wq.NullQuery)):
            return self.empty()
        if type(q) is wq.Term:
            return self._term(q)
        if type(q) in (wq.And, wq.Or, PreloadedOr):
            subs = q.subqueries
            if not subs:
                return self.empty()
            if len(subs) == 1:  # Whoosh ignores the boost of a compound with one part
                return self.evaluate(subs[0], within)
            conjunction = isinstance(q, wq.And)
            parts: list[Matches | None] = [None] * len(subs)
            mask = within
            for i in sorted(range(len(subs)), key=lambda i: _costly(subs[i])):
                part = parts[i] = self.evaluate(subs[i], mask if conjunction else within)
                if conjunction:
                    mask = part.mask if mask is None else mask & part.mask
            # Every part's arrays are its own (evaluate never returns arrays it keeps), so the
            # first part's are combined into in place.
            done = [p for p in parts if p is not None]
            if not conjunction:
                mask = done[0].mask
                for p in done[1:]:
                    mask |= p.mask
            assert mask is not None
            score = done[0].score
            for p in done[1:]:  # in Whoosh's order of the parts
                score += p.score
            if q.boost != 1.0:
                score *= q.boost
            if conjunction:
                score[~mask] = 0.0
            return Matches(mask, score)
        if type(q) is wq.AndMaybe:
            a = self.evaluate(q.a, within)
            b = self.evaluate(q.b, a.mask)
            return Matches(a.mask, np.where(a.mask, a.score + b.score, 0.0))
        if type(q) is wq.AndNot:
            a = self.evaluate(q.a, within)
            b = self.evaluate(q.b, a.mask)
            mask = a.mask & ~b.mask
            return Matches(mask, np.where(mask, a.score, 0.0))
        if type(q) is wq.Every:
            return Matches(self.arrays.live.copy(), np.where(self.arrays.live, 1.0, 0.0))
        return self._whoosh_leaf(q, within)

    def _term(self, q: wq.Term) -> Matches:
        out = self.empty()
        fieldname = q.fieldname
        if fieldname not in self.schema:
            return out
        field = self.schema[fieldname]
        try:
            btext = field.to_bytes(q.text)
        except ValueError:
            return out
        post = self.arrays.postings(self.leaves, fieldname, btext)
        if not len(post.ids):
            return out
        if field.scorable:
            avgfl = self.searcher.avg_field_length(fieldname) or 1
            B, K1 = self.weighting.B, self.weighting.K1
            norms = self.arrays.lengths(fieldname).bm25_norms(post.ids, avgfl, B, K1)
            scores = bm25(idf(self.arrays.size, post.df), post.weights.astype(np.float64), norms, K1)
        else:
            scores = post.weights.astype(np.float64)
        if q.boost != 1.0:
            scores = scores * q.boost
        out.mask[post.ids] = True
        out.score[post.ids] = scores
        return out

    def _whoosh_leaf(self, q: Any, within: np.ndarray | None) -> Matches:
        """A node that is not a term or a compound: over every document once (then kept), or only
        over the documents in `within` when they are few against the node's own estimate (its
        rarest term's documents). A substring phrase with arrays (only the candidates' positions
        decoded); other nodes (date ranges) through Whoosh's matcher, a document at a time."""
        key = ("q", repr(q))
        found = self.arrays.cache.get(key)
        arrays = type(q) is Substring and q.fieldname in self.arrays.scored_fields
        if found is None and within is not None:
            candidates = np.flatnonzero(within)
            # One in 4 with arrays; one in 16 a document at a time (at 100k, a phrase within a
            # category's 8,000 posts took 69 ms that way and takes 23 ms with arrays).
            if len(candidates) * (4 if arrays else 16) < q.estimate_size(self.searcher.reader()):
                if arrays:
                    return self._spread(substring_matches(q, self.searcher, self.arrays.lengths(q.fieldname),
                                                          candidates))
                return self._spread(self._run(q, candidates))
        if found is None:
            if arrays:
                found = substring_matches(q, self.searcher, self.arrays.lengths(q.fieldname))
            else:
                found = self._run(q, None)
            self.arrays.cache.put(key, found, found[0].nbytes + found[1].nbytes + 64)
        return self._spread(found)

    def _run(self, q: Any, candidates: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        ids: list[int] = []
        scores: list[float] = []
        context = self.searcher.context()
        for sub, offset in self.searcher.leaf_searchers():
            m = q.matcher(sub, context)
            if candidates is None:
                while m.is_active():
                    ids.append(m.id() + offset)
                    scores.append(m.score())
                    m.next()
                continue
            local = candidates[(candidates >= offset) & (candidates < offset + sub.doc_count_all())] - offset
            for d in local.tolist():
                if not m.is_active():
                    break
                if m.id() < d:
                    m.skip_to(d)
                    if not m.is_active():
                        break
                if m.id() == d:
                    ids.append(d + offset)
                    scores.append(m.score())
        return np.array(ids, dtype=np.int64), np.array(scores, dtype=np.float64)

    def _spread(self, found: tuple[np.ndarray, np.ndarray]) -> Matches:
        out = self.empty()
        ids, scores = found
        keep = self.arrays.live[ids]
        out.mask[ids[keep]] = True
        out.score[ids[keep]] = scores[keep]
        return out


def _costly(q: Any) -> bool:
    """Whether a query holds a node evaluated a document at a time (evaluate those last)."""
    if type(q) in (wq.Term, wq.Every) or q is wq.NullQuery:
        return False
    if type(q) in (wq.And, wq.Or, PreloadedOr):
        return any(_costly(s) for s in q.subqueries)
    if type(q) in (wq.AndMaybe, wq.AndNot):
        return _costly(q.a) or _costly(q.b)
    return True


def top(matches: Matches, limit: int) -> np.ndarray:
    """The `limit` best documents, by score then document number (as Whoosh's top collector)."""
    docs = np.flatnonzero(matches.mask)
    if len(docs) > limit:
        scores = matches.score[docs]
        kth = np.partition(scores, len(docs) - limit)[len(docs) - limit]
        docs = docs[scores >= kth]
    order = np.lexsort((docs, -matches.score[docs]))
    return docs[order[:limit]]  # type: ignore[no-any-return]


def by_key(matches: Matches, keys: np.ndarray, limit: int, reverse: bool) -> np.ndarray:
    """The first `limit` matching documents ordered by a per-document key (stable in docnum):
    only the documents whose key reaches the limit-th are sorted."""
    docs = np.flatnonzero(matches.mask)
    k = keys[docs].astype(np.uint64)
    if reverse:
        k = ~k  # reverses the order of unsigned keys
    if 0 < limit < len(docs):
        near = k <= np.partition(k, limit - 1)[limit - 1]
        docs, k = docs[near], k[near]
    order = np.lexsort((docs, k))
    return docs[order[:limit]]  # type: ignore[no-any-return]
