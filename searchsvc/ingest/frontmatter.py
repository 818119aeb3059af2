"""Ingest stage: front matter — YAML, TOML or JSON at the top of a post, recovered line by line
when it does not parse; the bytes decoded; list-ish values as tuples of strings."""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

from frontmatter.default_handlers import BaseHandler, YAMLHandler


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
