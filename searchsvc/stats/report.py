"""Stats: what the query log reports — searches per day, top and zero-result queries, clicks, 热门搜索."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterator

from searchsvc.analysis.normalize import normalize_spaced
from searchsvc.stats.log import connect

POPULAR_DAYS = 7
POPULAR_MIN_SEARCHES = 2  # a query one reader typed once is never shown to every reader
MAX_LIMIT = 50


@dataclasses.dataclass(frozen=True)
class QueryCount:
    query: str  # the form readers typed most often
    searches: int


@dataclasses.dataclass(frozen=True)
class DayCount:
    day: dt.date
    searches: int
    zero_results: int


@dataclasses.dataclass(frozen=True)
class Report:
    days: int
    searches: int
    zero_results: int
    clicked: int  # searches with at least one click
    mean_position: float | None  # of the clicks, 1 = the first hit
    per_day: tuple[DayCount, ...]
    top: tuple[QueryCount, ...]
    top_zero: tuple[QueryCount, ...]

    @property
    def click_through(self) -> float:
        return self.clicked / self.searches if self.searches else 0.0


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[sqlite3.Connection | None]:
    """The log for reading, or None when there is none yet (no search was logged)."""
    if not Path(path).exists():
        yield None
        return
    db = connect(Path(path))  # its tables too, should a writer have only just created the file
    try:
        yield db
    finally:
        db.close()


def read_report(path: Path, days: int = 7, limit: int = 20, now: float | None = None) -> Report:
    """The last `days` days of the log (today included, in this machine's time zone)."""
    now = time.time() if now is None else now
    today = dt.datetime.fromtimestamp(now).date()
    first = today - dt.timedelta(days=days - 1)
    since = int(dt.datetime.combine(first, dt.time()).timestamp() // 60)
    with _reading(path) as db:
        if db is None:
            return Report(days, 0, 0, 0, None, tuple(DayCount(first + dt.timedelta(n), 0, 0) for n in range(days)), (), ())
        searches, zero = db.execute("SELECT count(*), coalesce(sum(hits = 0), 0) FROM searches WHERE minute >= ?",
                                    (since,)).fetchone()
        clicked, mean = db.execute(
            "SELECT count(DISTINCT c.search), avg(c.position) FROM clicks c JOIN searches s ON s.id = c.search "
            "WHERE s.minute >= ?", (since,)).fetchone()
        counted = {dt.date.fromisoformat(day): (n, z) for day, n, z in db.execute(
            "SELECT date(minute * 60, 'unixepoch', 'localtime') AS day, count(*), sum(hits = 0) FROM searches "
            "WHERE minute >= ? GROUP BY day", (since,))}
        per_day = tuple(DayCount(d, *counted.get(d, (0, 0))) for d in (first + dt.timedelta(n) for n in range(days)))
        return Report(days, searches, zero, clicked, mean, per_day, _top(db, since, limit, "1"),
                      _top(db, since, limit, "hits = 0"))


def _top(db: sqlite3.Connection, since: int, limit: int, where: str, least: int = 1,
         leave_out: frozenset[str] = frozenset()) -> tuple[QueryCount, ...]:
    """The most searched normalized queries among the rows `where` holds, each shown as typed most often."""
    rows = db.execute(
        f"SELECT normalized, count(*) AS n FROM searches WHERE minute >= ? AND ({where}) GROUP BY normalized "
        "HAVING n >= ? ORDER BY n DESC, max(id) DESC LIMIT ?", (since, least, min(limit, MAX_LIMIT) + len(leave_out)))
    out = []
    for normalized, count in rows.fetchall():
        if normalized in leave_out:
            continue
        typed = db.execute(f"SELECT typed FROM searches WHERE minute >= ? AND normalized = ? AND ({where}) "
                           "GROUP BY typed ORDER BY count(*) DESC, max(id) DESC LIMIT 1", (since, normalized)).fetchone()
        out.append(QueryCount(typed[0], count))
    return tuple(out[:limit])


def popular(path: Path, limit: int = 8, blocklist: frozenset[str] = frozenset(), now: float | None = None,
            ) -> tuple[QueryCount, ...]:
    """The week's most searched queries that found posts, searched at least POPULAR_MIN_SEARCHES
    times, less the owner's blocklist (normalized forms)."""
    now = time.time() if now is None else now
    with _reading(path) as db:
        if db is None:
            return ()
        since = int((now - POPULAR_DAYS * 86400) // 60)
        return _top(db, since, limit, "hits > 0", POPULAR_MIN_SEARCHES, blocklist)


def report_json(report: Report) -> dict[str, Any]:
    """The report as `searchsvc stats --json` prints it."""
    return {
        "days": report.days, "searches": report.searches, "zero_results": report.zero_results,
        "click_through": round(report.click_through, 4),
        "mean_click_position": round(report.mean_position, 2) if report.mean_position is not None else None,
        "per_day": [{"day": d.day.isoformat(), "searches": d.searches, "zero_results": d.zero_results}
                    for d in report.per_day],
        "top": [{"query": q.query, "searches": q.searches} for q in report.top],
        "top_zero_results": [{"query": q.query, "searches": q.searches} for q in report.top_zero],
    }


def report_lines(report: Report) -> list[str]:
    """The report as `searchsvc stats` prints it."""
    share = f"{report.zero_results / report.searches:.0%}" if report.searches else "0%"
    position = f"{report.mean_position:.1f}" if report.mean_position is not None else "-"
    lines = [f"searches in the last {report.days} days: {report.searches} (no results: {report.zero_results}, {share})",
             f"click-through: {report.click_through:.0%} (mean click position {position})", "per day:"]
    tallest = max((d.searches for d in report.per_day), default=0) or 1
    lines += [f"  {d.day.isoformat()}  {d.searches:>6}  {'#' * round(30 * d.searches / tallest)}" for d in report.per_day]
    for title, rows in (("top queries:", report.top), ("top queries with no results:", report.top_zero)):
        lines.append(title)
        lines += [f"  {n:>3}. {q.query}  {q.searches}" for n, q in enumerate(rows, 1)] or ["  (none)"]
    return lines


class Blocklist:
    """Queries never shown as popular: a text file, one per line (# starts a comment), compared
    normalized; read again when it changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._seen: tuple[float, int] | None = None
        self._queries: frozenset[str] = frozenset()

    def queries(self) -> frozenset[str]:
        if self.path is None:
            return frozenset()
        try:
            stat = self.path.stat()
        except OSError:
            return frozenset()
        if self._seen != (stat.st_mtime, stat.st_size):
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
            self._queries = frozenset(q for q in (normalize_spaced(line.split("#", 1)[0]) for line in lines) if q)
            self._seen = (stat.st_mtime, stat.st_size)
        return self._queries


@dataclasses.dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: dt.date
    searches: int


def chart_bars(per_day: tuple[DayCount, ...], width: float = 640, height: float = 160) -> tuple[Bar, ...]:
    """Bars of searches per day for an SVG `width` x `height` (the tallest bar fills the height)."""
    if not per_day:
        return ()
    tallest = max(d.searches for d in per_day) or 1
    step = width / len(per_day)
    gap = min(2.0, step / 4)
    return tuple(Bar(round(i * step + gap / 2, 2), round(height - height * d.searches / tallest, 2),
                     round(step - gap, 2), round(height * d.searches / tallest, 2), d.day, d.searches)
                 for i, d in enumerate(per_day))
