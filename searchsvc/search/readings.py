"""Search stage: readings — a Latin run typed where hanzi were meant (`shuzijingji`, `szjj`,
`数字jj`) -> the stretches of the site's titles, tags, categories and authors that read so.

A run is read only when it parses as pinyin (syllables, the last maybe unfinished; or initials)
and the site does not hold it as a Latin word (`python` stays python). Hanzi typed beside it must
be those very characters: hanzi are never matched by reading.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from searchsvc.analysis.normalize import is_cjk
from searchsvc.analysis.pinyin import initials_of, is_latin_run, parse_initials, parse_syllables, readings, syllables
from searchsvc.ingest.lexicon import Lexicon, Name

MAX_READINGS = 6  # stretches one run may stand for
MIN_RUN = 2


@dataclass(frozen=True)
class Unit:
    """One character of a stretch as typed: a hanzi itself, a syllable (the last perhaps
    unfinished), or an initial."""

    kind: str  # "hanzi", "syllable", "prefix", "initial"
    text: str

    def matches(self, char: str, reading: tuple[str, ...]) -> bool:
        if self.kind == "hanzi":
            return char == self.text
        if self.kind == "syllable":
            return self.text in reading
        return any(r.startswith(self.text) for r in reading)  # a prefix, or an initial


def readable(word: str, lexicon: Lexicon, mixed: bool = False) -> bool:
    """Whether a typed word is read as pinyin: letters only, and no post holds it as a word; typed
    against hanzi (`主题cj`, `被r`), also a single letter or a word some post holds (the typed
    text is then searched first, search.understand)."""
    if not is_latin_run(word):
        return False
    return mixed or (len(word) >= MIN_RUN and not lexicon.holds(word))


def read_stretch(parts: list[str], lexicon: Lexicon) -> tuple[str, ...]:
    """The stretches of names that the typed parts read as — hanzi words as themselves, Latin runs
    as pinyin — full readings first, then initials; each kind by how many posts hold it."""
    full, initial = Counter[str](), Counter[str]()
    for units in _full_units(parts):
        for key in _keys(units, full=True):
            _collect(units, lexicon.names_by_full(key), full)
    if not full:
        for units in _initial_units(parts):
            for key in _keys(units, full=False):
                _collect(units, lexicon.names_by_initials(key), initial)
    ranked = [t for t, _ in full.most_common()] + [t for t, _ in initial.most_common() if t not in full]
    return tuple(ranked[:MAX_READINGS])


def _hanzi(part: str) -> list[Unit] | None:
    return [Unit("hanzi", c) for c in part] if all(is_cjk(c) for c in part) else None


def _full_units(parts: list[str]) -> list[list[Unit]]:
    options: list[list[list[Unit]]] = []
    for i, part in enumerate(parts):
        fixed = _hanzi(part)
        if fixed is not None:
            options.append([fixed])
            continue
        last = i == len(parts) - 1
        parses = [p for p in parse_syllables(part) if last or _complete(p)]
        options.append([[Unit("prefix" if last and j == len(p) - 1 else "syllable", s) for j, s in enumerate(p)]
                        for p in parses])
    return [sum(combo, []) for combo in itertools.islice(itertools.product(*options), 8)] if all(options) else []


def _complete(parse: tuple[str, ...]) -> bool:
    return parse[-1] in syllables()


def _initial_units(parts: list[str]) -> list[list[Unit]]:
    units: list[Unit] = []
    for part in parts:
        fixed = _hanzi(part)
        if fixed is None:
            letters = parse_initials(part)
            if letters is None:
                return []
            fixed = [Unit("initial", c) for c in letters]
        units += fixed
    return [units]


def _keys(units: list[Unit], full: bool) -> list[str]:
    """What the trigram index is asked for: the stretch's joined readings (a typed hanzi by each of
    its readings, up to four combinations)."""
    options = []
    for unit in units:
        if unit.kind == "hanzi":
            reading = readings(unit.text)[0]
            options.append(reading if full else initials_of(reading))
        else:
            options.append((unit.text,))
    if not all(options):
        return []
    return ["".join(combo) for combo in itertools.islice(itertools.product(*options), 4)]


def _collect(units: list[Unit], names: Iterable[Name], into: Counter[str]) -> None:
    """The stretches of the names the units spell, over the characters that have a reading (what
    lies between them, such as the colon of 入门教程五：网格, is part of the stretch, not typed)."""
    for name in names:
        at = [k for k, reading in enumerate(name.chars) if reading]
        for start in range(len(at) - len(units) + 1):
            if all(u.matches(name.text[at[start + j]], name.chars[at[start + j]]) for j, u in enumerate(units)):
                into[name.text[at[start]:at[start + len(units) - 1] + 1]] += name.posts
