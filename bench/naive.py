"""The baseline every figure is printed next to: jieba's ChineseAnalyzer + Whoosh, as hobby projects use it.

Same posts and the same extracted text as searchsvc (our documents.py), so only indexing and search differ.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh.fields import ID, STORED, TEXT, Schema
from whoosh.qparser import MultifieldParser

from searchsvc.ingest.posts import Post


def naive_schema() -> Schema:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    from jieba.analyse import ChineseAnalyzer

    analyzer = ChineseAnalyzer()
    return Schema(
        id=ID(stored=True, unique=True),
        title=TEXT(stored=True, analyzer=analyzer),
        content=TEXT(stored=True, analyzer=analyzer),
        date=STORED(),
    )


def build_naive(posts: list[Post], index_dir: Path) -> float:
    """Index the posts the naive way; returns seconds."""
    shutil.rmtree(index_dir, ignore_errors=True)
    index_dir.mkdir(parents=True)
    started = time.perf_counter()
    ix = whoosh_index.create_in(str(index_dir), naive_schema())
    writer = ix.writer()
    for post in posts:
        writer.add_document(id=post.id, title=post.title, content=post.body, date=post.date)
    writer.commit()
    return time.perf_counter() - started


class NaiveSearch:
    """QueryParser over title and content, top 10 with Whoosh's own highlights."""

    def __init__(self, index_dir: Path) -> None:
        self.ix = whoosh_index.open_dir(str(index_dir))
        self.searcher = self.ix.searcher()
        self.parser = MultifieldParser(["title", "content"], self.ix.schema)

    def ids(self, q: str, limit: int | None = 10) -> list[str]:
        query = self.parser.parse(q)
        return [hit["id"] for hit in self.searcher.search(query, limit=limit)]

    def search_with_snippets(self, q: str) -> list[dict[str, Any]]:
        query = self.parser.parse(q)
        results = self.searcher.search(query, limit=10)
        return [{"id": h["id"], "snippet": h.highlights("content")} for h in results]
