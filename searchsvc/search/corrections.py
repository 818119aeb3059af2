"""Search stage: corrections — words the reader typed that the site does not hold, and what the
site holds that sounds (or, for Latin words, is spelled) nearly the same: 检锁 -> 检索 (same
toneless reading), 森圳 -> 深圳, 新文 -> 新闻 (en/eng, in/ing, z/zh, c/ch, s/sh, n/l fold
together), pyhton -> python (one edit). Which correction is answered is decided by what the backend
counts (backends.corrected); a word the site holds is never corrected."""

from __future__ import annotations

from dataclasses import dataclass

from searchsvc.analysis.normalize import is_cjk, normalize_with_offsets, original_span
from searchsvc.analysis.pinyin import is_latin_run, sound_keys
from searchsvc.analysis.segment import AnalysisSettings
from searchsvc.ingest.lexicon import Lexicon
from searchsvc.search.parse import ParsedQuery

MAX_CANDIDATES = 3  # per typed word, most posts first
MAX_GROUPS = 8  # a longer paste is not corrected
MAX_CHUNK = 8


@dataclass(frozen=True)
class Correction:
    """A typed text the site lacks and what it may have meant. `scattered`: a chunk no word of the
    site spells, which jieba only splits into single characters (检锁 -> 检 锁): those may match
    posts holding both characters anywhere, and the correction is named even then."""

    typed: str
    candidates: tuple[str, ...]
    scattered: bool = False


def corrections(parsed: ParsedQuery, lexicon: Lexicon, analysis: AnalysisSettings) -> list[Correction]:
    if not parsed.groups or len(parsed.groups) > MAX_GROUPS:
        return []
    found: list[Correction] = []
    for _, words in parsed.groups:
        for run in _single_character_runs(words):
            if not lexicon.holds(run):
                found += _correct(run, lexicon, analysis, scattered=True)
        for word in words:
            if word not in parsed.words or lexicon.holds(word):
                continue  # read as pinyin or a synonym already, or held
            if len(word) >= 2 and all(is_cjk(c) for c in word):
                found += _correct(word, lexicon, analysis)
            elif len(word) >= 3 and is_latin_run(word):
                near = tuple(w for w, _ in lexicon.latin_near(word, MAX_CANDIDATES))
                found += [Correction(word, near)] if near else []
    return found


def _single_character_runs(words: tuple[str, ...]) -> list[str]:
    """Two to MAX_CHUNK Chinese characters in a row that jieba left as single-character words."""
    runs, current = [], ""
    for word in words + ("",):
        if len(word) == 1 and is_cjk(word):
            current += word
            continue
        if 2 <= len(current) <= MAX_CHUNK:
            runs.append(current)
        current = ""
    return runs


def _correct(text: str, lexicon: Lexicon, analysis: AnalysisSettings, scattered: bool = False) -> list[Correction]:
    counts: dict[str, int] = {}
    for key in sound_keys(text, analysis):
        for word, posts in lexicon.sounding_like(key, len(text)):
            if word != text:
                counts[word] = max(posts, counts.get(word, 0))
    ranked = tuple(sorted(counts, key=lambda w: -counts[w])[:MAX_CANDIDATES])
    return [Correction(text, ranked, scattered)] if ranked else []


def replace_typed(q: str, typed: str, correction: str) -> str:
    """The query text with the first occurrence of `typed` (normalized) replaced; typed in
    traditional or full-width characters, the original span is found through the normalization."""
    norm, origin = normalize_with_offsets(q)
    at = norm.find(typed)
    if at < 0:
        return q
    start, end = original_span(origin, at, at + len(typed))
    return q[:start] + correction + q[end:]
