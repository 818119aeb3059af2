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
"""

from __future__ import annotations

from typing import Any

import numpy as np
from whoosh import query as wq
from whoosh.query.compound import PreloadedOr
from whoosh.searching import Searcher

from searchsvc.engine.evaluate.bm25 import bm25, idf
from searchsvc.engine.evaluate.substring import Substring, substring_matches
from searchsvc.engine.read.tables import IndexArrays, leaf_readers


class Matches:
    """Every document of the index: whether it matches and its score (0 where it does not)."""

    __slots__ = ("mask", "score")

    def __init__(self, mask: np.ndarray, score: np.ndarray) -> None:
        self.mask = mask
        self.score = score


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
