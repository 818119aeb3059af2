"""Search stage: what to answer when no post holds every word — the three-quarters fallback's
bar, and the narrower query named in `suggestion`. Each backend counts posts its own way."""

from __future__ import annotations

import math
from typing import Callable

from searchsvc.search.parse import ParsedQuery

Group = tuple[str, tuple[str, ...]]  # a typed chunk and its words
FALLBACK_SHARE = 0.75
MAX_GROUPS = 8


def words_needed(parsed: ParsedQuery) -> int | None:
    """How many of the query's words a post needs in the fallback, or None when there is no
    fallback: a phrase was typed, the query holds alternatives (synonyms, pinyin), or three
    quarters of the words would be all of them."""
    need = math.ceil(FALLBACK_SHARE * len(parsed.words))
    if parsed.phrases or parsed.alternatives or len(parsed.words) < 2 or need >= len(parsed.words):
        return None
    return need


def suggests(parsed: ParsedQuery) -> bool:
    """Whether a narrower query is looked for: for two to MAX_GROUPS typed chunks. A pasted
    passage has dozens, and a suggestion that keeps most of them helps no reader (at 100k posts,
    looking for one among 30 chunks took 22 s)."""
    return not parsed.alternatives and 2 <= len(parsed.groups) <= MAX_GROUPS


def narrower_query(groups: list[Group], counts: dict[str, int], matches: Callable[[list[Group]], bool]) -> str | None:
    """Drop the typed chunks that match nothing (`counts`: posts per chunk), then the rarest, until
    the rest together match (`matches`); None when nothing is left."""
    kept = [g for g in groups if counts[g[0]]]
    while kept:
        if matches(kept):
            return " ".join(text for text, _ in kept)
        kept.remove(min(kept, key=lambda g: counts[g[0]]))
    return None
