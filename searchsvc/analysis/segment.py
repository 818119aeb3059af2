"""Analysis stage: segmentation — jieba words of normalized text, with true offsets and ordinals."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol

_WORDISH = re.compile(r"[^\W_]")


@dataclass(frozen=True)
class AnalysisSettings:
    engine: str = "auto"
    userdict: str | None = None


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
