"""Ingest stage: what the owner keeps back from readers — encrypted, hidden and excluded posts.

An encrypted post (hexo-blog-encrypt: a `password` in its front matter, or a tag the site's
`encrypt: tags:` gives a password) is searchable by its title, categories, tags, date and the
plugin's `abstract` only: its body is never read into a Post. A hidden, unindexed, draft or
excluded post, and one matching an owner's `--keep-out KEY=VALUE` rule, is left out entirely.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

# Front-matter switches that keep a post out of search, as the plugins that read them document:
# hexo-hide-posts `hidden: true`, hexo-generator-search `indexing: false`, `noindex: true`, `draft: true`.
_SWITCHES: tuple[tuple[str, bool, str], ...] = (
    ("hidden", True, "hidden (hidden: true)"),
    ("indexing", False, "not for search (indexing: false)"),
    ("noindex", True, "not for search (noindex: true)"),
    ("draft", True, "a draft (draft: true)"),
)
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def _flag(value: Any) -> bool | None:
    """A front-matter switch as YAML or a line-by-line recovery gives it: True, "true", 1 ..."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        return True if word in _TRUE else False if word in _FALSE else None
    return None


def _values(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    return [str(_flag(v)).lower() if isinstance(v, bool) else str(v).strip() for v in items if v is not None]


def parse_keep_out(rule: str) -> tuple[str, str]:
    """`KEY=VALUE` -> (key, value); raises ValueError with a message a user can act on."""
    key, sep, value = rule.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise ValueError(f"--keep-out takes KEY=VALUE (a front-matter key and the value that keeps a post out), not {rule!r}")
    return key.strip().lower(), value.strip()


@dataclass(frozen=True)
class KeepBack:
    """The owner's rules. Plain values only: saved with the index (a change rebuilds it) and handed
    to writer processes. `encrypt_tags` are the names of the tags hexo-blog-encrypt encrypts (never
    their passwords); `abstract` the site's default abstract for encrypted posts."""

    exclude: tuple[str, ...] = ()
    keep_out: tuple[tuple[str, str], ...] = ()
    encrypt_tags: tuple[str, ...] = ()
    abstract: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeepBack:
        """The inverse of dataclasses.asdict through JSON (which turns tuples into lists)."""
        return cls(
            exclude=tuple(data.get("exclude", ())),
            keep_out=tuple((str(k), str(v)) for k, v in data.get("keep_out", ())),
            encrypt_tags=tuple(data.get("encrypt_tags", ())),
            abstract=str(data.get("abstract", "")),
        )

    def excluded(self, post_id: str) -> str | None:
        """Why an `--exclude` glob keeps this path out, or None. A glob without `/` matches a file
        or folder name anywhere (as in .gitignore); one with `/` matches the path from the posts
        folder, or a folder on it."""
        parts = post_id.split("/")
        for glob in self.exclude:
            pattern = glob.strip("/")
            if "/" in pattern:
                candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
            else:
                candidates = parts
            if any(fnmatch.fnmatchcase(c, pattern) for c in candidates):
                return f"excluded (--exclude {glob})"
        return None

    def kept_out(self, meta: dict[str, Any]) -> str | None:
        """Why the front matter (keys in lower case) keeps this post out of search, or None."""
        for key, hides_when, reason in _SWITCHES:
            if key in meta and _flag(meta[key]) is hides_when:
                return reason
        for key, value in self.keep_out:
            if value.lower() in (v.lower() for v in _values(meta.get(key))):
                return f"kept out (--keep-out {key}={value})"
        return None

    def encrypted(self, meta: dict[str, Any], tags: tuple[str, ...]) -> bool:
        """hexo-blog-encrypt's rule: a front-matter password encrypts, an empty one opts out of the
        tag rules, and without one a tag the site's config gives a password encrypts."""
        password = meta.get("password")
        if password is not None:
            return str(password) != ""
        return any(tag in self.encrypt_tags for tag in tags)

    def abstract_of(self, meta: dict[str, Any]) -> str:
        """What hexo-blog-encrypt shows in an encrypted post's place: its own abstract, or the site's."""
        given = meta.get("abstract")
        return str(given) if isinstance(given, (str, int, float)) and str(given).strip() else self.abstract
