"""Analysis stage, as arrays: a text's word, substring and character terms as numpy columns.

The same terms, positions and weights as JiebaTokenizer, SubstringTokenizer and CharTokenizer in
index mode (tests/test_textarrays.py compares them on every sample), computed over the text's code
points at once instead of one Python object per term: what lets the writer index a 6 KB post in a
few milliseconds. A term of up to three characters is packed into one integer (21 bits a
character, first character highest), so integer order is the terms' string (and UTF-8) order;
longer terms are returned as strings for the writer to number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from operator import itemgetter

import numpy as np

from searchsvc.analysis.normalize import CJK_BOUNDS, normalize
from searchsvc.analysis.segment import get_segmenter
from searchsvc.analysis.units import OTHER_RUN, WHOLE_WORD_BONUS

_OTHER_RUN = re.compile(OTHER_RUN)
_START, _END = itemgetter(1), itemgetter(2)
CHAR_BITS = 21
PACKED_CHARS = 3


@dataclass
class TermColumns:
    """One field's term occurrences in text order. `keys` holds packed terms; where a term is
    longer than PACKED_CHARS, `keys` holds its first three characters packed and `long_terms`
    the whole term, at the indices in `long_at`."""

    keys: np.ndarray  # uint64
    boosts: np.ndarray  # float32, before the field's boost
    positions: np.ndarray | None  # uint32 term ordinals, for fields that keep positions
    long_terms: list[str]
    long_at: np.ndarray  # int64

    @property
    def length(self) -> int:
        return len(self.keys)


@dataclass
class TextColumns:
    words: TermColumns
    substrings: TermColumns
    chars: TermColumns


def pack_terms(cp: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Packed keys of the spans [start, end) of the code points `cp` (padded with two zeros)."""
    size = ends - starts
    key = cp[starts].astype(np.uint64) << np.uint64(2 * CHAR_BITS)
    key |= (cp[starts + 1] * (size > 1)).astype(np.uint64) << np.uint64(CHAR_BITS)
    key |= (cp[starts + 2] * (size > 2)).astype(np.uint64)
    return key


def unpack_terms(keys: np.ndarray) -> list[str]:
    """The inverse of pack_terms, for terms of up to PACKED_CHARS characters."""
    mask = np.uint64((1 << CHAR_BITS) - 1)
    chars = np.empty((len(keys), PACKED_CHARS), dtype="<u4")
    for i in range(PACKED_CHARS):
        chars[:, i] = (keys >> np.uint64(CHAR_BITS * (PACKED_CHARS - 1 - i))) & mask
    return chars.view(f"<U{PACKED_CHARS}").ravel().tolist()  # type: ignore[no-any-return]


def _columns(norm: str, cp: np.ndarray, starts: np.ndarray, ends: np.ndarray, boosts: np.ndarray,
             positions: bool) -> TermColumns:
    long_at = np.flatnonzero(ends - starts > PACKED_CHARS)
    return TermColumns(
        keys=pack_terms(cp, starts, ends),
        boosts=boosts,
        positions=np.arange(len(starts), dtype=np.uint32) if positions else None,
        long_terms=[norm[starts[i]:ends[i]] for i in long_at.tolist()],
        long_at=long_at,
    )


def text_columns(value: str, engine: str = "auto", userdict: str | None = None) -> TextColumns:
    """The index-mode terms of one text value for its word, substring and character fields."""
    norm = normalize(value)
    size = len(norm)
    cp = np.frombuffer(norm.encode("utf-32-le"), dtype="<u4")
    cjk = np.zeros(size + 1, dtype=bool)  # one past the end, so `cjk[c + 1]` needs no bounds check
    for low, high in CJK_BOUNDS:
        cjk[:size] |= (cp >= low) & (cp <= high)
    cp = np.concatenate([cp, np.zeros(PACKED_CHARS - 1, dtype="<u4")])

    runs = [m.span() for m in _OTHER_RUN.finditer(norm)]
    run_starts = np.array([s for s, _ in runs], dtype=np.int64)
    run_ends = np.array([e for _, e in runs], dtype=np.int64)
    edges = np.zeros(size + 1, dtype=np.int64)
    np.add.at(edges, run_starts, 1)
    np.add.at(edges, run_ends, -1)
    # Letters and digits (what segment() keeps a token for), counted up to each offset.
    wordish = np.concatenate([[0], np.cumsum(cjk[:size] | (np.cumsum(edges[:size]) > 0))])

    # jieba's search-mode tokens, as segment() keeps them: those with a letter or digit.
    tokens = get_segmenter(engine, userdict).tokenize(norm, mode="search", hmm=False)
    w_starts = np.fromiter(map(_START, tokens), dtype=np.int64, count=len(tokens))
    w_ends = np.fromiter(map(_END, tokens), dtype=np.int64, count=len(tokens))
    keep = wordish[w_ends] > wordish[w_starts]
    w_starts, w_ends = w_starts[keep], w_ends[keep]
    # Whole jieba words of one or two characters, by start: the units that get the bonus.
    whole = {n: np.zeros(size + 1, dtype=bool) for n in (1, 2)}
    for n, starts in whole.items():
        starts[w_starts[w_ends - w_starts == n]] = True

    # Words: the tokens that hold a CJK character.
    cjk_before = np.concatenate([[0], np.cumsum(cjk[:size])])
    keep = cjk_before[w_ends] > cjk_before[w_starts]
    ws, we = w_starts[keep], w_ends[keep]
    words = _columns(norm, cp, ws, we, np.ones(len(ws), dtype=np.float32), positions=False)

    # Substrings: every CJK character (with the next one when that is CJK too) and every run of
    # other letters or digits, in text order.
    unit_end = np.zeros(size, dtype=np.int64)
    chars_at = np.flatnonzero(cjk[:size])
    pair = cjk[chars_at + 1]
    unit_end[chars_at] = chars_at + 1 + pair
    unit_end[run_starts] = run_ends
    is_start = cjk[:size].copy()
    is_start[run_starts] = True
    u_starts = np.flatnonzero(is_start)
    u_ends = unit_end[u_starts]
    u_size = u_ends - u_starts
    bonus = (whole[1][u_starts] & (u_size == 1)) | (whole[2][u_starts] & (u_size == 2))
    substrings = _columns(norm, cp, u_starts, u_ends, _boosts(bonus), positions=True)

    chars = _columns(norm, cp, chars_at, chars_at + 1, _boosts(whole[1][chars_at]), positions=False)
    return TextColumns(words, substrings, chars)


def _boosts(bonus: np.ndarray) -> np.ndarray:
    return np.where(bonus, np.float32(1.0 + WHOLE_WORD_BONUS), np.float32(1.0)).astype(np.float32)
