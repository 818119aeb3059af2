"""Engine: Whoosh's tokenizer contract over the analysis stage's terms; offsets point into the
original value. Pickled into the index's schema, so they hold only plain settings."""

from __future__ import annotations

from typing import Any, Iterator

from whoosh.analysis import Token, Tokenizer

from searchsvc.analysis.normalize import (
    CJK,
    normalize,
    normalize_with_offsets,
    original_span,
)
from searchsvc.analysis.segment import segment
from searchsvc.analysis.units import (
    WHOLE_WORD_BONUS,
    cjk_chars,
    substring_units,
    whole_word_spans,
)


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
        spans = whole_word_spans(norm, self.engine, self.userdict)
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
        return [(*w, 1.0) for w in words if not self.cjk_only or CJK.search(w[0])]


class SubstringTokenizer(BaseTokenizer):
    """CJK bigrams (and run-final characters) and other words, for exact substring phrases."""

    def _terms(self, norm: str, mode: str) -> list[tuple[str, int, int, int, float]]:
        return self._weighted(norm, mode, substring_units(norm))


class CharTokenizer(BaseTokenizer):
    """Every CJK character, so a one-character query finds every post that contains it."""

    def _terms(self, norm: str, mode: str) -> list[tuple[str, int, int, int, float]]:
        return self._weighted(norm, mode, cjk_chars(norm))
