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
from searchsvc.engine.evaluate.matcher import Substring
from searchsvc.engine.evaluate.substring import sample, substring_holds, substring_matches
from searchsvc.engine.read.tables import IndexArrays, leaf_readers


class Matches:
    """Every document of the index: whether it matches and its score (0 where it does not)."""

    __slots__ = ("mask", "score")

    def __init__(self, mask: np.ndarray, score: np.ndarray) -> None:
        self.mask = mask
        self.score = score


Arrays = tuple[np.ndarray, np.ndarray]  # (mask, score) over a domain: every document, or a sorted few


class BulkEvaluator:
    """Evaluates Whoosh query trees for one searcher, over every document of the index or over a
    sorted array of documents (a domain): the parts of an And are evaluated rarest first, and once
    few documents are left, the later parts only over those (a term's postings are looked up for
    them by binary search, a substring phrase decodes only their positions)."""

    def __init__(self, searcher: Searcher, arrays: IndexArrays) -> None:
        self.searcher = searcher
        self.arrays = arrays
        self.weighting = searcher.weighting
        self.schema = searcher.schema
        self.leaves = leaf_readers(searcher)

    def empty(self) -> Matches:
        return Matches(*self._zeros(None))

    def evaluate(self, q: Any, within: np.ndarray | None = None) -> Matches:
        """The query's matches and scores. With `within` (a mask), only documents inside it are
        exact, and only those are evaluated."""
        if within is None:
            return Matches(*self.evaluate_in(q, None))
        docs = np.flatnonzero(within)
        return Matches(*self._expand(self.evaluate_in(q, docs), docs, None))

    def evaluate_in(self, q: Any, domain: np.ndarray | None) -> Arrays:
        """(mask, score) over `domain`: every document when None, else those sorted documents."""
        kind = type(q)
        if q is wq.NullQuery or isinstance(q, type(wq.NullQuery)):
            return self._zeros(domain)
        if kind is wq.Term:
            return self._term(q, domain)
        if kind in (wq.And, wq.Or, PreloadedOr):
            subs = q.subqueries
            if not subs:
                return self._zeros(domain)
            if len(subs) == 1:  # Whoosh ignores the boost of a compound with one part
                return self.evaluate_in(subs[0], domain)
            mask, score = self._and(subs, domain) if kind is wq.And else self._or(subs, domain)
            if q.boost != 1.0:
                score *= q.boost
            return mask, score
        if kind is wq.AndMaybe:
            mask, score = self.evaluate_in(q.a, domain)
            keep = np.flatnonzero(mask)
            if len(keep):
                score[keep] += self.evaluate_in(q.b, _docs(domain, keep))[1]
            return mask, score
        if kind is wq.AndNot:
            mask, score = self.evaluate_in(q.a, domain)
            keep = np.flatnonzero(mask)
            if len(keep):
                gone = keep[self.evaluate_in(q.b, _docs(domain, keep))[0]]
                mask[gone] = False
                score[gone] = 0.0
            return mask, score
        if kind is wq.Every:
            live = self.arrays.live.copy() if domain is None else self.arrays.live[domain]
            return live, np.where(live, 1.0, 0.0)
        return self._leaf(q, domain)

    def holds(self, q: Any, domain: np.ndarray, defer: bool = False) -> Arrays:
        """Which documents of `domain` (sorted, live) the query matches, without scores, as
        (held, unsure) masks: an Or's later parts only over what its earlier ones have not
        found, an And's over what they kept, and a substring phrase narrowed by its rarest units
        and confirmed on stored text (substring.substring_holds). Nothing is unsure unless
        `defer`, which leaves a phrase's many candidates unconfirmed. What ranking's tiers ask."""
        kind = type(q)
        if kind in (wq.Or, PreloadedOr, wq.And) and q.subqueries:
            every = kind is wq.And
            held = np.full(len(domain), every)
            maybe = np.full(len(domain), every)  # held or unsure
            for sub in q.subqueries:
                open_ = np.flatnonzero(maybe if every else ~held)  # an And's still possible, an Or's not yet held
                if not len(open_):
                    break
                sure, unsure = self.holds(sub, domain[open_], defer)
                if every:
                    held[open_] &= sure
                    maybe[open_] = sure | unsure
                else:
                    held[open_] = sure
                    maybe[open_] |= sure | unsure
            held &= maybe
            return held, maybe & ~held
        if kind is Substring and q.fieldname in self.arrays.scored_fields:
            sure, unsure = substring_holds(q, self.searcher, domain, defer)
            return np.isin(domain, sure, assume_unique=True), np.isin(domain, unsure, assume_unique=True)
        return self.evaluate_in(q, domain)[0], np.zeros(len(domain), dtype=bool)

    def estimate(self, q: Any) -> int:
        """How many documents the query may match, from the term table's document frequencies
        (cached): the order in which an And evaluates its parts."""
        kind = type(q)
        if kind is wq.Term:
            field = self.schema[q.fieldname] if q.fieldname in self.schema else None
            return self.arrays.doc_frequency(self.leaves, q.fieldname, field.to_bytes(q.text)) if field else 0
        if kind in (wq.Or, PreloadedOr):
            return sum(self.estimate(s) for s in q.subqueries)
        if kind is wq.And:
            return min((self.estimate(s) for s in q.subqueries), default=0)
        if kind in (wq.AndMaybe, wq.AndNot):
            return self.estimate(q.a)
        if kind is Substring and q.fieldname in self.schema:
            field = self.schema[q.fieldname]
            return min((self.arrays.doc_frequency(self.leaves, q.fieldname, field.to_bytes(w)) for w in sample(q.words)),
                       default=0)
        if q is wq.NullQuery or isinstance(q, type(wq.NullQuery)):
            return 0
        return self.arrays.size

    def _zeros(self, domain: np.ndarray | None) -> Arrays:
        size = self.arrays.size if domain is None else len(domain)
        return np.zeros(size, dtype=bool), np.zeros(size)

    def _or(self, subs: list[Any], domain: np.ndarray | None) -> Arrays:
        # Every part's arrays are its own (evaluate_in never returns arrays it keeps), so the
        # first part's are combined into in place, in Whoosh's order of the parts.
        parts = [self.evaluate_in(s, domain) for s in subs]
        mask, score = parts[0]
        for m, sc in parts[1:]:
            mask |= m
            score += sc
        return mask, score

    def _and(self, subs: list[Any], domain: np.ndarray | None) -> Arrays:
        order = sorted(range(len(subs)), key=lambda i: (_costly(subs[i]), self.estimate(subs[i])))
        current = domain
        mask: np.ndarray | None = None
        scores: dict[int, np.ndarray] = {}
        for n, i in enumerate(order):
            part_mask, scores[i] = self.evaluate_in(subs[i], current)
            mask = part_mask if mask is None else mask & part_mask
            left = int(np.count_nonzero(mask))
            if not left:
                return self._zeros(domain)
            if n + 1 < len(order) and left * NARROW < len(mask):  # few left: the rest only over them
                keep = np.flatnonzero(mask)
                current = _docs(current, keep)
                scores = {j: sc[keep] for j, sc in scores.items()}
                mask = np.ones(len(keep), dtype=bool)
        assert mask is not None
        score = scores[0]
        for i in range(1, len(subs)):  # summed in Whoosh's order of the parts
            score += scores[i]
        score[~mask] = 0.0
        return self._expand((mask, score), current, domain)

    def _expand(self, found: Arrays, docs: np.ndarray | None, domain: np.ndarray | None) -> Arrays:
        """Arrays over `docs` (a subset of `domain`) as arrays over `domain`."""
        if docs is domain:
            return found
        assert docs is not None
        mask, score = self._zeros(domain)
        at = docs if domain is None else np.searchsorted(domain, docs)
        mask[at] = found[0]
        score[at] = found[1]
        return mask, score

    def _term(self, q: wq.Term, domain: np.ndarray | None) -> Arrays:
        mask, score = self._zeros(domain)
        fieldname = q.fieldname
        if fieldname not in self.schema:
            return mask, score
        field = self.schema[fieldname]
        try:
            btext = field.to_bytes(q.text)
        except ValueError:
            return mask, score
        post = self.arrays.postings(self.leaves, fieldname, btext)
        if not len(post.ids):
            return mask, score
        picked: Any
        if domain is None:
            where, picked = post.ids, slice(None)
        elif len(domain) < len(post.ids):  # look the domain's documents up in the postings
            at = np.minimum(np.searchsorted(post.ids, domain), len(post.ids) - 1)
            hit = post.ids[at] == domain
            where, picked = np.flatnonzero(hit), at[hit]
        else:  # look the postings up in the domain
            at = np.minimum(np.searchsorted(domain, post.ids), len(domain) - 1)
            hit = domain[at] == post.ids
            where, picked = at[hit], np.flatnonzero(hit)
        ids = post.ids[picked]
        if not len(ids):
            return mask, score
        if field.scorable:
            avgfl = self.searcher.avg_field_length(fieldname) or 1
            B, K1 = self.weighting.B, self.weighting.K1
            norms = self.arrays.lengths(fieldname).bm25_norms(ids, avgfl, B, K1)
            scores = bm25(idf(self.arrays.size, post.df), post.weights[picked].astype(np.float64), norms, K1)
        else:
            scores = post.weights[picked].astype(np.float64)
        if q.boost != 1.0:
            scores = scores * q.boost
        mask[where] = True
        score[where] = scores
        return mask, score

    def _leaf(self, q: Any, domain: np.ndarray | None) -> Arrays:
        """A node that is not a term or a compound: over every document once (then kept), or only
        over the domain's documents when they are few against the node's own estimate. A substring
        phrase with arrays (only the candidates' positions decoded); other nodes (date ranges)
        through Whoosh's matcher, a document at a time."""
        key = ("q", repr(q))
        found = self.arrays.cache.get(key)
        arrays = type(q) is Substring and q.fieldname in self.arrays.scored_fields
        if found is None and domain is not None:
            # One in 4 with arrays; one in 16 a document at a time (at 100k, a phrase within a
            # category's 8,000 posts took 69 ms that way and takes 23 ms with arrays).
            if len(domain) * (4 if arrays else 16) < self.estimate(q):
                if arrays:
                    return self._spread(substring_matches(q, self.searcher, self.arrays.lengths(q.fieldname), domain),
                                        domain)
                return self._spread(self._run(q, domain), domain)
        if found is None:
            if arrays:
                found = substring_matches(q, self.searcher, self.arrays.lengths(q.fieldname))
            else:
                found = self._run(q, None)
            self.arrays.cache.put(key, found, found[0].nbytes + found[1].nbytes + 64)
        return self._spread(found, domain)

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

    def _spread(self, found: tuple[np.ndarray, np.ndarray], domain: np.ndarray | None) -> Arrays:
        """Matches found as (sorted documents, scores), live ones only, as arrays over the domain."""
        mask, score = self._zeros(domain)
        ids, scores = found
        keep = self.arrays.live[ids]
        ids, scores = ids[keep], scores[keep]
        if domain is None:
            mask[ids] = True
            score[ids] = scores
        elif len(ids):
            at = np.minimum(np.searchsorted(ids, domain), len(ids) - 1)
            hit = ids[at] == domain
            mask[hit] = True
            score[hit] = scores[at[hit]]
        return mask, score


# An And's later parts run over the documents its earlier parts left once they are under one in
# NARROW of those it ran over.
NARROW = 8


def _docs(domain: np.ndarray | None, keep: np.ndarray) -> np.ndarray:
    """The documents at positions `keep` of a domain."""
    return keep if domain is None else domain[keep]


def _costly(q: Any) -> bool:
    """Whether a query holds a node evaluated a document at a time (evaluate those last)."""
    if type(q) in (wq.Term, wq.Every, Substring) or q is wq.NullQuery:
        return False
    if type(q) in (wq.And, wq.Or, PreloadedOr):
        return any(_costly(s) for s in q.subqueries)
    if type(q) in (wq.AndMaybe, wq.AndNot):
        return _costly(q.a) or _costly(q.b)
    return True
