"""Search stage: highlight — marked titles and best-window snippets, from stored text, without re-segmenting bodies."""

from __future__ import annotations

import html
import re

from searchsvc.analysis.normalize import normalize_with_offsets, original_span
from searchsvc.analysis.segment import AnalysisSettings, segment

DEFAULT_SNIPPET_CHARS = 120
MAX_MATCHES = 2000
# Where a snippet may start or end without cutting a word: sentence and clause punctuation, spaces.
_BREAK = re.compile(r"[\s。！？；，、：,.!?;:…—（）()「」“”《》\"'·]")


def find_spans(text: str, terms: tuple[str, ...]) -> tuple[list[tuple[int, int]], list[int]]:
    """Every occurrence of the normalized terms in text, as merged original-text spans.

    Returns the spans and, per span, a bit set of which terms it holds (for window choice).
    """
    norm, origin = normalize_with_offsets(text)
    found: list[tuple[int, int, int]] = []
    for bit, term in enumerate(terms):
        if not term:
            continue
        start = norm.find(term)
        while start != -1 and len(found) < MAX_MATCHES:
            found.append((start, start + len(term), 1 << bit))
            start = norm.find(term, start + 1)
    found.sort()
    spans: list[tuple[int, int]] = []
    masks: list[int] = []
    for start, end, mask in found:
        ostart, oend = original_span(origin, start, end)
        if spans and ostart <= spans[-1][1]:  # overlapping or touching: one mark
            spans[-1] = (spans[-1][0], max(spans[-1][1], oend))
            masks[-1] |= mask
        else:
            spans.append((ostart, oend))
            masks.append(mask)
    return spans, masks


def mark(text: str, spans: list[tuple[int, int]], start: int = 0, end: int | None = None) -> str:
    """HTML-escape text[start:end] with <mark> around the spans inside it."""
    end = len(text) if end is None else end
    out: list[str] = []
    pos = start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        out.append(html.escape(text[pos:s]))
        out.append("<mark>" + html.escape(text[s:e]) + "</mark>")
        pos = e
    out.append(html.escape(text[pos:end]))
    return "".join(out)


def mark_title(title: str, terms: tuple[str, ...]) -> str:
    spans, _ = find_spans(title, terms)
    return mark(title, spans)


def _best_window(spans: list[tuple[int, int]], masks: list[int], width: int) -> tuple[int, int]:
    """Indices [i, j) of spans fitting one window: most distinct terms, then most occurrences."""
    best = (0, 0, 0, 1)
    j = 0
    for i in range(len(spans)):
        j = max(j, i + 1)
        while j < len(spans) and spans[j][1] - spans[i][0] <= width:
            j += 1
        mask = 0
        for m in masks[i:j]:
            mask |= m
        score = (bin(mask).count("1"), j - i)
        if score > best[:2]:
            best = (score[0], score[1], i, j)
    return best[2], best[3]


def _snap_start(text: str, want: int, limit: int, analysis: AnalysisSettings) -> int:
    """A start at or before `limit` near `want`, right after punctuation, else at a word boundary."""
    want = max(0, want)
    if want == 0:
        return 0
    lo = max(0, want - 24)
    breaks = [m.end() for m in _BREAK.finditer(text, lo, limit)]
    if breaks:
        return min(breaks, key=lambda b: abs(b - want))
    return _word_boundary(text, want, lo, limit, analysis)


def _snap_end(text: str, want: int, floor: int, analysis: AnalysisSettings) -> int:
    """An end at or after `floor` near `want`, just after punctuation, else at a word boundary."""
    if want >= len(text):
        return len(text)
    hi = min(len(text), want + 16)
    breaks = [m.start() for m in _BREAK.finditer(text, floor, hi)]
    if breaks:
        return max(floor, min(breaks, key=lambda b: abs(b - want)))
    return _word_boundary(text, want, floor, hi, analysis)


def _word_boundary(text: str, want: int, lo: int, hi: int, analysis: AnalysisSettings) -> int:
    """The jieba word boundary in text[lo:hi] nearest to `want`; segments only that short piece."""
    if hi <= lo:
        return lo
    piece = text[lo:hi]
    norm, origin = normalize_with_offsets(piece)
    bounds = {lo, hi}
    for _, s, e, _ in segment(norm, False, analysis.engine, analysis.userdict):
        bounds.update(lo + b for b in original_span(origin, s, e))
    return min(bounds, key=lambda b: abs(b - want))


def make_snippet(
    text: str, terms: tuple[str, ...], width: int = DEFAULT_SNIPPET_CHARS,
    analysis: AnalysisSettings = AnalysisSettings(),
) -> str:
    """The best window of about `width` characters around the query terms, marked and escaped."""
    spans, masks = find_spans(text, terms)
    if spans:
        i, j = _best_window(spans, masks, width)
        first, last = spans[i][0], spans[j - 1][1]
        slack = max(0, width - (last - first))
        start = _snap_start(text, first - min(slack // 3, 40), first, analysis)
        end = _snap_end(text, max(last, start + width), last, analysis)
        # Never cut a mark in two at either edge.
        start = min([start] + [s for s, e in spans if s < start < e])
        end = max([end] + [e for s, e in spans if s < end < e])
    else:
        start, end = 0, _snap_end(text, width, min(len(text), width // 2), analysis)
    body = mark(text, spans, start, end).replace("\n", " ")
    return ("…" if start > 0 else "") + body.strip() + ("…" if end < len(text) else "")
