"""Analysis stage: pinyin — the toneless readings of Chinese text (pypinyin's phrase dictionary over
jieba's words, every reading kept where that does not settle one), how a Latin run parses as
pinyin (syllables, the last maybe unfinished, or initials), and the fuzzy sound key of a word."""

from __future__ import annotations

import functools
import itertools
import re

from searchsvc.analysis.normalize import is_cjk
from searchsvc.analysis.segment import AnalysisSettings, segment

MAX_PARSES = 8
MAX_RUN = 48  # letters: a title stretch; longer runs are not read as pinyin
# Finals and initials an input method's user confuses (南方口音): z/zh, c/ch, s/sh, n/l, an/ang, en/eng, in/ing.
_FUZZY_INITIAL = re.compile(r"^(zh|ch|sh|l)")
_FUZZY_FINAL = re.compile(r"(ang|eng|ing)$")
_FUZZY = {"zh": "z", "ch": "c", "sh": "s", "l": "n", "ang": "an", "eng": "en", "ing": "in"}
# Readers type ü as v, and lüe / nüe often as lue / nue.
_ALIASES = {"lue": "lve", "nue": "nve"}
_LATIN_RUN = re.compile(r"^[a-z]+$")

Reading = tuple[str, ...]  # one character's readings, most common first; () for a non-Chinese character


@functools.lru_cache(maxsize=1)
def syllables() -> frozenset[str]:
    """Every toneless syllable pypinyin knows (ü written v), plus the common spellings lue/nue."""
    from pypinyin.constants import PINYIN_DICT
    from pypinyin.contrib.tone_convert import to_normal

    found = {to_normal(r) for value in PINYIN_DICT.values() for r in value.split(",")}
    return frozenset({s for s in found if _LATIN_RUN.match(s)} | set(_ALIASES))


@functools.lru_cache(maxsize=1)
def _prefixes() -> frozenset[str]:
    return frozenset(s[:i] for s in syllables() for i in range(1, len(s) + 1))


@functools.lru_cache(maxsize=1)
def _phrases() -> dict[str, list[list[str]]]:
    """pypinyin's phrase dictionary, loaded by the processes that index (a reindex, `watch`): a
    server reads queries character by character and never needs it. Loaded by pypinyin itself at
    import, with a copy, it cost every server worker 58 MB (serve sets PYPINYIN_NO_PHRASES)."""
    from pypinyin.phrases_dict import phrases_dict

    return phrases_dict  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=65536)
def _char_readings(char: str) -> Reading:
    from pypinyin import Style, pinyin

    found = pinyin(char, style=Style.NORMAL, heteronym=True)
    if len(found) != 1:
        return ()
    return tuple(dict.fromkeys(r for r in found[0] if _LATIN_RUN.match(r)))


def _word_readings(word: str, phrases: bool) -> tuple[Reading, ...]:
    """A jieba word's readings: the phrase dictionary's, when asked for and it holds the word;
    else every reading of each Chinese character."""
    if phrases and len(word) > 1:
        found = _phrases().get(word)
        if found and len(found) == len(word):
            from pypinyin.contrib.tone_convert import to_normal

            read = tuple(tuple(dict.fromkeys(n for n in map(to_normal, r) if _LATIN_RUN.match(n))) for r in found)
            if all(read):
                return read
    return tuple(_char_readings(c) if is_cjk(c) else () for c in word)


def readings(norm: str, analysis: AnalysisSettings = AnalysisSettings(), phrases: bool = False) -> list[Reading]:
    """Per character of normalized text, its readings: with `phrases` (what a reindex reads), a
    jieba word in pypinyin's phrase dictionary reads as the dictionary says; any other character
    keeps every reading it has (as a typed query is read)."""
    out: list[Reading] = [() for _ in norm]
    for word, start, end, _ in segment(norm, False, analysis.engine, analysis.userdict):
        if any(is_cjk(c) for c in word):
            out[start:end] = _word_readings(word, phrases)
    return out


def initials_of(reading: Reading) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r[0] for r in reading))


def is_latin_run(text: str) -> bool:
    return bool(_LATIN_RUN.match(text))


def parse_syllables(run: str) -> list[tuple[str, ...]]:
    """The ways a Latin run splits into syllables, the last perhaps unfinished (`shuzij`); fewest
    syllables first, at most MAX_PARSES. [] when it does not parse (or is longer than MAX_RUN)."""
    if not run or len(run) > MAX_RUN:
        return []
    known, prefixes = syllables(), _prefixes()
    # tails[i]: the parses of run[i:], fewest syllables first (linear work: a bounded list per position)
    tails: list[list[tuple[str, ...]]] = [[] for _ in range(len(run))] + [[()]]
    for i in range(len(run) - 1, -1, -1):
        found: list[tuple[str, ...]] = []
        for end in range(i + 1, min(len(run), i + 6) + 1):
            head = run[i:end]
            if end == len(run) and head in prefixes:
                found.append((_ALIASES.get(head, head),))
            elif head in known:
                found += [(_ALIASES.get(head, head),) + tail for tail in tails[end]]
        tails[i] = sorted(dict.fromkeys(found), key=len)[:MAX_PARSES]
    return tails[0]


def parse_initials(run: str) -> tuple[str, ...] | None:
    """A run of two or more initials (`szjj`): letters a syllable can start with."""
    starts = {s[0] for s in syllables()}
    if not 2 <= len(run) <= MAX_RUN or not all(c in starts for c in run):
        return None
    return tuple(run)


def sound_keys(norm: str, analysis: AnalysisSettings = AnalysisSettings(), limit: int = 8,
               phrases: bool = False) -> list[str]:
    """The fuzzy toneless readings of a Chinese word (检索 -> jian suo), one per polyphone reading up
    to `limit` (`phrases`: as readings()); [] when a character has no reading."""
    per_char = readings(norm, analysis, phrases)
    if not per_char or any(not r for r in per_char):
        return []
    keys = (" ".join(fuzzy(s) for s in combo) for combo in itertools.product(*per_char))
    return list(dict.fromkeys(itertools.islice(keys, limit)))


def fuzzy(syllable: str) -> str:
    """A syllable with the pairs an input method's user confuses folded together."""
    syllable = _FUZZY_INITIAL.sub(lambda m: _FUZZY[m.group(1)], syllable)
    return _FUZZY_FINAL.sub(lambda m: _FUZZY[m.group(1)], syllable)
