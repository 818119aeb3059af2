"""Engine, collecting: the documents of a result to show — the best by score, or by a key (the
date) — chosen by partitioning, so only those that reach the page are sorted."""

from __future__ import annotations

import numpy as np

from searchsvc.engine.evaluate.arrays import Matches


def top(matches: Matches, limit: int, tiers: np.ndarray | None = None) -> np.ndarray:
    """The `limit` best documents: by tier (higher first, when `tiers` gives each document one),
    then by score, then by document number (as Whoosh's top collector)."""
    docs = np.flatnonzero(matches.mask)
    if tiers is None or not tiers[docs].any():
        return _best(docs, matches.score, limit)
    ranks = tiers[docs]
    out: list[np.ndarray] = []
    for tier in np.unique(ranks)[::-1]:
        best = _best(docs[ranks == tier], matches.score, limit - sum(map(len, out)))
        out.append(best)
        if sum(map(len, out)) >= limit:
            break
    return np.concatenate(out)


def _best(docs: np.ndarray, score: np.ndarray, limit: int) -> np.ndarray:
    if len(docs) > limit:
        scores = score[docs]
        kth = np.partition(scores, len(docs) - limit)[len(docs) - limit]
        docs = docs[scores >= kth]
    order = np.lexsort((docs, -score[docs]))
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
