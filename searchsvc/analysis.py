"""Analysis stage: normalization, jieba segmentation and the Whoosh tokenizers built on them."""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol

import numpy as np
from whoosh.analysis import Token, Tokenizer

from searchsvc.markup import ZERO_WIDTH

CJK_BOUNDS = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3134F))
CJK_RANGES = "".join(f"{chr(low)}-{chr(high)}" for low, high in CJK_BOUNDS)
_CJK = re.compile(f"[{CJK_RANGES}]")
# A run of letters or digits that are not CJK: one unit of the substring representation.
OTHER_RUN = f"(?:(?![{CJK_RANGES}])[^\\W_])+"
# A unit of the substring representation: one CJK character, or one run of other letters/digits.
_UNIT = re.compile(f"[{CJK_RANGES}]|{OTHER_RUN}")
_WORDISH = re.compile(r"[^\W_]")


def _fold_char(ch: str) -> str:
    """One character's matching form: NFKC, zero-width removed, lower case, t2s per character."""
    folded = "" if ch in ZERO_WIDTH else unicodedata.normalize("NFKC", ch).lower()
    return "".join(_t2s_char(c) for c in folded) if _CJK.search(folded) else folded


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
    if not _CJK.match(ch):
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


class Segmenter(Protocol):
    def tokenize(self, text: str, mode: str = ..., hmm: bool = ...) -> list[tuple[str, int, int]]: ...


@functools.lru_cache(maxsize=4)
def get_segmenter(engine: str = "auto", userdict: str | None = None) -> Segmenter:
    """rjieba (jieba-rs, same dictionary, HMM off gives jieba's tokens) when present, else jieba."""
    if engine in ("auto", "rjieba"):
        try:
            import rjieba

            seg: Any = rjieba.Jieba()
            if userdict:
                for word, freq, tag in read_userdict(userdict):
                    seg.add_word(word, freq, tag)
            return _RjiebaAdapter(seg)
        except ImportError:
            if engine == "rjieba":
                raise
    import jieba

    tk = jieba.Tokenizer()
    if userdict:
        with open(userdict, "rb") as fh:  # jieba leaves a file it opened itself unclosed
            tk.load_userdict(fh)
    return _JiebaAdapter(tk)


class _RjiebaAdapter:
    def __init__(self, seg: Any) -> None:
        self._seg = seg

    def tokenize(self, text: str, mode: str = "default", hmm: bool = False) -> list[tuple[str, int, int]]:
        return self._seg.tokenize(text, mode=mode, hmm=hmm)  # type: ignore[no-any-return]


class _JiebaAdapter:
    def __init__(self, tk: Any) -> None:
        self._tk = tk

    def tokenize(self, text: str, mode: str = "default", hmm: bool = False) -> list[tuple[str, int, int]]:
        return list(self._tk.tokenize(text, mode=mode, HMM=hmm))


def read_userdict(path: str) -> Iterator[tuple[str, int | None, str | None]]:
    """jieba's user dictionary format: `word [freq] [tag]` per line."""
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        parts = line.strip().split()
        if not parts or parts[0].startswith("#"):
            continue
        freq = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        tag = parts[-1] if len(parts) > 1 and not parts[-1].isdigit() else None
        yield parts[0], freq, tag


@functools.lru_cache(maxsize=8)
def segment(norm: str, search: bool, engine: str = "auto", userdict: str | None = None) -> tuple[tuple[str, int, int, int], ...]:
    """jieba words of normalized text as (word, start, end, ordinal).

    In search mode, sub-words come with their word and share its ordinal, so a phrase of words
    keeps consecutive positions. Whitespace and punctuation are not words. Cached: at index time
    the word, substring and character fields of one post all ask for the same text.
    """
    tokens = get_segmenter(engine, userdict).tokenize(norm, mode="search" if search else "default", hmm=False)
    # jieba's search mode emits a word's sub-words just before the word: walking backwards, a
    # token ending at or before the current word's start is the previous word.
    owner = [0] * len(tokens)
    word_start = len(norm) + 1
    full = 0
    for i in range(len(tokens) - 1, -1, -1):
        _, start, end = tokens[i]
        if end <= word_start:
            full += 1
            word_start = start
        owner[i] = full
    out = []
    ordinal = -1
    last_owner = None
    for (word, start, end), own in zip(tokens, owner):
        if not (word.isalnum() or _WORDISH.search(word)):
            continue
        if own != last_owner:
            ordinal += 1
            last_owner = own
        out.append((word, start, end, ordinal))
    return tuple(out)


# How much more an occurrence weighs in the substring and character fields when it is also a jieba
# word there: ranking prefers whole words without a separate word-field matcher per query word.
WHOLE_WORD_BONUS = 2.0


