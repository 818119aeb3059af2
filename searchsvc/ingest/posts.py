"""Ingest stage: one file on disk -> one Post (front matter, date, visible text)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from searchsvc.ingest.dates import UTC, date_in_name, parse_date
from searchsvc.ingest.frontmatter import as_list, decode_bytes, split_front_matter
from searchsvc.ingest.keepback import KeepBack
from searchsvc.ingest.markup import to_text
from searchsvc.ingest.sites.permalinks import UrlRules

DEFAULT_URLS = UrlRules()
DEFAULT_KEEP = KeepBack()
ENCRYPTED_MARK = "e:"
_NOT_POSTS = frozenset({"node_modules", "_site", "vendor"})  # tools and build output
POST_SUFFIXES = (".md", ".markdown")


class PostError(Exception):
    """A file that cannot be indexed; `reason` says why in words a user can act on."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class NotPublished(PostError):
    """A post its site generator would not publish (a draft, published: false, future-dated)."""


class KeptBack(NotPublished):
    """A post the owner keeps out of search (hidden, a draft, excluded, a --keep-out rule)."""


@dataclass(frozen=True)
class Post:
    id: str
    title: str
    body: str
    url: str
    date: dt.datetime
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    image: str = ""
    content_hash: str = ""  # of the file's bytes; ENCRYPTED_MARK first when only the abstract is indexed
    encrypted: bool = False  # body holds only the abstract: the encrypted text was never read
    warnings: tuple[str, ...] = field(default=(), compare=False)


_HEADING = re.compile(r"^\s{0,3}#\s+(.+?)\s*#*\s*$", re.MULTILINE)
_HTML_H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)


def content_hash(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def load_post(
    path: Path, root: Path, *, urls: UrlRules = DEFAULT_URLS, keep: KeepBack = DEFAULT_KEEP,
    now: dt.datetime | None = None,
) -> Post:
    """Read one file into a Post. Raises PostError when it holds nothing to index, KeptBack
    (before reading it) when an --exclude glob covers it."""
    post_id = path.relative_to(root).as_posix()
    why_not = keep.excluded(post_id)
    if why_not:
        raise KeptBack(post_id, why_not)
    try:
        raw = path.read_bytes()
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise PostError(post_id, f"cannot read file ({exc.strerror})") from exc
    return parse_post(raw, post_id, mtime=mtime, urls=urls, keep=keep, now=now)


def parse_post(
    raw: bytes, post_id: str, *, mtime: float, urls: UrlRules = DEFAULT_URLS, keep: KeepBack = DEFAULT_KEEP,
    now: dt.datetime | None = None,
) -> Post:
    """The pure part of load_post: bytes and a relative path -> Post. Raises NotPublished for a
    post the site's generator would leave out, as of `now`, and KeptBack for one the owner keeps
    out. An encrypted post's body is replaced by its abstract before anything reads it."""
    tz = urls.zone
    if not raw.strip():
        raise PostError(post_id, "empty file" if not raw else "file holds only whitespace")
    if b"\x00" in raw[:8000] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise PostError(post_id, "binary file (NUL bytes), not a text post")
    text, warnings = decode_bytes(raw)
    meta, body_src, problems = split_front_matter(text)
    warnings += problems
    meta = {str(k).lower(): v for k, v in meta.items()}
    why_not = keep.kept_out(meta)
    if why_not:
        raise KeptBack(post_id, why_not)
    tags = as_list(meta.get("tags"))
    encrypted = keep.encrypted(meta, tags)
    if encrypted:
        body_src = keep.abstract_of(meta)
    body = to_text(body_src)

    title = _text_value(meta.get("title"))
    if title is None and not encrypted:
        heading = _HEADING.search(body_src) or _HTML_H1.search(body_src)
        if heading:
            title = to_text(heading.group(1)).strip() or None
    if title is None:
        stem = post_id.rsplit(".", 1)[0]
        if stem.endswith("/index") or stem == "index":
            stem = stem.rsplit("/index", 1)[0] or stem
        title = stem.rsplit("/", 1)[-1]
        if "title" in meta:
            warnings.append("title is empty; used the file name")
    if not body.strip() and not _text_value(meta.get("title")) and not encrypted:
        raise PostError(post_id, "no text: the body is empty after removing markup and the front matter has no title")

    date = None
    for key in ("date", "published", "pubdate", "created"):
        if meta.get(key) not in (None, ""):
            date = parse_date(meta[key], tz)
            if date is None:
                warnings.append(f"date {str(meta[key])[:40]!r} not understood")
            break
    if date is None:
        date = date_in_name(post_id, tz)
    if date is None:
        date = dt.datetime.fromtimestamp(mtime, UTC)
        warnings.append("no usable date; used the file's modification time")

    why_not = urls.unpublished(post_id, meta, date, now or dt.datetime.now(UTC))
    if why_not:
        raise NotPublished(post_id, why_not)
    authors = as_list(meta.get("author", meta.get("authors")))
    categories = as_list(meta.get("categories", meta.get("category")))
    image = next((str(meta[k]) for k in ("headimg", "thumbnail", "image", "cover") if isinstance(meta.get(k), str)), "")
    return Post(
        id=post_id,
        title=title,
        body=body,
        url=urls.url_for(post_id, meta, title, date),
        date=date,
        categories=categories,
        tags=tags,
        authors=authors,
        image="" if image.startswith("data:") else image,
        content_hash=(ENCRYPTED_MARK if encrypted else "") + content_hash(raw),
        encrypted=encrypted,
        warnings=tuple(warnings),
    )


def _text_value(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list, tuple)):
        return None
    text = " ".join(to_text(str(value)).split())
    return text or None


def iter_post_files(root: Path, within: str | None = None) -> Iterator[Path]:
    """Every post file under root in a stable order; hidden files and folders are not posts.
    With `within`, only files under a folder of that name (Jekyll's `_posts`)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if _may_hold_posts(d))
        if within and within not in Path(dirpath).relative_to(root).parts:
            continue
        for name in sorted(filenames):
            if _is_post_name(name):
                yield Path(dirpath) / name


def is_post_path(post_id: str, within: str | None = None) -> bool:
    """Whether iter_post_files would yield this path (relative to the posts folder, '/'-separated)."""
    *folders, name = post_id.split("/")
    return all(_may_hold_posts(f) for f in folders) and _is_post_name(name) and (not within or within in folders)


def _may_hold_posts(folder: str) -> bool:
    return not folder.startswith((".", "_drafts")) and folder not in _NOT_POSTS  # hidden, drafts, tools


def _is_post_name(name: str) -> bool:
    return name.lower().endswith(POST_SUFFIXES) and not name.startswith(".")
