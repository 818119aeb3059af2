"""Search stage: understand — a parsed query read for what the reader meant: the owner's synonyms
and pinyin typed for hanzi become groups of alternatives (search.parse.ParsedQuery.alternatives),
which every backend matches as "any of these, the first ranking highest". Quoted text is taken as
typed. Pure given the lexicon and the synonyms; shared by every backend."""

from __future__ import annotations

import dataclasses
import math

from searchsvc.analysis.normalize import is_cjk
from searchsvc.analysis.segment import AnalysisSettings
from searchsvc.ingest.lexicon import Lexicon
from searchsvc.search.parse import MAX_TERMS, ParsedQuery, parse_query
from searchsvc.search.readings import read_stretch, readable
from searchsvc.search.synonyms import Synonyms

MAX_GROUPS = 4  # groups of alternatives a query may carry (each backend ranks by them)
MAX_COMBINATIONS = 12  # one alternative of each group: the tiers a backend may have to search apart
MAX_PINYIN_QUERY = 64  # characters: a longer query is pasted, and its Latin words are not pinyin
# (each Latin word of a pasted passage, read beside its hanzi, cost lexicon lookups: 35 ms a paste)


@dataclasses.dataclass(frozen=True)
class Understanding:
    """What a backend needs to read queries: the index's lexicon (None for an index without one)
    and the owner's synonyms (None when there is no file)."""

    lexicon: Lexicon | None = None
    synonyms: Synonyms | None = None

    def read(self, q: str, analysis: AnalysisSettings) -> ParsedQuery:
        return understand(parse_query(q, analysis), self.lexicon, self.synonyms)


def understand(parsed: ParsedQuery, lexicon: Lexicon | None, synonyms: Synonyms | None) -> ParsedQuery:
    if lexicon is None and synonyms is None:
        return parsed
    alternatives: list[tuple[str, ...]] = []
    replaced: set[int] = set()
    kept_words: list[list[str]] = []
    for index, (chunk, words) in enumerate(parsed.groups):
        remaining = list(words)
        if len(alternatives) < MAX_GROUPS and synonyms is not None:
            remaining = _synonyms(chunk, remaining, synonyms, alternatives)
        if len(alternatives) < MAX_GROUPS and lexicon is not None and len(parsed.plain) <= MAX_PINYIN_QUERY:
            remaining = _pinyin(remaining, lexicon, alternatives)
        if remaining != list(words):
            replaced.add(index)
        kept_words.append(remaining)
    if not alternatives:
        return parsed
    while math.prod(map(len, alternatives)) > MAX_COMBINATIONS:  # the last alternatives of the largest go
        largest = max(range(len(alternatives)), key=lambda i: len(alternatives[i]))
        alternatives[largest] = alternatives[largest][:-1]
    words = tuple(dict.fromkeys(w for group in kept_words for w in group))[:MAX_TERMS]
    chunks = tuple(c for c in parsed.chunks if c not in {parsed.groups[i][0] for i in replaced})
    return dataclasses.replace(parsed, words=words, chunks=chunks, alternatives=tuple(alternatives))


def _synonyms(chunk: str, words: list[str], synonyms: Synonyms, out: list[tuple[str, ...]]) -> list[str]:
    """The whole typed chunk if the file lists it, else each of its words the file lists."""
    whole = synonyms.expansions(chunk)
    if whole:
        out.append(whole)
        return []
    remaining = []
    for word in words:
        found = synonyms.expansions(word) if len(out) < MAX_GROUPS else ()
        if found:
            out.append(found)
        else:
            remaining.append(word)
    return remaining


def _pinyin(words: list[str], lexicon: Lexicon, out: list[tuple[str, ...]]) -> list[str]:
    """Each Latin run read as pinyin: with the typed chunk's hanzi words around it when the names
    hold them so (数字jj -> 数字经济), else with the hanzi word before it, else alone. Against hanzi,
    a Latin word the site holds keeps its own reading first, and a single letter its verbatim text."""
    remaining = list(words)
    i = 0
    while i < len(remaining) and len(out) < MAX_GROUPS:
        mixed = any(0 <= j < len(remaining) and _hanzi(remaining[j]) for j in (i - 1, i + 1))
        if not readable(remaining[i], lexicon, mixed):
            i += 1
            continue
        start, end = i, i + 1
        while start > 0 and _hanzi(remaining[start - 1]):
            start -= 1
        while end < len(remaining) and (_hanzi(remaining[end]) or readable(remaining[end], lexicon)):
            end += 1
        for lo, hi in dict.fromkeys([(start, end), (max(start, i - 1), i + 1), (i, i + 1)]):
            found = read_stretch(remaining[lo:hi], lexicon)
            if not found:
                continue
            if mixed and lexicon.holds(remaining[i]):  # 主题cj, cj a word of the site: 主题 and cj first
                out.append((remaining[i], *found))
                del remaining[i]
                break
            typed = "".join(remaining[lo:hi])
            # a letter against hanzi (A股, c语言, 被r): the typed text verbatim first
            out.append((typed, *(f for f in found if f != typed)) if mixed and len(remaining[i]) == 1 else found)
            remaining[lo:hi] = []
            i = lo
            break
        else:
            i += 1
    return remaining


def _hanzi(word: str) -> bool:
    return all(is_cjk(c) for c in word)
