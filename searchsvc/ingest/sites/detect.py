"""Ingest stage: recognize a Hexo, Hugo or Jekyll site and read what decides its posts' URLs."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from searchsvc.ingest.sites.permalinks import DEFAULT_PERMALINK, UrlRules

HUGO_CONFIGS = ("hugo.toml", "hugo.yaml", "hugo.yml", "hugo.json", "config.toml", "config.yaml", "config.yml",
                "config.json", "config/_default/hugo.toml", "config/_default/config.toml",
                "config/_default/hugo.yaml", "config/_default/config.yaml")


class SiteError(Exception):
    """A folder that is not a site we recognize, or whose configuration cannot be read."""


@dataclass(frozen=True)
class Site:
    """Where a site keeps its posts, how their URLs are made, and the site's public address."""

    generator: str
    root: Path
    posts_dir: Path
    urls: UrlRules
    config_file: Path
    encrypt_tags: tuple[str, ...] = ()  # hexo-blog-encrypt's `encrypt: tags:` names that carry a password
    encrypt_abstract: str = ""  # and its site-wide `encrypt: abstract:`

    def describe(self) -> str:
        return f"{self.generator} site at {self.root}: posts in {self.posts_dir}, URLs under {self.urls.prefix}"


def detect_site(root: Path) -> Site:
    """Hugo when a Hugo configuration file exists; Hexo or Jekyll when `_config.yml` does."""
    try:
        return _detect(Path(root))
    except ValueError as exc:  # an unknown time zone or generator setting
        raise SiteError(f"{root}: {exc}") from exc


def _detect(root: Path) -> Site:
    if not root.is_dir():
        raise SiteError(f"No site folder at {root}.")
    for name in HUGO_CONFIGS:
        if (root / name).is_file():
            return _hugo(root, root / name)
    config_file = root / "_config.yml"
    if config_file.is_file():
        config = _read_config(config_file)
        if _looks_like_hexo(root, config):
            return _hexo(root, config, config_file)
        return _jekyll(root, config, config_file)
    raise SiteError(
        f"{root} is not a Hexo, Hugo or Jekyll site: it has no _config.yml, hugo.toml or config.toml. "
        "Pass --posts DIR for a plain folder of posts."
    )


def _read_config(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8-sig")
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise SiteError(f"cannot read {path}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SiteError(f"cannot read {path}: it does not hold settings (key: value)")
    return data


def _looks_like_hexo(root: Path, config: dict[str, Any]) -> bool:
    package = root / "package.json"
    if package.is_file() and '"hexo"' in package.read_text(encoding="utf-8", errors="replace"):
        return True
    if any(k in config for k in ("source_dir", "new_post_name", "default_category", "root")):
        return True
    return (root / str(config.get("source_dir") or "source") / "_posts").is_dir() and not (root / "_posts").is_dir()


def _origin_and_path(url: str) -> tuple[str, str]:
    parts = urlsplit(url.strip())
    origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    return origin, parts.path


def _prefix(path: str) -> str:
    return "/" + path.strip("/") + "/" if path.strip("/") else "/"


def _hexo(root: Path, config: dict[str, Any], config_file: Path) -> Site:
    origin, url_path = _origin_and_path(str(config.get("url") or ""))
    pretty = config.get("pretty_urls")
    pretty = pretty if isinstance(pretty, dict) else {}
    options = {
        "new_post_name": str(config.get("new_post_name") or ":title.md"),
        "default_category": str(config.get("default_category") or "uncategorized"),
        "category_map": {str(k): str(v) for k, v in (config.get("category_map") or {}).items()},
        "filename_case": config.get("filename_case", 0),
        "post_asset_folder": bool(config.get("post_asset_folder")),
        "trailing_index": pretty.get("trailing_index", True) is not False,
        "trailing_html": pretty.get("trailing_html", True) is not False,
    }
    urls = UrlRules(
        generator="hexo", permalink=str(config.get("permalink") or DEFAULT_PERMALINK),
        prefix=_prefix(str(config.get("root") or url_path)), timezone=str(config.get("timezone") or ""),
        options=options, site_url=origin,
    )
    posts = root / str(config.get("source_dir") or "source") / "_posts"
    return Site("hexo", root, posts, urls, config_file, *_hexo_encrypt(config))


def _hexo_encrypt(config: dict[str, Any]) -> tuple[tuple[str, ...], str]:
    """hexo-blog-encrypt's site rules: the tags that carry a password, and the default abstract."""
    encrypt = config.get("encrypt")
    if not isinstance(encrypt, dict):
        return (), ""
    rules = encrypt.get("tags")
    tags = tuple(str(r["name"]) for r in (rules if isinstance(rules, list) else [])
                 if isinstance(r, dict) and r.get("name") is not None and r.get("password") not in (None, ""))
    abstract = encrypt.get("abstract")
    return tags, abstract if isinstance(abstract, str) else ""


def _hugo(root: Path, config_file: Path) -> Site:
    config = {str(k).lower(): v for k, v in _read_config(config_file).items()}
    origin, url_path = _origin_and_path(str(config.get("baseurl") or ""))
    permalinks = config.get("permalinks") or {}
    if isinstance(permalinks.get("page"), dict):  # Hugo 0.112+: [permalinks.page]
        permalinks = permalinks["page"]
    sections = {str(k): str(v) for k, v in permalinks.items() if isinstance(v, str)}
    options = {k: bool(config.get(k)) for k in ("uglyurls", "disablepathtolower")}
    urls = UrlRules(generator="hugo", permalink="", prefix=_prefix(url_path),
                    timezone=str(config.get("timezone") or ""), sections=sections, options=options,
                    site_url=origin)
    site_root = config_file.parent.parent.parent if config_file.parent.name == "_default" else root
    return Site("hugo", site_root, site_root / str(config.get("contentdir") or "content"), urls, config_file)


def _jekyll(root: Path, config: dict[str, Any], config_file: Path) -> Site:
    origin, url_path = _origin_and_path(str(config.get("url") or ""))
    urls = UrlRules(
        generator="jekyll", permalink=str(config.get("permalink") or "date"),
        prefix=_prefix(str(config.get("baseurl") or "") or url_path), timezone=str(config.get("timezone") or ""),
        options={"future": bool(config.get("future"))}, site_url=origin,
    )
    return Site("jekyll", root, root / str(config.get("source") or "."), urls, config_file)
