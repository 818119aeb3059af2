"""Search stage, part one: the user's text -> a parsed query -> Whoosh queries (pure, no index)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from whoosh import query as wq
from whoosh.query.compound import PreloadedOr

from searchsvc.analysis import AnalysisSettings, is_cjk, normalize_spaced, segment, substring_units
from searchsvc.substring import Substring

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

    @property
    def highlight_terms(self) -> tuple[str, ...]:
        """Longest first. A single character that jieba split off a longer chunk (的 of 北京的秋天)
        is not marked on its own; one the user typed alone is."""
        terms = {t for t in self.words + self.phrases + self.chunks if t.strip()}
        typed_alone = {words[0] for _, words in self.groups if len(words) == 1} | set(self.phrases)
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


# --- Whoosh queries ------------------------------------------------------------------------

TITLE_BOOST = 3.0
VERBATIM_BOOST = 25.0
EXACT_TITLE_BOOST = 25.0


def substring_query(prefix: str, text: str, boost: float = 1.0) -> wq.Query:
    """Posts whose field `prefix` contains `text` verbatim (after normalization)."""
    units = [u for u, _, _ in substring_units(text)]
    if not units:
        return wq.NullQuery
    extra: list[wq.Query] = []
    last = units[-1]
    if len(last) == 1 and is_cjk(last) and len(units) > 1:
        # The text's last character may be followed by another in the post, where the index holds
        # their bigram instead; the bigram before it already covers it, else require it apart.
        units.pop()
        if not (len(units[-1]) == 2 and is_cjk(units[-1][-1]) and units[-1][-1] == last):
            extra.append(wq.Term(prefix + "_chr", last))
    if len(units) == 1 and len(units[0]) == 1 and is_cjk(units[0]):
        core: wq.Query = wq.Term(prefix + "_chr", units[0])
    elif len(units) == 1:
        core = wq.Term(prefix + "_sub", units[0])
    else:
        core = Substring(prefix + "_sub", units)
    q = wq.And([core] + extra) if extra else core
    q.boost = boost
    return q


def word_query(word: str, alone: bool = False) -> wq.Query:
    """One query word: as a substring of title or body; whole jieba words rank higher.

    Words of one or two characters are single terms of the substring fields, whose postings weigh
    whole-word occurrences more (analysis.WHOLE_WORD_BONUS). Longer CJK words are phrases there, so
    their whole-word signal comes from the word fields. A word alone in its query has to visit
    every post it matches, which Whoosh's preloading union does fastest; a word beside other words
    or filters is mostly skipped over by the intersection, which its binary union does better
    (measured at 10k posts).
    """
    subs = [substring_query("title", word, TITLE_BOOST), substring_query("body", word)]
    if len(word) > 2 and any(is_cjk(c) for c in word):
        subs = [wq.Term("title", word, boost=TITLE_BOOST), wq.Term("body", word)] + subs
    return PreloadedOr(subs) if alone else wq.Or(subs)


def phrase_query(phrase: str) -> wq.Query:
    return wq.Or([substring_query("title", phrase, TITLE_BOOST), substring_query("body", phrase)])


def filter_query(
    filters: tuple[tuple[str, str], ...], date_from: dt.datetime | None = None, date_to: dt.datetime | None = None
) -> wq.Query | None:
    """Repeating one facet means any of its values; different facets must all hold."""
    by_field: dict[str, list[str]] = {}
    for name, value in filters:
        by_field.setdefault(name, []).append(value)
    parts: list[wq.Query] = [wq.Or([wq.Term(name, v) for v in values]) for name, values in sorted(by_field.items())]
    if date_from or date_to:
        parts.append(wq.DateRange("date", date_from, date_to))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else wq.And(parts)


@dataclass(frozen=True)
class QueryPlan:
    """The Whoosh queries for one parsed query: what must match, what ranks higher, what filters."""

    required: wq.Query
    boost: wq.Query | None
    exclude: wq.Query | None
    filters: wq.Query | None
    words: tuple[wq.Query, ...] = field(default=())
    ranked: bool = True  # False when only filters were given: nothing to rank by

    def combined(self, required: wq.Query | None = None) -> wq.Query:
        q = required or self.required
        if self.boost is not None:
            q = wq.AndMaybe(q, self.boost)
        if self.filters is not None:
            q = wq.And([q, self.filters])
        if self.exclude is not None:
            q = wq.AndNot(q, self.exclude)
        return q

    def __str__(self) -> str:
        return str(self.combined())


def build_plan(
    parsed: ParsedQuery, extra_filters: tuple[tuple[str, str], ...] = (),
    date_from: dt.datetime | None = None, date_to: dt.datetime | None = None,
) -> QueryPlan:
    narrowed = bool(parsed.filters or extra_filters or date_from or date_to)
    alone = len(parsed.words) + len(parsed.phrases) == 1 and not narrowed
    words = tuple(word_query(w, alone) for w in parsed.words)
    required_parts = list(words) + [phrase_query(p) for p in parsed.phrases]
    filters = filter_query(parsed.filters + extra_filters, date_from, date_to)
    required: wq.Query = wq.NullQuery
    if required_parts:
        required = required_parts[0] if len(required_parts) == 1 else wq.And(required_parts)
    elif filters is not None:
        required = wq.Every()  # a filter alone lists every post it admits
    boosts: list[wq.Query] = []
    for chunk in parsed.chunks:
        boosts += [substring_query("title", chunk, VERBATIM_BOOST * TITLE_BOOST), substring_query("body", chunk, VERBATIM_BOOST)]
    if parsed.plain:
        boosts.append(wq.Term("title_exact", parsed.plain, boost=EXACT_TITLE_BOOST))
    excluded = [phrase_query(e) for e in parsed.excluded] + [wq.Term("title", e) for e in parsed.excluded]
    return QueryPlan(
        required=required,
        boost=wq.Or(boosts) if boosts else None,
        exclude=wq.Or(excluded) if excluded else None,
        filters=filters,
        words=words,
        ranked=bool(required_parts),
    )