def _whole_word_spans(norm: str, engine: str, userdict: str | None) -> frozenset[tuple[int, int]]:
    return frozenset((s, e) for _, s, e, _ in segment(norm, True, engine, userdict) if e - s <= 2)


def substring_units(norm: str) -> list[tuple[str, int, int]]:
    """The substring representation of normalized text as (term, start, end), one per unit.

    A CJK character followed directly by another gives their bigram; one that is not gives itself;
    a run of other letters or digits gives the run. Any substring of the text then appears as a
    run of consecutive terms, so exact substring search is a phrase query over these terms.
    """
    units = [(m.group(), m.start(), m.end()) for m in _UNIT.finditer(norm)]
    out = []
    last = len(units) - 1
    for i, (text, start, end) in enumerate(units):
        if len(text) == 1 and _CJK.match(text) and i < last:
            nxt, nstart, nend = units[i + 1]
            if nstart == end and len(nxt) == 1 and _CJK.match(nxt):
                out.append((text + nxt, start, nend))
                continue
        out.append((text, start, end))
    return out


def cjk_chars(norm: str) -> list[tuple[str, int, int]]:
    return [(m.group(), m.start(), m.end()) for m in _CJK.finditer(norm)]


def is_cjk(text: str) -> bool:
    return bool(_CJK.match(text))


@dataclass(frozen=True)
class AnalysisSettings:
    engine: str = "auto"
    userdict: str | None = None


class BaseTokenizer(Tokenizer):  # type: ignore[misc]
    """Whoosh's tokenizer contract over normalized text; offsets point into the original value."""

    def __init__(self, engine: str = "auto", userdict: str | None = None) -> None:
        self.engine = engine
        self.userdict = userdict

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def _terms(self, norm: str, mode: str) -> list[tuple[str, int, int, int, float]]:
        raise NotImplementedError

    def _weighted(self, norm: str, mode: str, units: list[tuple[str, int, int]]) -> list[tuple[str, int, int, int, float]]:
        """Units with their ordinal, weighted up where they are whole jieba words (index time only)."""
        if mode != "index":
            return [(text, s, e, i, 1.0) for i, (text, s, e) in enumerate(units)]
        spans = _whole_word_spans(norm, self.engine, self.userdict)
        return [(text, s, e, i, 1.0 + WHOLE_WORD_BONUS if (s, e) in spans else 1.0) for i, (text, s, e) in enumerate(units)]

    def terms_of(self, value: str, mode: str) -> list[tuple[str, int, int, int, float]]:
        """What __call__ yields as Tokens, as plain (text, start, end, position, boost) tuples of the
        normalized value: the index formats count terms from these without a Token per term."""
        return self._terms(normalize(value), mode)

    def __call__(
        self, value: str, positions: bool = False, chars: bool = False, keeporiginal: bool = False,
        removestops: bool = True, start_pos: int = 0, start_char: int = 0, tokenize: bool = True,
        mode: str = "", **kwargs: Any,
    ) -> Iterator[Token]:
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            t.original = value
            t.text = normalize(value)
            t.boost = 1.0
            if positions:
                t.pos = start_pos
            if chars:
                t.startchar, t.endchar = start_char, start_char + len(value)
            yield t
            return
        norm, origin = normalize_with_offsets(value) if chars or keeporiginal else (normalize(value), None)
        for text, start, end, pos, boost in self._terms(norm, mode):
            t.text = text
            t.boost = boost
            t.stopped = False
            if positions:
                t.pos = start_pos + pos
            if chars or keeporiginal:
                ostart, oend = original_span(origin, start, end)
                if keeporiginal:
                    t.original = value[ostart:oend]
                if chars:
                    t.startchar, t.endchar = start_char + ostart, start_char + oend
            yield t


class JiebaTokenizer(BaseTokenizer):
    """jieba words; search-mode sub-words at index time, default mode for queries."""

    def __init__(self, engine: str = "auto", userdict: str | None = None, cjk_only: bool = False) -> None:
        super().__init__(engine, userdict)
        self.cjk_only = cjk_only

    def _terms(self, norm: str, mode: str) -> list[tuple[str, int, int, int, float]]:
        words = segment(norm, mode == "index", self.engine, self.userdict)
        return [(*w, 1.0) for w in words if not self.cjk_only or _CJK.search(w[0])]


class SubstringTokenizer(BaseTokenizer):
    """CJK bigrams (and run-final characters) and other words, for exact substring phrases."""

    def _terms(self, norm: str, mode: str) -> list[tuple[str, int, int, int, float]]:
        return self._weighted(norm, mode, substring_units(norm))


class CharTokenizer(BaseTokenizer):
    """Every CJK character, so a one-character query finds every post that contains it."""

    def _terms(self, norm: str, mode: str) -> list[tuple[str, int, int, int, float]]:
        return self._weighted(norm, mode, cjk_chars(norm))
