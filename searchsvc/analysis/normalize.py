"""Analysis stage: normalization — the matching form of text (NFKC, zero-width characters removed,
lower case, traditional -> simplified), with offsets back into the original."""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from typing import Any

import numpy as np

# Characters that never render; removed from what is indexed and matched.
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
CJK_BOUNDS = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3134F))
CJK_RANGES = "".join(f"{chr(low)}-{chr(high)}" for low, high in CJK_BOUNDS)
CJK = re.compile(f"[{CJK_RANGES}]")


def is_cjk(text: str) -> bool:
    return bool(CJK.match(text))


def _fold_char(ch: str) -> str:
    """One character's matching form: NFKC, zero-width removed, lower case, t2s per character."""
    folded = "" if ch in ZERO_WIDTH else unicodedata.normalize("NFKC", ch).lower()
    return "".join(_t2s_char(c) for c in folded) if CJK.search(folded) else folded


class _FoldTable(dict):  # type: ignore[type-arg]
    """str.translate table filled on demand with _fold_char.

    Characters whose folded form is not exactly one character are remembered in `varlen`, so
    offsets into the original text need mapping only when one of them occurs.
    """

    def __init__(self) -> None:
        super().__init__()
        self.varlen: set[str] = set()
        self._varlen_re: tuple[int, re.Pattern[str] | None] = (0, None)

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        folded = _fold_char(ch)
        if len(folded) != 1:
            self.varlen.add(ch)
        self[code] = folded
        return folded

    def varlen_pattern(self) -> re.Pattern[str] | None:
        size, pattern = self._varlen_re
        if size != len(self.varlen):
            chars = "".join(re.escape(c) for c in sorted(self.varlen))
            pattern = re.compile(f"[{chars}]") if chars else None
            self._varlen_re = (len(self.varlen), pattern)
        return pattern


@functools.lru_cache(maxsize=1)
def _opencc() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def _t2s_char(ch: str) -> str:
    if not CJK.match(ch):
        return ch
    out = _opencc().convert(ch)
    return out if len(out) == 1 else ch


_FOLD = _FoldTable()
_ODD = 0xFFFF  # in _bmp_folds: the character does not fold to one BMP character (U+FFFF itself is odd too)
_SHORT = 64  # below this many characters str.translate is as quick as the arrays (queries, titles)


@functools.lru_cache(maxsize=1)
def _bmp_folds() -> np.ndarray:
    """_fold_char of every Basic Multilingual Plane character as one UTF-16 unit, or _ODD where
    that is not what it folds to (several characters, none, one beyond the BMP) and for the
    surrogates. Built once (~0.2 s): str.translate makes a Python int and a dict lookup per
    character, ~9x slower than a lookup in this array on Chinese text."""
    table = np.full(0x10000, _ODD, dtype=np.uint16)
    for code in itertools.chain(range(0xD800), range(0xE000, 0x10000)):
        folded = _fold_char(chr(code))
        if len(folded) == 1 and ord(folded) < _ODD:
            table[code] = ord(folded)
    return table


def load_tables() -> None:
    """Build the folding array now: a server does it before forking its workers, which share it."""
    _bmp_folds()


def _fold_arrays(text: str) -> tuple[str, np.ndarray | None]:
    """normalize_with_offsets for a long text: every character through _bmp_folds (as UTF-16
    units into a 128 KB table: half the code point table's size, and no clamping pass, which
    took 0.14-0.16 ms a query at 100k, ten hits and titles); characters beyond the BMP or not
    folding to one character (…… is six dots, zero-width characters vanish) through _FOLD, one
    by one."""
    units = np.frombuffer(text.encode("utf-16-le", "surrogatepass"), dtype="<u2")
    if len(units) != len(text):  # characters beyond the BMP: one code point each, all odd
        units = np.minimum(np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4"), _ODD)
    folded = _bmp_folds()[units]
    odd = np.flatnonzero(folded == _ODD)
    if not len(odd):
        return folded.tobytes().decode("utf-16-le"), None
    folded[odd] = 0x20  # a placeholder, cut out below
    plain = folded.tobytes().decode("utf-16-le")
    where = odd.tolist()
    subs = [_FOLD[ord(text[i])] for i in where]
    pieces: list[str] = []
    last = 0
    for i, sub in zip(where, subs):
        pieces += (plain[last:i], sub)
        last = i + 1
    pieces.append(plain[last:])
    sizes = np.fromiter(map(len, subs), dtype=np.int64, count=len(subs))
    if (sizes == 1).all():
        return "".join(pieces), None
    lengths = np.ones(len(text), dtype=np.int64)
    lengths[odd] = sizes
    return "".join(pieces), np.repeat(np.arange(len(text)), lengths)


def normalize(text: str) -> str:
    """The matching form of text: NFKC, no zero-width characters, lower case, simplified Chinese."""
    return text.translate(_FOLD) if len(text) < _SHORT else _fold_arrays(text)[0]


def normalize_spaced(text: str) -> str:
    """normalize() with runs of whitespace collapsed to one space: how exact titles are compared."""
    return " ".join(normalize(text).split())


def normalize_with_offsets(text: str) -> tuple[str, np.ndarray | list[int] | None]:
    """normalize() plus, when lengths differ, the original index of every normalized character."""
    return _fold_arrays(text) if len(text) >= _SHORT else _fold_translate(text)


def _fold_translate(text: str) -> tuple[str, list[int] | None]:
    """normalize_with_offsets through str.translate."""
    norm = text.translate(_FOLD)
    pattern = _FOLD.varlen_pattern()
    if pattern is None or not pattern.search(text):
        return norm, None
    origin: list[int] = []
    last = 0
    for found in pattern.finditer(text):
        i = found.start()
        origin.extend(range(last, i))
        origin.extend([i] * len(_FOLD[ord(text[i])]))
        last = i + 1
    origin.extend(range(last, len(text)))
    return norm, origin


def original_span(origin: np.ndarray | list[int] | None, start: int, end: int) -> tuple[int, int]:
    """Map a [start, end) span of normalized text back to the original text."""
    if origin is None:
        return start, end
    if start >= len(origin):
        tail = int(origin[-1]) + 1 if len(origin) else 0
        return tail, tail
    return int(origin[start]), (int(origin[end - 1]) + 1 if end > start else int(origin[start]))
