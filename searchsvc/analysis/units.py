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


# The unit text: the units' runs (a CJK run, or a run of other letters and digits) one space
# apart, whatever separated them. A phrase of units occurs in a text exactly where the unit text
# of the phrase occurs in the unit text of the text, with a run of other letters at either end
# of the phrase starting or ending a run there (count_phrase): checked on a post's stored text,
# a long phrase needs no positions of its every unit.
_RUNS = re.compile(f"[{CJK_RANGES}]+|[^\\W_{CJK_RANGES}]+")


def unit_text(norm: str) -> str:
    """Normalized text as its runs of units, one space apart (one findall: substituting the gaps
    and then the script changes took ~3x as long, 140 us for a post of 2,300 characters, and
    confirming a phrase on stored text is mostly this)."""
    return " ".join(_RUNS.findall(norm))


def phrase_text(units: list[str] | tuple[str, ...]) -> str:
    """The unit text of a phrase of consecutive units (substring_units' terms). After a bigram,
    a unit starting with its second character continues the same CJK run (a gap between would
    have left that character as a unit of its own); every other pair of units is two runs."""
    out = units[0] if units else ""
    for before, unit in zip(units, units[1:]):
        if len(before) == 2 and CJK.match(before[1]) and unit[0] == before[1] and CJK.match(unit[0]):
            out += unit[1:]
        else:
            out += " " + unit
    return out


def count_phrase(text: str, units: list[str] | tuple[str, ...]) -> int:
    """How many times the phrase of `units` starts in the unit text `text` (PhraseCount)."""
    return PhraseCount(units).count(text)


class PhraseCount:
    """A phrase of units, counted in unit texts (overlaps counted, as positions count them). At
    the phrase's edges a run of other letters must be a whole run of the text, and a last unit of
    one CJK character must end a CJK run there (that is where substring_units makes a character
    a unit of its own). Made once for the many posts a phrase is confirmed on."""

    def __init__(self, units: list[str] | tuple[str, ...]) -> None:
        self.phrase = phrase_text(units)
        self.open_start = bool(units) and not CJK.match(units[0][0])
        self.open_end = bool(units) and (not CJK.match(units[-1][0]) or len(units[-1]) == 1)
        # Each run of the phrase's unit text lies whole in a run of the post's, and a run of a
        # unit text is a stretch of the normalized text it came from.
        self.longest_run = max(self.phrase.split(" "), key=len) if self.phrase else ""

    def may_hold(self, norm: str) -> bool:
        """False when the normalized text cannot hold the phrase (before making its unit text)."""
        return bool(self.phrase) and self.longest_run in norm

    def count(self, text: str) -> int:
        phrase = self.phrase
        if not phrase:
            return 0
        found = 0
        at = text.find(phrase)
        while at >= 0:
            end = at + len(phrase)
            if ((not self.open_start or at == 0 or text[at - 1] == " ")
                    and (not self.open_end or end == len(text) or text[end] == " ")):
                found += 1
            at = text.find(phrase, at + 1)
        return found
