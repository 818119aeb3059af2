"""Engine: BM25F as Whoosh scores it (whoosh.scoring.bm25, its default weighting), on arrays: the
one home of the formula for term queries and substring phrases alike, bit for bit Whoosh's."""

from __future__ import annotations

import math

import numpy as np


def idf(doc_count: int, doc_frequency: int) -> float:
    """Whoosh's WeightingModel.idf, from statistics already at hand."""
    return math.log(doc_count / (doc_frequency + 1)) + 1


def length_norms(lengths: np.ndarray, avgfl: float, B: float, K1: float) -> np.ndarray:
    """The length part of BM25's denominator, K1 * ((1 - B) + B * length / avgfl), per length."""
    return K1 * ((1 - B) + B * lengths / avgfl)  # type: ignore[no-any-return]


def bm25(idf: float, tf: np.ndarray, norms: np.ndarray, K1: float) -> np.ndarray:
    """Each posting's score from its term frequency (or weight) and its document's length norm."""
    return idf * ((tf * (K1 + 1)) / (tf + norms))  # type: ignore[no-any-return]
