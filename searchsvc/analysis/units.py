"""Analysis stage: term units — the substring and character representations of normalized text,
and the weight of an occurrence that is also a whole jieba word."""

from __future__ import annotations

import re

from searchsvc.analysis.normalize import CJK, CJK_RANGES
from searchsvc.analysis.segment import segment

# A run of letters or digits that are not CJK: one unit of the substring representation.
OTHER_RUN = f"(?:(?![{CJK_RANGES}])[^\\W_])+"
# A unit of the substring representation: one CJK character, or one run of other letters/digits.
_UNIT = re.compile(f"[{CJK_RANGES}]|{OTHER_RUN}")

# How much more an occurrence weighs in the substring and character fields when it is also a jieba
# word there: ranking prefers whole words without a separate word-field matcher per query word.
WHOLE_WORD_BONUS = 2.0


def whole_word_spans(norm: str, engine: str, userdict: str | None) -> frozenset[tuple[int, int]]:
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
        if len(text) == 1 and CJK.match(text) and i < last:
            nxt, nstart, nend = units[i + 1]
            if nstart == end and len(nxt) == 1 and CJK.match(nxt):
                out.append((text + nxt, start, nend))
                continue
        out.append((text, start, end))
    return out


def cjk_chars(norm: str) -> list[tuple[str, int, int]]:
    return [(m.group(), m.start(), m.end()) for m in CJK.finditer(norm)]
