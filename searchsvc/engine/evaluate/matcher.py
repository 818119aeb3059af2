"""Engine, evaluating: Substring, an exact substring as a phrase of bigram terms, and its matcher
for Whoosh's own searching, verified with position sets.

Whoosh's own Phrase runs every candidate through its span machinery (~0.1 ms a document); this
matcher intersects the terms' posting lists and checks positions with C-level set operations.
The engine's evaluation over arrays is engine.evaluate.substring.
"""

from __future__ import annotations

from typing import Any, Iterator

from whoosh import matching
from whoosh.query import Phrase


class Substring(Phrase):  # type: ignore[misc]
    """Documents whose field holds the terms at consecutive positions (slop 1 only)."""

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        fieldname = self.fieldname
        if fieldname not in searcher.schema:
            return matching.NullMatcher()
        reader = searcher.reader()
        field = searcher.schema[fieldname]
        leaves = []
        rarest = None
        for word in self.words:
            btext = field.to_bytes(word)
            if (fieldname, btext) not in reader:
                return matching.NullMatcher()
            freq = reader.doc_frequency(fieldname, btext)
            if rarest is None or freq < rarest[0]:
                rarest = (freq, btext)
            leaves.append(reader.postings(fieldname, btext))
        assert rarest is not None
        weighting = context.weighting if context is not None else searcher.weighting
        scorer = weighting.scorer(searcher, fieldname, rarest[1]) if weighting is not None else None
        return _SubstringMatcher(leaves, scorer, self.boost * field.format.field_boost, field.format.decode_positions)


class _SubstringMatcher(matching.Matcher):  # type: ignore[misc]
    def __init__(self, leaves: list[Any], scorer: Any, boost: float, decode: Any) -> None:
        self._leaves = leaves
        self._decode = decode
        self._scorer = scorer
        self._boost = boost
        self._count = 0
        self._active = True
        self._find()

    def _align(self) -> bool:
        """Move every leaf to the same document; False when one runs out."""
        leaves = self._leaves
        while True:
            target = max(leaf.id() for leaf in leaves)
            aligned = True
            for leaf in leaves:
                if leaf.id() < target:
                    leaf.skip_to(target)
                    if not leaf.is_active():
                        return False
                    aligned = aligned and leaf.id() == target
            if aligned:
                return True

    def _occurrences(self) -> int:
        starts: set[int] | None = None
        for offset, leaf in enumerate(self._leaves):
            shifted = set(map((-offset).__add__, self._decode(leaf.value())))
            starts = shifted if starts is None else starts & shifted
            if not starts:
                return 0
        return len(starts) if starts else 0

    def _find(self) -> None:
        while self._active:
            if not all(leaf.is_active() for leaf in self._leaves) or not self._align():
                self._active = False
                return
            self._count = self._occurrences()
            if self._count:
                return
            self._leaves[0].next()

    def is_active(self) -> bool:
        return self._active

    def id(self) -> int:
        return self._leaves[0].id()  # type: ignore[no-any-return]

    def next(self) -> None:
        self._leaves[0].next()
        self._find()

    def skip_to(self, docid: int) -> None:
        if not self._active or self.id() >= docid:
            return
        for leaf in self._leaves:
            if leaf.is_active() and leaf.id() < docid:
                leaf.skip_to(docid)
        self._find()

    def weight(self) -> float:
        return float(self._count)

    def score(self) -> float:
        if self._scorer is None:  # matching without ranking (counting, deleting)
            return self._count * self._boost
        return self._scorer.score(self) * self._boost  # type: ignore[no-any-return]

    def supports_block_quality(self) -> bool:
        return False

    def max_quality(self) -> float:
        return 1e9  # no useful bound: never prune on it

    def supports(self, astype: str) -> bool:
        return astype in ("weight", "frequency")

    def copy(self) -> _SubstringMatcher:
        twin = _SubstringMatcher.__new__(_SubstringMatcher)
        twin._leaves = [leaf.copy() for leaf in self._leaves]
        twin._decode = self._decode
        twin._scorer, twin._boost, twin._count, twin._active = self._scorer, self._boost, self._count, self._active
        return twin

    def replace(self, minquality: float = 0) -> Any:
        return self if self._active else matching.NullMatcher()

    def children(self) -> list[Any]:
        return []

    def term_matchers(self) -> Iterator[Any]:
        return iter(())
