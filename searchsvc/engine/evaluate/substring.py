"""Engine, evaluating: exact substrings as a phrase of bigram terms, verified with position sets.

Whoosh's own Phrase runs every candidate through its span machinery (~0.1 ms a document); this
matcher intersects the terms' posting lists and checks positions with C-level set operations
(positions come packed, see engine.codec.positions). substring_matches does the same for every
document at once, with arrays.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
from whoosh import matching
from whoosh.query import Phrase

from searchsvc.analysis.normalize import normalize
from searchsvc.analysis.units import count_phrase, unit_text
from searchsvc.engine.codec.lists import read_postings, take_values
from searchsvc.engine.codec.positions import start_keys
from searchsvc.engine.codec.terms import term_info
from searchsvc.engine.evaluate.bm25 import bm25, length_norms
from searchsvc.engine.schema import STORED_TEXT


class Substring(Phrase):  # type: ignore[misc]
    """Documents whose field holds the terms at consecutive positions (slop 1 only)."""

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        fieldname = self.fieldname
        if fieldname not in searcher.schema:
            return matching.NullMatcher()
        reader = searcher.reader()
        field = searcher.schema[fieldname]
        leaves = []
        rarest = None
        for word in self.words:
            btext = field.to_bytes(word)
            if (fieldname, btext) not in reader:
                return matching.NullMatcher()
            freq = reader.doc_frequency(fieldname, btext)
            if rarest is None or freq < rarest[0]:
                rarest = (freq, btext)
            leaves.append(reader.postings(fieldname, btext))
        assert rarest is not None
        weighting = context.weighting if context is not None else searcher.weighting
        scorer = weighting.scorer(searcher, fieldname, rarest[1]) if weighting is not None else None
        return _SubstringMatcher(leaves, scorer, self.boost * field.format.field_boost, field.format.decode_positions)


class _SubstringMatcher(matching.Matcher):  # type: ignore[misc]
    def __init__(self, leaves: list[Any], scorer: Any, boost: float, decode: Any) -> None:
        self._leaves = leaves
        self._decode = decode
        self._scorer = scorer
        self._boost = boost
        self._count = 0
        self._active = True
        self._find()

    def _align(self) -> bool:
        """Move every leaf to the same document; False when one runs out."""
        leaves = self._leaves
        while True:
            target = max(leaf.id() for leaf in leaves)
            aligned = True
            for leaf in leaves:
                if leaf.id() < target:
                    leaf.skip_to(target)
                    if not leaf.is_active():
                        return False
                    aligned = aligned and leaf.id() == target
            if aligned:
                return True

    def _occurrences(self) -> int:
        starts: set[int] | None = None
        for offset, leaf in enumerate(self._leaves):
            shifted = set(map((-offset).__add__, self._decode(leaf.value())))
            starts = shifted if starts is None else starts & shifted
            if not starts:
                return 0
        return len(starts) if starts else 0

    def _find(self) -> None:
        while self._active:
            if not all(leaf.is_active() for leaf in self._leaves) or not self._align():
                self._active = False
                return
            self._count = self._occurrences()
            if self._count:
                return
            self._leaves[0].next()

    def is_active(self) -> bool:
        return self._active

    def id(self) -> int:
        return self._leaves[0].id()  # type: ignore[no-any-return]

    def next(self) -> None:
        self._leaves[0].next()
        self._find()

    def skip_to(self, docid: int) -> None:
        if not self._active or self.id() >= docid:
            return
        for leaf in self._leaves:
            if leaf.is_active() and leaf.id() < docid:
                leaf.skip_to(docid)
        self._find()

    def weight(self) -> float:
        return float(self._count)

    def score(self) -> float:
        if self._scorer is None:  # matching without ranking (counting, deleting)
            return self._count * self._boost
        return self._scorer.score(self) * self._boost  # type: ignore[no-any-return]

    def supports_block_quality(self) -> bool:
        return False

    def max_quality(self) -> float:
        return 1e9  # no useful bound: never prune on it

    def supports(self, astype: str) -> bool:
        return astype in ("weight", "frequency")

    def copy(self) -> _SubstringMatcher:
        twin = _SubstringMatcher.__new__(_SubstringMatcher)
        twin._leaves = [leaf.copy() for leaf in self._leaves]
        twin._decode = self._decode
        twin._scorer, twin._boost, twin._count, twin._active = self._scorer, self._boost, self._count, self._active
        return twin

    def replace(self, minquality: float = 0) -> Any:
        return self if self._active else matching.NullMatcher()

    def children(self) -> list[Any]:
        return []

    def term_matchers(self) -> Iterator[Any]:
        return iter(())


# A phrase of more units than LONG is narrowed by the rarest of SAMPLE of its units, spread over
# it, and once its candidates are CONFIRM or fewer, confirmed on their stored text (a pasted
# passage has a thousand units, and looking each up in the term table cost 20 us).
LONG = 12
SAMPLE = 16
CONFIRM = 32


def sample(units: tuple[str, ...] | list[str]) -> list[str]:
    """The units a phrase is narrowed by: all of a short one; of a long one, SAMPLE spread over
    it, its first and last among them."""
    return [units[i] for i in _sampled(len(units))]


def _sampled(count: int) -> list[int]:
    if count <= LONG:
        return list(range(count))
    return sorted({round(k * (count - 1) / (SAMPLE - 1)) for k in range(SAMPLE)})


def substring_matches(q: Substring, searcher: Any, lengths: Any,
                      within: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every document the phrase matches (global numbers, deleted ones included), or only those
    among `within` (sorted global numbers) when given, and the score _SubstringMatcher gives it:
    BM25F of the occurrence count, with the idf of the segment's rarest term and the field's
    lengths (`lengths`, by global document number). A long phrase is narrowed by a sample of its
    units (the rarest of those gives the idf) and confirmed on the candidates' stored text."""
    fieldname = q.fieldname
    if fieldname not in searcher.schema:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    field = searcher.schema[fieldname]
    weighting = searcher.weighting
    units = list(q.words)
    picked = _sampled(len(units))
    found_ids, found_scores = [], []
    for sub, offset in searcher.leaf_searchers():
        reader = sub.reader()
        terms = [field.to_bytes(units[i]) for i in picked]
        infos = [term_info(reader, fieldname, t) for t in terms]
        if not terms or any(info is None for info in infos):
            continue
        dfs = [info.doc_frequency() for info in infos]
        local = None
        if within is not None:
            local = within[(within >= offset) & (within < offset + reader.doc_count_all())] - offset
        confirm = len(picked) < len(units)
        starts = _phrase_starts(reader, fieldname, terms, infos, picked, local, confirm)
        running = _runs(starts >> 32)[0] if confirm and starts is not None else None
        if starts is not None and running is not None and len(running) > CONFIRM:
            # Too many candidates to read: the rest of the units by their positions, exactly.
            rest = sorted(set(range(len(units))) - set(picked))
            rest_terms = [field.to_bytes(units[i]) for i in rest]
            rest_infos = [term_info(reader, fieldname, t) for t in rest_terms]
            if any(info is None for info in rest_infos):
                continue
            more = _phrase_starts(reader, fieldname, rest_terms, rest_infos, rest, running, False)
            starts = _sorted_intersection(starts, more) if more is not None else starts
            confirm = False
        if starts is None or not len(starts):
            continue
        docs, counts = _runs(starts >> 32)
        if confirm:
            docs, counts = _confirmed(sub, STORED_TEXT.get(fieldname, ""), docs, units)
            if not len(docs):
                continue
        rarest = terms[dfs.index(min(dfs))]  # the first of the rarest, as _SubstringMatcher picks
        scorer = weighting.scorer(sub, fieldname, rarest)
        norms = length_norms(lengths[docs + offset], scorer.avgfl, scorer.B, scorer.K1)
        found_ids.append(docs + offset)
        found_scores.append(bm25(scorer.idf, counts.astype(np.float64), norms, scorer.K1) * (q.boost * field.format.field_boost))
    if not found_ids:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(found_ids), np.concatenate(found_scores)


