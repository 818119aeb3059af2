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
MAX_TYPED = 32  # nor a query longer than this: pasted, not typed through an input method (and
# each scattered run of it would cost a count: a 2,000-character paste cost 24 ms at 10k posts)
MAX_CHUNK = 8


@dataclass(frozen=True)
class Correction:
    """A typed text the site lacks and what it may have meant. `scattered`: a chunk no word of the
    site spells, which jieba only splits into single characters (检锁 -> 检 锁): those may match
    posts holding both characters anywhere, and the correction is named even then."""

    typed: str
    candidates: tuple[str, ...]
    scattered: bool = False


def may_correct(q: str) -> bool:
    """False for a query too long to be corrected whatever it parses to (no need to read it again)."""
    return len(q.strip()) <= 4 * MAX_TYPED


def corrections(parsed: ParsedQuery, lexicon: Lexicon, analysis: AnalysisSettings) -> list[Correction]:
    if not parsed.groups or len(parsed.groups) > MAX_GROUPS or len(parsed.plain) > MAX_TYPED:
        return []
    found: list[Correction] = []
    for chunk, words in parsed.groups:
        whole = len(words) > 1 and 2 <= len(chunk) <= MAX_CHUNK and all(is_cjk(c) for c in chunk)
        if whole and not lexicon.holds(chunk):  # the whole chunk first: 糟糕透鐤 -> 糟糕透顶, 中海哊 -> 中海油
            found += _correct(chunk, lexicon, analysis, scattered=True)
        for run in _single_character_runs(words):
            if not (whole and run == chunk) and not lexicon.holds(run):  # (检锁: the chunk is the run)
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
    ranked = tuple(sorted(counts, key=lambda w: (-closeness(text, w), -counts[w]))[:MAX_CANDIDATES])
    return [Correction(text, ranked, scattered)] if ranked else []


def closeness(typed: str, candidate: str) -> int:
    """How many characters a candidate keeps where they were typed: an input method's slip swaps
    one character of a word, so 几僭 meant 几件 (one kept) rather than 即将 (none), however many
    more posts hold 即将."""
    return sum(a == b for a, b in zip(typed, candidate))


def replace_typed(q: str, typed: str, correction: str) -> str:
    """The query text with the first occurrence of `typed` (normalized) replaced; typed in
    traditional or full-width characters, the original span is found through the normalization."""
    norm, origin = normalize_with_offsets(q)
    at = norm.find(typed)
    if at < 0:
        return q
    start, end = original_span(origin, at, at + len(typed))
    return q[:start] + correction + q[end:]
