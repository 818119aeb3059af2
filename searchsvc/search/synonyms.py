"""Search stage: synonyms — the owner's file in Solr's format, applied to typed words at query time.

    肯德基, KFC, 开封菜     equivalent: any of them finds all three (the typed one ranks first)
    土豆 => 马铃薯          one way: 土豆 is searched as 马铃薯
    # a comment

Entries are normalized as queries are (traditional, full-width, case). The file is read again when
it changes; a line that does not parse is reported once and skipped, never fatal.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from searchsvc.analysis.normalize import normalize_spaced

log = logging.getLogger("searchsvc.synonyms")
CHECK_SECONDS = 1.0


def parse_synonyms(text: str, source: str = "synonyms") -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """The expansions of each normalized entry, and a message per line that does not parse."""
    table: dict[str, tuple[str, ...]] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.count("=>") > 1:
            problems.append(f"{source}:{number}: more than one '=>'")
            continue
        if "=>" in line:
            left, right = line.split("=>")
            sources, targets = _entries(left), _entries(right)
            if not sources or not targets:
                problems.append(f"{source}:{number}: '=>' needs words on both sides")
                continue
            for word in sources:
                table[word] = _merge(table.get(word, ()), targets)
            continue
        words = _entries(line)
        if len(words) < 2:
            problems.append(f"{source}:{number}: a line of equivalent words needs two or more, comma-separated")
            continue
        for word in words:
            table[word] = _merge(table.get(word, (word,)), (word, *words))
    return table, problems


def _entries(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(w for w in (normalize_spaced(p) for p in text.split(",")) if w))


def _merge(old: tuple[str, ...], new: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(old + new))


class Synonyms:
    """A synonyms file, reloaded when its modification time or size changes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._checked = 0.0
        self._stamp: tuple[int, int] | None = None
        self.table: dict[str, tuple[str, ...]] = {}
        self._load()

    def _load(self) -> None:
        try:
            stat = os.stat(self.path)
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp == self._stamp:
                return
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            if self._stamp is not None or not self.table:
                log.warning("synonyms file %s could not be read (%s); using no synonyms", self.path, exc)
            self.table, self._stamp = {}, None
            return
        table, problems = parse_synonyms(text, str(self.path))
        for problem in problems:
            log.warning("%s (line skipped)", problem)
        self.table, self._stamp = table, stamp

    def expansions(self, word: str) -> tuple[str, ...]:
        """What a typed (normalized) word stands for; () when the file does not list it."""
        now = time.monotonic()
        if now - self._checked >= CHECK_SECONDS:
            with self._lock:
                self._checked = now
                self._load()
        return self.table.get(word, ())