def _phrase_starts(reader: Any, fieldname: str, terms: list[bytes], infos: list[Any], offsets: list[int],
                   within: np.ndarray | None, narrow: bool) -> np.ndarray | None:
    """(document << 32 | phrase start) where every one of `terms` sits at its offset from the
    start, rarest term first, decoding later terms only in documents still in the running (and
    only in `within`, sorted local numbers, when given). With `narrow`, it stops once CONFIRM or
    fewer documents are left."""
    starts: np.ndarray | None = None
    for j in sorted(range(len(terms)), key=lambda j: infos[j].doc_frequency()):
        docs, _, (blob, sizes) = read_postings(reader, fieldname, terms[j], True, infos[j])
        if starts is not None:  # only the postings of documents still in the running
            docs, blob, sizes = _postings_in(_runs(starts >> 32)[0], docs, blob, sizes)
        elif within is not None:
            docs, blob, sizes = _postings_in(within, docs, blob, sizes)
        keys = start_keys(docs, blob, sizes, offsets[j])
        starts = keys if starts is None else _sorted_intersection(starts, keys)
        if not len(starts) or (narrow and len(_runs(starts >> 32)[0]) <= CONFIRM):
            break
    return starts


def _confirmed(sub: Any, stored: str, docs: np.ndarray, units: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The candidates whose stored text holds the phrase, and how many times."""
    keep, counts = [], []
    for d in docs.tolist():
        text = sub.stored_fields(d).get(stored) or ""
        found = count_phrase(unit_text(normalize(text)), units)
        if found:
            keep.append(d)
            counts.append(found)
    return np.array(keep, dtype=np.int64), np.array(counts, dtype=np.int64)


def _runs(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(ordered, return_counts=True) for a sorted array, without sorting it again."""
    if not len(ordered):
        return ordered, np.zeros(0, dtype=np.int64)
    firsts = np.flatnonzero(np.diff(ordered, prepend=ordered[0] - 1))
    return ordered[firsts], np.diff(np.append(firsts, len(ordered)))


def _postings_in(wanted: np.ndarray, docs: np.ndarray, blob: bytes,
                 sizes: np.ndarray) -> tuple[np.ndarray, bytes, np.ndarray]:
    """The postings (documents, values, value sizes) whose document is in `wanted` (sorted)."""
    if not len(wanted):
        return docs[:0], b"", sizes[:0]
    at = np.searchsorted(wanted, docs)
    keep = np.flatnonzero(wanted[np.minimum(at, len(wanted) - 1)] == docs)
    if len(keep) == len(docs):
        return docs, blob, sizes
    values, picked = take_values(np.frombuffer(blob, dtype=np.uint8), sizes, keep)
    return docs[keep], values.tobytes(), picked


def _sorted_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The values in both sorted, unique arrays, by binary search of the smaller in the larger
    (np.intersect1d sorts both again)."""
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    if not len(large):
        return large
    at = np.minimum(np.searchsorted(large, small), len(large) - 1)
    return small[large[at] == small]  # type: ignore[no-any-return]
