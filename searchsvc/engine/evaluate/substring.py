"""Engine, evaluating: exact substrings (Substring queries, a phrase of bigram terms) over whole
posting lists with arrays: positions intersected as sorted start keys (positions come packed, see
engine.codec.positions), a long phrase narrowed by a sample of its units and confirmed on the
candidates' stored text. substring_matches scores; substring_holds only answers which hold it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from searchsvc.analysis.normalize import normalize
from searchsvc.analysis.units import PhraseCount, unit_text
from searchsvc.engine.codec.lists import read_postings, read_postings_in
from searchsvc.engine.codec.positions import start_keys
from searchsvc.engine.codec.terms import term_info
from searchsvc.engine.evaluate.bm25 import bm25, length_norms
from searchsvc.engine.evaluate.matcher import Substring
from searchsvc.engine.schema import STORED_TEXT


# A phrase of more units than LONG is narrowed by the rarest of SAMPLE of its units, spread over
# it, and once its candidates are CONFIRM or fewer, confirmed on their stored text (a pasted
# passage has a thousand units, and looking each up in the term table cost 20 us).
LONG = 12
SAMPLE = 16
CONFIRM = 32
# substring_holds confirms on stored text once FEW or fewer candidates are left, or when asked
# about DIRECT or fewer; it defers candidates over DEFER (confirming a post's text: ~0.1 ms).
FEW = 8
DIRECT = 12
DEFER = 1024


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
    few = CONFIRM if len(units) > LONG else 0
    found_ids, found_scores = [], []
    for sub, offset in searcher.leaf_searchers():
        found = _segment_matches(sub, fieldname, field, units, _local(within, offset, sub), few)
        if found is None:
            continue
        docs, counts, rarest = found
        scorer = weighting.scorer(sub, fieldname, rarest)
        norms = length_norms(lengths[docs + offset], scorer.avgfl, scorer.B, scorer.K1)
        found_ids.append(docs + offset)
        found_scores.append(bm25(scorer.idf, counts.astype(np.float64), norms, scorer.K1) * (q.boost * field.format.field_boost))
    if not found_ids:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(found_ids), np.concatenate(found_scores)


def substring_holds(q: Substring, searcher: Any, within: np.ndarray,
                    defer: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Which of `within` (sorted global numbers) hold the phrase, for what needs no score
    (ranking's tiers): (held, unsure), sorted global numbers. Its rarest units narrow the
    candidates by their positions; once FEW or fewer are left, or when DIRECT or fewer were
    asked about, their stored text confirms it. With `defer`, candidates still over DEFER after
    a unit, or over CONFIRM after a long phrase's sample, come back unsure, for the caller to
    confirm only those that could reach its page (a title held by 80,000 posts cost its tier
    128 ms at 100k by positions); without, every answer is exact."""
    empty = np.zeros(0, dtype=np.int64)
    fieldname = q.fieldname
    if fieldname not in searcher.schema or not len(within):
        return empty, empty
    field = searcher.schema[fieldname]
    units = list(q.words)
    held, unsure = [empty], [empty]
    for sub, offset in searcher.leaf_searchers():
        local = _local(within, offset, sub)
        assert local is not None
        if len(local):
            sure, maybe = _segment_holds(sub, fieldname, field, units, local, defer)
            held.append(sure + offset)
            unsure.append(maybe + offset)
    return np.concatenate(held), np.concatenate(unsure)


def _segment_holds(sub: Any, fieldname: str, field: Any, units: list[str], local: np.ndarray,
                   defer: bool) -> tuple[np.ndarray, np.ndarray]:
    """substring_holds in one segment, over `local` (its sorted local numbers)."""
    empty = np.zeros(0, dtype=np.int64)
    stored = STORED_TEXT.get(fieldname, "")
    if stored and len(local) <= DIRECT:
        return _confirmed(sub, stored, local, units)[0], empty
    reader = sub.reader()
    picked = _sampled(len(units))
    looked_up = _terms(reader, fieldname, field, units, picked)
    if looked_up is None:
        return empty, empty
    terms, infos = looked_up
    starts, complete = _phrase_starts(reader, fieldname, terms, infos, picked, local, FEW if stored else 0,
                                      DEFER if stored and defer else 0)
    if starts is None or not len(starts):
        return empty, empty
    docs = _runs(starts >> 32)[0]
    if complete and len(picked) == len(units):
        return docs, empty
    if stored and len(docs) <= CONFIRM:
        return _confirmed(sub, stored, docs, units)[0], empty
    if stored and defer:
        return empty, docs
    starts = _rest_exactly(reader, fieldname, field, units, picked, starts, docs)
    return (_runs(starts >> 32)[0] if starts is not None else empty), empty


