"""Search stage: parse — the user's text -> a ParsedQuery (pure, no index, no engine)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from searchsvc.analysis.normalize import is_cjk, normalize_spaced
from searchsvc.analysis.segment import AnalysisSettings, segment

MAX_QUERY_CHARS = 2000
MAX_TERMS = 32
FACET_FIELDS = {"category": "category", "tag": "tag", "author": "author"}

_TOKEN = re.compile(r'(-?)(?:(\w+):)?(?:"([^"]*)"?|(\S+))')
_OPERATORS = {"AND", "OR", "NOT", "&&", "||"}
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")


class QueryError(ValueError):
    """A request that cannot be answered as asked (bad page, bad date, ...)."""


@dataclass(frozen=True)
class ParsedQuery:
    """What the user asked for, normalized. Words must all match; phrases match verbatim."""

    raw: str
    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    chunks: tuple[str, ...] = ()
    plain: str = ""
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    filters: tuple[tuple[str, str], ...] = ()
    # Each group must match one of its texts; posts holding an earlier one rank first (the typed
    # word before its synonyms, a full pinyin reading before initials). See search.understand.
    alternatives: tuple[tuple[str, ...], ...] = ()

    @property
    def highlight_terms(self) -> tuple[str, ...]:
        """Longest first. A single character that jieba split off a longer chunk (的 of 北京的秋天)
        is not marked on its own; one the user typed alone is."""
        terms = {t for t in self.words + self.phrases + self.chunks + sum(self.alternatives, ()) if t.strip()}
        typed_alone = {words[0] for _, words in self.groups if len(words) == 1} | set(self.phrases) | set(sum(self.alternatives, ()))
        terms = {t for t in terms if len(t) > 1 or not is_cjk(t) or t in typed_alone}
        return tuple(sorted(terms, key=lambda t: (-len(t), t)))


def parse_query(text: str, analysis: AnalysisSettings = AnalysisSettings()) -> ParsedQuery:
    """Split the user's text into words, "phrases", -exclusions and field:value filters.

    Every string parses: syntax characters that do not form one of these are ordinary text.
    """
    text = text[:MAX_QUERY_CHARS]
    words: list[str] = []
    phrases: list[str] = []
    excluded: list[str] = []
    chunks: list[str] = []
    plain: list[str] = []
    groups: list[tuple[str, tuple[str, ...]]] = []
    filters: list[tuple[str, str]] = []
    for match in _TOKEN.finditer(text):
        minus, fieldname, quoted, bare = match.groups()
        value = quoted if quoted is not None else bare
        if fieldname and fieldname.lower() in FACET_FIELDS and value.strip():
            filters.append((FACET_FIELDS[fieldname.lower()], value.strip()))
            continue
        if fieldname:  # an unknown field: the whole thing is text
            value = f"{fieldname}:{value}"
        if quoted is None and not minus and value in _OPERATORS:
            continue
        norm = normalize_spaced(value)
        if not norm:
            continue
        if minus:  # the whole text, as a substring: -区块链 must not exclude every post with 链
            if _words_of(norm, analysis):
                excluded.append(_EDGE_PUNCT.sub("", norm) or norm)
        elif quoted is not None:
            if _words_of(norm, analysis):
                phrases.append(norm)
        else:
            found = _words_of(norm, analysis)
            words.extend(found)
            plain.append(norm)
            if found:
                groups.append((norm, tuple(found)))
            if len(found) > 1:
                chunks.append(_EDGE_PUNCT.sub("", norm))
    return ParsedQuery(
        raw=text,
        words=_unique(words)[:MAX_TERMS],
        phrases=_unique(phrases)[:MAX_TERMS],
        excluded=_unique(excluded)[:MAX_TERMS],
        chunks=_unique(chunks)[:MAX_TERMS],
        plain=" ".join(plain),
        groups=tuple(groups),
        filters=tuple(filters),
    )


def _words_of(norm: str, analysis: AnalysisSettings) -> list[str]:
    return [w for w, _, _, _ in segment(norm, False, analysis.engine, analysis.userdict)]


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
