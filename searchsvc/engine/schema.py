"""Engine: the Whoosh schema, its posting formats, and a Post as a Whoosh document."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Iterator

from whoosh.fields import DATETIME, ID, KEYWORD, STORED, TEXT, Schema
from whoosh.formats import Format, Positions, tokens

from searchsvc.analysis.normalize import normalize_spaced
from searchsvc.analysis.segment import AnalysisSettings
from searchsvc.engine.codec import positions as packed
from searchsvc.engine.tokenizers import (
    BaseTokenizer,
    CharTokenizer,
    JiebaTokenizer,
    SubstringTokenizer,
)
from searchsvc.ingest.posts import Post

# The stored field holding a substring field's text, where a long phrase is confirmed.
STORED_TEXT = {"title_sub": "title", "body_sub": "text"}


class PackedPositions(Positions):  # type: ignore[misc]
    """Positions as a packed array of deltas: 3 bytes for the usual single position, not Whoosh's
    13-byte pickle, and decoded by C code (the substring matcher decodes one per candidate post)."""

    def word_values(self, value: Any, analyzer: Any, **kwargs: Any) -> Iterator[tuple[str, int, float, bytes]]:
        if not isinstance(analyzer, BaseTokenizer) or isinstance(value, (list, tuple)):
            return super().word_values(value, analyzer, **kwargs)  # type: ignore[no-any-return]
        poses: dict[str, list[int]] = {}
        weights: defaultdict[str, float] = defaultdict(float)
        for text, _, _, pos, boost in analyzer.terms_of(value, kwargs.get("mode", "")):
            found = poses.get(text)
            if found is None:
                poses[text] = [pos]
            else:
                found.append(pos)
            weights[text] += boost
        fb = self.field_boost
        return ((w, len(ps), weights[w] * fb, self.encode(ps)) for w, ps in poses.items())

    def encode(self, poslist: list[int]) -> bytes:
        return packed.encode(poslist)

    def decode_positions(self, value: bytes) -> list[int]:
        return packed.decode(value)

    def decode_frequency(self, value: bytes) -> int:
        return packed.count(value)

    def decode_weight(self, value: bytes) -> float:
        return self.decode_frequency(value) * self.field_boost  # type: ignore[no-any-return]


class WeightOnly(Format):  # type: ignore[misc]
    """Term frequency kept only as the posting's weight (what BM25F reads); no per-posting value.

    Whoosh's Frequency format stores the same count twice: as the weight and as a packed value.
    """

    posting_size = 0

    def __init__(self, field_boost: float = 1.0) -> None:
        self.field_boost = field_boost
        self.options: dict[str, Any] = {}

    def word_values(self, value: Any, analyzer: Any, **kwargs: Any) -> Iterator[tuple[str, int, float, bytes]]:
        counts: Counter[str] = Counter()
        weights: defaultdict[str, float] = defaultdict(float)
        if isinstance(analyzer, BaseTokenizer) and not isinstance(value, (list, tuple)):
            for text, _, _, _, boost in analyzer.terms_of(value, kwargs.get("mode", "")):
                counts[text] += 1
                weights[text] += boost
        else:
            kwargs["boosts"] = True
            for t in tokens(value, analyzer, kwargs):
                counts[t.text] += 1
                weights[t.text] += t.boost
        fb = self.field_boost
        return ((w, n, weights[w] * fb, b"") for w, n in counts.items())

    def encode(self, value: Any) -> bytes:
        return b""

    def decode_frequency(self, value: bytes) -> int:
        return 1

    def decode_weight(self, value: bytes) -> float:
        return self.field_boost  # type: ignore[no-any-return]


def _text(analyzer: Any, positions: bool, field_boost: float = 1.0, stored: bool = False) -> TEXT:
    field = TEXT(analyzer=analyzer, phrase=positions, field_boost=field_boost, stored=stored)
    field.format = PackedPositions(field_boost=field_boost) if positions else WeightOnly(field_boost=field_boost)
    return field


def build_schema(analysis: AnalysisSettings = AnalysisSettings()) -> Schema:
    # Words hold CJK words only: other words are terms of the substring fields already.
    words = JiebaTokenizer(analysis.engine, analysis.userdict, cjk_only=True)
    facet = dict(stored=True, lowercase=False, scorable=False, commas=True)
    return Schema(
        id=ID(stored=True, unique=True, sortable=True),
        hash=ID(sortable=True),
        title=_text(words, positions=False, field_boost=2.0, stored=True),
        title_sub=_text(SubstringTokenizer(), positions=True, field_boost=2.0),
        title_chr=_text(CharTokenizer(), positions=False, field_boost=2.0),
        title_exact=ID(),
        body=_text(words, positions=False),
        body_sub=_text(SubstringTokenizer(), positions=True),
        body_chr=_text(CharTokenizer(), positions=False),
        text=STORED(),
        url=STORED(),
        image=STORED(),
        date=DATETIME(stored=True, sortable=True),
        category=KEYWORD(**facet),
        tag=KEYWORD(**facet),
        author=KEYWORD(**facet),
    )


def post_fields(post: Post) -> dict[str, Any]:
    """One Post as the values of one Whoosh document."""
    return dict(
        id=post.id,
        hash=post.content_hash,
        title=post.title,
        title_sub=post.title,
        title_chr=post.title,
        title_exact=normalize_spaced(post.title),
        body=post.body,
        body_sub=post.body,
        body_chr=post.body,
        text=post.body,  # as text: compressing it cost 0.26 ms a post for 0.9% less disk
        url=post.url,
        image=post.image,
        date=post.date,
        category=list(post.categories),
        tag=list(post.tags),
        author=list(post.authors),
    )
