"""Search stage: render — shared by the API and the CLI: a SearchResult as the JSON document of DESIGN.md."""

from __future__ import annotations

import datetime as dt
from typing import Any

from searchsvc.search.model import FACET_KEYS, Hit, SearchResult


def iso_utc(stamp: dt.datetime) -> str:
    return stamp.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def hit_json(hit: Hit) -> dict[str, Any]:
    return {
        "id": hit.id,
        "url": hit.url,
        "title": hit.title,
        "title_html": hit.title_html,
        "snippet_html": hit.snippet_html,
        "date": iso_utc(hit.date),
        "categories": list(hit.categories),
        "tags": list(hit.tags),
        "author": ", ".join(hit.authors) if hit.authors else None,
        "authors": list(hit.authors),
        "image": hit.image or None,
        "score": hit.score,
    }


def result_json(result: SearchResult) -> dict[str, Any]:
    return {
        "query": result.request.q,
        "total": result.total,
        "page": result.request.page,
        "per_page": result.request.per_page,
        "pages": result.pages,
        "took_ms": result.took_ms,
        "hits": [hit_json(h) for h in result.hits],
        "facets": {
            FACET_KEYS[name]: [{"value": f.value, "count": f.count} for f in counts]
            for name, counts in result.facets.items()
        },
        "suggestion": result.suggestion,
        "corrected": result.corrected,
        "partial": result.partial,
    }
