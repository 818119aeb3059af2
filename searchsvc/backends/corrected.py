"""Backends: did-you-mean, over any backend. When the typed query finds nothing and a correction
from the site's lexicon finds posts, the correction's answer is given, named in `corrected`; when
the typed query finds a few posts (or only scattered characters of a word the site lacks) and a
correction finds more, `suggestion` names it. Corrections are ranked by what the backend counts."""

from __future__ import annotations

import dataclasses
import time

from searchsvc.analysis.segment import AnalysisSettings
from searchsvc.backends.base import Searcher
from searchsvc.ingest.lexicon import Lexicon
from searchsvc.search.corrections import Correction, closeness, corrections, may_correct, replace_typed
from searchsvc.search.model import SearchRequest, SearchResult
from searchsvc.search.parse import ParsedQuery

FEW = 3  # up to this many posts, a correction finding many more is suggested
MORE = 3  # "many more": at least this many times as many
MAX_COUNTS = 8  # backend counts one request may spend on corrections


class Corrected:
    """A Searcher that corrects what the one it wraps cannot find."""

    def __init__(self, inner: Searcher) -> None:
        self.inner = inner

    @property
    def site_url(self) -> str:
        return self.inner.site_url

    @property
    def analysis(self) -> AnalysisSettings:
        return self.inner.analysis

    def read(self, q: str) -> ParsedQuery:
        return self.inner.read(q)

    def lexicon(self) -> Lexicon | None:
        return self.inner.lexicon()

    def run(self, request: SearchRequest) -> SearchResult:
        started = time.perf_counter()
        result = self.inner.run(request)
        if result.total > FEW and not result.partial:
            return self._suggest(request, result, started) if request.page == 1 else result
        return self._correct(request, result, started)

    def _fixes(self, request: SearchRequest) -> list[Correction]:
        """The corrections to try; scattered characters only when no post holds them verbatim."""
        lexicon = self.inner.lexicon()
        if lexicon is None or not may_correct(request.q):
            return []
        found = corrections(self.inner.read(request.q), lexicon, self.inner.analysis)
        scattered = [f for f in found if f.scattered][:MAX_COUNTS // 2]  # each costs a count
        return [f for f in found if not f.scattered or (f in scattered and not self._count(request, f'"{f.typed}"'))]

    def _count(self, request: SearchRequest, q: str) -> int:
        return self.inner.run(dataclasses.replace(request, q=q, page=1, per_page=1)).total

    def _best(self, request: SearchRequest, fixes: list[Correction]) -> tuple[str | None, int]:
        """Greedily, fix by fix: the candidate closest to what was typed (closeness) with which the
        whole query finds posts, the one finding most among equally close ones."""
        q, found, spent = request.q, 0, 0
        for fix in fixes:
            best: tuple[int, int, str] | None = None
            for candidate in fix.candidates:
                text = replace_typed(q, fix.typed, candidate)
                if spent >= MAX_COUNTS or text == q:  # out of counts, or an earlier fix took its place
                    break
                spent += 1
                n = self._count(request, text)
                rank = (closeness(fix.typed, candidate), n)
                if n and (best is None or rank > best[:2]):
                    best = (*rank, text)
            if best is not None:
                found, q = best[1], best[2]
        return (q, found) if q != request.q else (None, 0)

    def _correct(self, request: SearchRequest, result: SearchResult, started: float) -> SearchResult:
        fixes = self._fixes(request)
        if not fixes:
            return result
        corrected, found = self._best(request, fixes)
        if corrected is None:
            return result
        if (result.total == 0 or result.partial) and not request.as_typed:
            answer = self.inner.run(dataclasses.replace(request, q=corrected))
            return dataclasses.replace(answer, request=request, corrected=corrected, took_ms=_ms(started))
        scattered = any(f.scattered for f in fixes)
        if found > result.total * MORE or (scattered and found) or (result.total == 0 and found):
            return dataclasses.replace(result, suggestion=corrected, took_ms=_ms(started))
        return result

    def _suggest(self, request: SearchRequest, result: SearchResult, started: float) -> SearchResult:
        fixes = [f for f in self._fixes(request) if f.scattered]
        if not fixes:
            return result
        corrected, found = self._best(request, fixes)
        if corrected is None or not found:
            return result
        return dataclasses.replace(result, suggestion=corrected, took_ms=_ms(started))

    def suggest(self, q: str, limit: int = 8) -> list[tuple[str, str]]:
        return self.inner.suggest(q, limit)

    def document_count(self) -> int:
        return self.inner.document_count()

    def explain(self, request: SearchRequest) -> str:
        return self.inner.explain(request)

    def close(self) -> None:
        self.inner.close()


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
