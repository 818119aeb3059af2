"""Baseline: SQLite FTS5 with its trigram tokenizer (stdlib sqlite3), as a datasette user would
search the same posts: the same normalized text (searchsvc's normalize, so traditional and
full-width forms fold as ours do); each whitespace-separated word a quoted FTS5 phrase, words
under three characters by LIKE (the trigram index needs three); ranked by bm25(), or by date; the
total counted as datasette counts it. No snippets, no facets."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from searchsvc.analysis.normalize import normalize
from searchsvc.ingest.posts import PostError, iter_post_files, load_post


def build_fts5(posts: Path, db_path: Path) -> Path:
    if db_path.exists():
        return db_path
    tmp = db_path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    con = sqlite3.connect(tmp)
    con.execute("CREATE VIRTUAL TABLE posts USING fts5(title, body, id UNINDEXED, category UNINDEXED, "
                "date UNINDEXED, tokenize='trigram')")
    rows = []
    for path in iter_post_files(posts):
        try:
            post = load_post(path, posts)
        except PostError:
            continue
        rows.append((normalize(post.title), normalize(post.body), post.id, (post.categories or ("",))[0],
                     post.date.isoformat()))
        if len(rows) >= 2000:
            con.executemany("INSERT INTO posts VALUES (?, ?, ?, ?, ?)", rows)
            rows = []
    con.executemany("INSERT INTO posts VALUES (?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    tmp.rename(db_path)
    return db_path


class Fts5Search:
    def __init__(self, db_path: Path) -> None:
        self.con = sqlite3.connect(db_path, check_same_thread=False)

    def search(self, params: dict[str, Any], limit: int = 10) -> tuple[int, list[str]]:
        q = normalize(params["q"])
        quoted = re.fullmatch(r'\s*"(.*)"\s*', q)
        words = [quoted.group(1)] if quoted else q.split()
        phrases = [w for w in words if len(w) >= 3]
        short = [w for w in words if 0 < len(w) < 3]
        where, args = [], []
        if phrases:
            where.append("posts MATCH ?")
            args.append(" ".join('"' + w.replace('"', '""') + '"' for w in phrases))
        for w in short:
            where.append("(title LIKE ? OR body LIKE ?)")
            args += [f"%{w}%", f"%{w}%"]
        if params.get("category"):
            where.append("category = ?")
            args.append(params["category"])
        if not where:
            return 0, []
        clause = " AND ".join(where)
        order = "date DESC" if params.get("sort") == "newest" else ("rank" if phrases else "date DESC")
        ids = [r[0] for r in self.con.execute(f"SELECT id FROM posts WHERE {clause} ORDER BY {order} LIMIT ?", (*args, limit))]
        total = self.con.execute(f"SELECT count(*) FROM posts WHERE {clause}", args).fetchone()[0]
        return int(total), ids