def _terms(reader: Any, fieldname: str, field: Any, units: list[str],
           indices: list[int]) -> tuple[list[bytes], list[Any]] | None:
    """The units at `indices` as terms of the field, and their term infos; None when one is absent."""
    terms = [field.to_bytes(units[i]) for i in indices]
    infos = [term_info(reader, fieldname, t) for t in terms]
    return None if not terms or any(info is None for info in infos) else (terms, infos)


def _local(within: np.ndarray | None, offset: int, sub: Any) -> np.ndarray | None:
    """The documents of `within` (global numbers) in one segment, as its local numbers."""
    if within is None:
        return None
    return within[(within >= offset) & (within < offset + sub.doc_count_all())] - offset  # type: ignore[no-any-return]


def _segment_matches(sub: Any, fieldname: str, field: Any, units: list[str], local: np.ndarray | None,
                     few: int) -> tuple[np.ndarray, np.ndarray, bytes] | None:
    """One segment's documents holding the phrase (local numbers, only among `local` when given),
    how many times each, and the first of its rarest narrowing terms (the idf's); None when a
    term is absent. The units are narrowed by the rarest first; with `few`, once that many or
    fewer documents are left, the stored text of those confirms the phrase (and counts it)."""
    if local is not None and not len(local):
        return None
    reader = sub.reader()
    picked = _sampled(len(units))
    looked_up = _terms(reader, fieldname, field, units, picked)
    if looked_up is None:
        return None
    terms, infos = looked_up
    dfs = [info.doc_frequency() for info in infos]
    rarest = terms[dfs.index(min(dfs))]  # the first of the rarest, as _SubstringMatcher picks
    stored = STORED_TEXT.get(fieldname, "")
    starts, complete = _phrase_starts(reader, fieldname, terms, infos, picked, local, few if stored else 0)
    if starts is None or not len(starts):
        return None
    docs, counts = _runs(starts >> 32)
    if complete and len(picked) < len(units):
        if len(docs) > CONFIRM:  # too many candidates to read: the rest of the units by their positions, exactly
            starts = _rest_exactly(reader, fieldname, field, units, picked, starts, docs)
            if starts is None:
                return None
            docs, counts = _runs(starts >> 32)
            return docs, counts, rarest
        complete = False
    if not complete:
        docs, counts = _confirmed(sub, stored, docs, units)
        if not len(docs):
            return None
    return docs, counts, rarest


def _rest_exactly(reader: Any, fieldname: str, field: Any, units: list[str], picked: list[int],
                  starts: np.ndarray, docs: np.ndarray) -> np.ndarray | None:
    """`starts` (a long phrase's, by its sampled units, in `docs`) less those where the rest of its
    units are not in place, by their positions; None when none are left."""
    rest = sorted(set(range(len(units))) - set(picked))
    looked_up = _terms(reader, fieldname, field, units, rest)
    if looked_up is None:
        return None
    more, _ = _phrase_starts(reader, fieldname, *looked_up, rest, docs, 0)
    if more is None or not len(starts := _sorted_intersection(starts, more)):
        return None
    return starts


def _phrase_starts(reader: Any, fieldname: str, terms: list[bytes], infos: list[Any], offsets: list[int],
                   within: np.ndarray | None, few: int, many: int = 0) -> tuple[np.ndarray | None, bool]:
    """(document << 32 | phrase start) where every one of `terms` sits at its offset from the
    start, rarest term first, reading later terms' postings only for documents still in the
    running (and only for `within`, sorted local numbers, when given); and whether every term
    was checked. With `few`, it stops once that many or fewer documents are left; with `many`,
    once more than that many are left after a term."""
    starts: np.ndarray | None = None
    running = within
    order = sorted(range(len(terms)), key=lambda j: infos[j].doc_frequency())
    for n, j in enumerate(order):
        if running is None:
            docs, _, (blob, sizes) = read_postings(reader, fieldname, terms[j], True, infos[j])
        else:
            docs, blob, sizes = read_postings_in(reader, fieldname, terms[j], infos[j], running)
        keys = start_keys(docs, blob, sizes, offsets[j])
        starts = keys if starts is None else _sorted_intersection(starts, keys)
        if not len(starts):
            break
        running = _runs(starts >> 32)[0]
        if n + 1 < len(order) and ((few and len(running) <= few) or (many and len(running) > many)):
            return starts, False
    return starts, True


def _confirmed(sub: Any, stored: str, docs: np.ndarray, units: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The candidates whose stored text holds the phrase, and how many times."""
    keep, counts = [], []
    phrase = PhraseCount(units)
    for d in docs.tolist():
        norm = normalize(sub.stored_fields(d).get(stored) or "")
        found = phrase.count(unit_text(norm)) if phrase.may_hold(norm) else 0
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


def _sorted_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The values in both sorted, unique arrays, by binary search of the smaller in the larger
    (np.intersect1d sorts both again)."""
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    if not len(large):
        return large
    at = np.minimum(np.searchsorted(large, small), len(large) - 1)
    return small[large[at] == small]  # type: ignore[no-any-return]
