"""Ingest stage: one file on disk -> one Post (front matter, date, visible text)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from frontmatter.default_handlers import BaseHandler, YAMLHandler

from searchsvc.ingest.dates import UTC, date_in_name, parse_date
from searchsvc.ingest.keepback import KeepBack
from searchsvc.ingest.markup import to_text
from searchsvc.ingest.sites.permalinks import UrlRules

DEFAULT_URLS = UrlRules()
DEFAULT_KEEP = KeepBack()
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
    content_hash: str = ""
    encrypted: bool = False  # body holds only the abstract: the encrypted text was never read
    warnings: tuple[str, ...] = field(default=(), compare=False)


class _TomlHandler(BaseHandler):
    """python-frontmatter's TOML handler needs the third-party `toml`; 3.11 ships tomllib."""

    FM_BOUNDARY = re.compile(r"^\+{3,}\s*$", re.MULTILINE)
    START_DELIMITER = END_DELIMITER = "+++"

    def load(self, fm: str, **kwargs: object) -> Any:
        return tomllib.loads(fm)


class _JsonHandler(BaseHandler):
    """Hugo's JSON front matter: a JSON object at the top of the file, closed by a `}` line."""

    FM_BOUNDARY = re.compile(r"^(?:{|})\s*$", re.MULTILINE)

    def split(self, text: str) -> tuple[str, str]:
        depth, in_str, esc = 0, False, False
        for i, ch in enumerate(text):
            if in_str:
                esc = not esc and ch == "\\"
                if ch == '"' and not esc:
                    in_str = False
            elif ch == '"':
                in_str = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return text[: i + 1], text[i + 1 :]
        raise ValueError("JSON front matter is not closed")

    def load(self, fm: str, **kwargs: object) -> Any:
        return json.loads(fm)


_HANDLERS: tuple[BaseHandler, ...] = (YAMLHandler(), _TomlHandler(), _JsonHandler())
_LOOSE_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*[:=]\s*(.*?)\s*$")
_LOOSE_ITEM = re.compile(r"^\s*-\s*(.*?)\s*$")
_HEADING = re.compile(r"^\s{0,3}#\s+(.+?)\s*#*\s*$", re.MULTILINE)
_HTML_H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)


def split_front_matter(text: str) -> tuple[dict[str, Any], str, list[str]]:
    """Return (metadata, body, problems). Damaged front matter is recovered line by line."""
    stripped = text.lstrip("\ufeff \t\r\n")
    for handler in _HANDLERS:
        if not handler.detect(stripped):
            continue
        if isinstance(handler, _JsonHandler) and not stripped.startswith("{"):
            continue
        try:
            fm, body = handler.split(stripped)
        except ValueError:
            return {}, text, ["front matter is not closed; read the file as body"]
        try:
            meta = handler.load(fm)
        except Exception as exc:  # yaml, toml and json each raise their own error types
            reason = " ".join(str(exc).split())[:160]
            return _loose_front_matter(fm), body, [f"front matter does not parse ({reason}); recovered keys line by line"]
        if meta is None:
            meta = {}
        if not isinstance(meta, dict):
            return {}, body, [f"front matter is a {type(meta).__name__}, not a mapping; ignored"]
        return meta, body, []
    return {}, text, []


def _loose_front_matter(fm: str) -> dict[str, Any]:
    """Best-effort `key: value` and `- item` reading of front matter that YAML rejected."""
    meta: dict[str, Any] = {}
    last_key = None
    for line in fm.splitlines():
        item = _LOOSE_ITEM.match(line)
        if item and last_key is not None:
            current = meta.get(last_key)
            values = current if isinstance(current, list) else []
            values.append(_unquote(item.group(1)))
            meta[last_key] = values
            continue
        kv = _LOOSE_KEY.match(line)
        if kv:
            last_key = kv.group(1).lower()
            value = kv.group(2)
            if value.startswith("[") and value.endswith("]"):
                meta[last_key] = [_unquote(v) for v in value[1:-1].split(",") if v.strip()]
            else:
                meta[last_key] = _unquote(value) if value else None
    return meta


def _unquote(value: str) -> str:
    return value.strip().strip("\"'").strip()


def as_list(value: Any) -> tuple[str, ...]:
    """categories/tags/author as a list, a flow list, a string, a number or null -> strings."""
    if value is None:
        return ()
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, (list, tuple)):
        value = [value]
    out: list[str] = []
    for item in value:
        if isinstance(item, (list, tuple)):  # Hexo's nested category lists
            out.extend(as_list(item))
        elif item is not None and str(item).strip():
            text = str(item).strip()
            if text not in out:
                out.append(text)
    return tuple(out)


def decode_bytes(raw: bytes) -> tuple[str, list[str]]:
    """UTF-8 (with or without BOM); GB18030 when that decodes cleanly; else UTF-8 with U+FFFD."""
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        bad_at = exc.start
    try:
        return raw.decode("gb18030"), ["file is not UTF-8; decoded as GB18030"]
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), [f"invalid UTF-8 at byte {bad_at}; bad bytes replaced with U+FFFD"]


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
        content_hash=content_hash(raw),
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
