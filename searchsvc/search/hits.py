"""Search stage: hits — a found post's stored fields, as a backend read them, -> the Hit a reader
sees: its title marked and a snippet of its body around the query's terms."""

from __future__ import annotations

import datetime as dt

from searchsvc.analysis.segment import AnalysisSettings
from searchsvc.search.highlight import make_snippet, mark_title
from searchsvc.search.model import Hit, SearchRequest
from searchsvc.search.parse import ParsedQuery


def make_hit(
    parsed: ParsedQuery, request: SearchRequest, analysis: AnalysisSettings, *, id: str, url: str, title: str,
    body: str, date: dt.datetime, categories: tuple[str, ...], tags: tuple[str, ...], authors: tuple[str, ...],
    image: str, score: float,
) -> Hit:
    terms = parsed.highlight_terms
    return Hit(
        id=id, url=url, title=title, title_html=mark_title(title, terms),
        snippet_html=make_snippet(body, terms, request.snippet_chars, analysis),
        date=date, categories=categories, tags=tags, authors=authors, image=image, score=round(score, 3),
    )
