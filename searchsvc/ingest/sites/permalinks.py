"""Ingest stage: the public URL a site generator gives a post (Hexo, Hugo, Jekyll, or a pattern)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from searchsvc.ingest.dates import UTC, parse_stamp

DEFAULT_PERMALINK = ":year/:month/:day/:title/"
GENERATORS = ("pattern", "hexo", "hugo", "jekyll")
JEKYLL_STYLES = {
    "date": "/:categories/:year/:month/:day/:title:output_ext",
    "pretty": "/:categories/:year/:month/:day/:title/",
    "ordinal": "/:categories/:year/:y_day/:title:output_ext",
    "weekdate": "/:categories/:year/W:week/:short_day/:title:output_ext",
    "none": "/:categories/:title:output_ext",
}
_PLACEHOLDER = re.compile(r":([a-z_]+)")
_HEXO_SPECIAL = re.compile(r"[\s~`!@#$%^&*()\-_+=\[\]{}|\\;:\"'<>,.?/]+")


@dataclass(frozen=True)
class UrlRules:
    """How one site turns a post into its URL. Plain values only: it is saved with the index
    (a change means a full rebuild) and handed to writer processes.

    `prefix` is the site's path (Hexo `root`, Hugo's baseURL path, Jekyll `baseurl`); `timezone`
    the zone naive dates are written in and dates are shown in (empty: UTC); `sections` Hugo's
    per-section permalinks; `options` the few generator switches that change URLs.
    """

    generator: str = "pattern"
    permalink: str = DEFAULT_PERMALINK
    prefix: str = "/"
    timezone: str = ""
    sections: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    site_url: str = ""  # scheme://host of the public site, for absolute links (feeds); "" when unknown

    def __post_init__(self) -> None:
        if self.generator not in GENERATORS:
            raise ValueError(f"unknown site generator {self.generator!r}")
        self.zone  # fail early on an unknown time zone

    @cached_property
    def zone(self) -> dt.tzinfo:
        if not self.timezone:
            return UTC
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc

    @property
    def posts_folder_name(self) -> str | None:
        """Jekyll posts live in any folder named `_posts` under the site (its parents are categories)."""
        return "_posts" if self.generator == "jekyll" else None

    def url_for(self, post_id: str, meta: dict[str, Any], title: str, date: dt.datetime) -> str:
        """`meta` is the front matter with lower-case keys; `date` the post's date (aware)."""
        builder: Callable[[UrlRules, str, dict[str, Any], str, dt.datetime], str] = _BUILDERS[self.generator]
        return builder(self, post_id, meta, title, date)

    def unpublished(self, post_id: str, meta: dict[str, Any], date: dt.datetime, now: dt.datetime) -> str | None:
        """Why the generator would not publish this post, or None when it would."""
        if meta.get("published") is False:
            return "not published (published: false)"
        if self.generator == "hugo":  # draft: true is kept back for every generator (searchsvc.keepback)
            written = _hugo_local(self, meta)
            if written.tzinfo is not None and written > now:  # an undated page has year 1
                return "dated in the future; Hugo publishes it then"
            expiry = parse_stamp(meta.get("expirydate"), self.zone)
            if expiry is not None and expiry <= now:
                return "expired (expiryDate has passed)"
        if self.generator == "jekyll":
            if "_posts/" in post_id and not _JEKYLL_NAME.match(post_id.rsplit("/", 1)[-1]):
                return "Jekyll publishes only _posts files named YYYY-MM-DD-title"
            if date > now and not self.options.get("future"):
                return "dated in the future; Jekyll publishes it then"
        return None


def _front_matter_link(meta: dict[str, Any], key: str) -> str | None:
    given = meta.get(key)
    if isinstance(given, str) and given.strip():
        return given.strip()
    return None


def _join(prefix: str, path: str) -> str:
    if "://" in path:
        return path
    return "/" + "/".join(p for p in (prefix.strip("/"), path.lstrip("/")) if p)


# ---- pattern: Hexo-style placeholders over the path, for a folder that belongs to no site


def _pattern_url(rules: UrlRules, post_id: str, meta: dict[str, Any], title: str, date: dt.datetime) -> str:
    for key in ("permalink", "url"):
        given = _front_matter_link(meta, key)
        if given:
            return given if "://" in given or given.startswith("/") else "/" + given
    stem = post_id.rsplit(".", 1)[0]
    if stem.endswith("/index"):
        stem = stem[: -len("/index")]
    name = stem.rsplit("/", 1)[-1]
    slug = meta.get("slug")
    local = date.astimezone(rules.zone)
    values = {
        "year": f"{local.year:04d}", "month": f"{local.month:02d}", "day": f"{local.day:02d}",
        "i_month": str(local.month), "i_day": str(local.day),
        "title": stem, "name": name, "slug": str(slug) if slug else name,
    }
    return _join(rules.prefix, _expand(rules.permalink, values))


def _clock_values(local: dt.datetime) -> dict[str, str]:
    """The date and time placeholders Hexo and Jekyll share."""
    return {
        "year": f"{local.year:04d}", "month": f"{local.month:02d}", "day": f"{local.day:02d}",
        "i_month": str(local.month), "i_day": str(local.day),
        "hour": f"{local.hour:02d}", "minute": f"{local.minute:02d}", "second": f"{local.second:02d}",
    }


def _expand(pattern: str, values: dict[str, str]) -> str:
    # Longest names first, so :i_month is not read as :i plus "_month".
    return _PLACEHOLDER.sub(lambda m: _longest(m.group(1), values), pattern)


def _longest(name: str, values: dict[str, str]) -> str:
    for end in range(len(name), 0, -1):
        if name[:end] in values:
            return values[name[:end]] + name[end:]
    return ":" + name


# ---- Hexo (hexo/lib/plugins/filter/post_permalink.js, processor/post.js, hexo-util slugize)


def hexo_slugize(text: str, lower: bool = False) -> str:
    """hexo-util's slugize: ASCII punctuation and spaces become one '-', other characters stay."""
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    text = re.sub(r"[\x00-\x1f\x7f]", "-", text)
    slug = _HEXO_SPECIAL.sub("-", text).strip("-")
    return slug.lower() if lower else slug


def _hexo_local(rules: UrlRules, meta: dict[str, Any], date: dt.datetime) -> dt.datetime:
    """Hexo reads a YAML timestamp's UTC wall clock as local time (hexo-front-matter); dates
    written as other strings are real instants shown in the site's zone."""
    value = meta.get("date")
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    return date.astimezone(rules.zone).replace(tzinfo=None)


def hexo_slug(rules: UrlRules, post_id: str) -> str:
    """The post's path under _posts without extension, minus what `new_post_name` puts around :title."""
    stem = post_id.rsplit(".", 1)[0]
    pattern = str(rules.options.get("new_post_name") or ":title.md").rsplit(".", 1)[0]
    if pattern == ":title":
        return stem
    regex = re.escape(pattern).replace(re.escape(":title"), "(?P<title>.+)")
    regex = re.sub(r"\\:(year|month|day|i_month|i_day|hour|minute|second)", r"\\d+", regex)
    found = re.fullmatch(regex, stem)
    return found.group("title") if found else stem


def _hexo_category(rules: UrlRules, meta: dict[str, Any]) -> str:
    value = meta.get("categories", meta.get("category"))
    if isinstance(value, (list, tuple)) and any(isinstance(v, (list, tuple)) for v in value):
        value = value[-1]  # a list of lists holds several hierarchies; Hexo takes the last
    names = [str(v) for v in (value if isinstance(value, (list, tuple)) else [value]) if v not in (None, "")]
    lower = bool(rules.options.get("filename_case") == 1)
    mapping = rules.options.get("category_map") or {}
    if not names:
        return str(rules.options.get("default_category", "uncategorized"))
    return "/".join(hexo_slugize(str(mapping.get(n, n)), lower) for n in names)


def _hexo_url(rules: UrlRules, post_id: str, meta: dict[str, Any], title: str, date: dt.datetime) -> str:
    given = _front_matter_link(meta, "permalink")
    if given:
        if rules.options.get("post_asset_folder") and not given.endswith(("/", ".html")):
            given += "/"
        return _join(rules.prefix, _hexo_pretty(rules, given))
    slug = hexo_slug(rules, post_id)
    local = _hexo_local(rules, meta, date)
    values = {
        **_clock_values(local),
        "title": slug, "name": slug.rsplit("/", 1)[-1],
        "post_title": hexo_slugize(str(meta.get("title") or title), lower=True),
        "id": str(meta.get("id") or slug),
        "hash": hashlib.sha1(f"{slug}{int(local.replace(tzinfo=rules.zone).timestamp())}".encode()).hexdigest()[:12],
    }
    if ":category" in rules.permalink:
        values["category"] = _hexo_category(rules, meta)
    return _join(rules.prefix, _hexo_pretty(rules, _expand(rules.permalink, values)))


def _hexo_pretty(rules: UrlRules, path: str) -> str:
    if rules.options.get("trailing_index") is False and path.endswith("index.html"):
        path = path[: -len("index.html")]
    if rules.options.get("trailing_html") is False and path.endswith(".html"):
        path = path[: -len(".html")]
    return path


# ---- Hugo (hugolib/page__paths.go, resources/page/permalinks.go, helpers/path.go)


def hugo_path(text: str, lower: bool = True) -> str:
    """Hugo's MakePath/URLize: spaces become '-', letters, digits and ._~#+%/- stay, the rest goes."""
    kept = []
    for c in unicodedata.normalize("NFC", text.strip()):
        if c.isalnum() or c in "._~#+%/-" or unicodedata.category(c).startswith("M"):
            kept.append(c)
        elif c.isspace():
            kept.append("-")
    path = "".join(kept)
    return path.lower() if lower else path


def _hugo_local(rules: UrlRules, meta: dict[str, Any]) -> dt.datetime:
    """Hugo formats a date in the zone it was written in; naive dates are in `timeZone`;
    a page without a date has the zero time (year 0001)."""
    for key in ("date", "publishdate", "pubdate", "published"):
        stamp = parse_stamp(meta.get(key), rules.zone)
        if stamp is not None:
            return stamp
    return dt.datetime(1, 1, 1)


def _hugo_url(rules: UrlRules, post_id: str, meta: dict[str, Any], title: str, date: dt.datetime) -> str:
    lower = not rules.options.get("disablepathtolower")
    given = _front_matter_link(meta, "url")
    if given:
        return _join(rules.prefix, given)
    parts = post_id.split("/")
    bundle = parts[-1].rsplit(".", 1)[0] in ("index", "_index")
    filename = parts[-2] if bundle and len(parts) > 1 else parts[-1].rsplit(".", 1)[0]
    dirs = parts[:-2] if bundle else parts[:-1]
    section = parts[0] if len(parts) > 1 else ""
    if parts[-1].rsplit(".", 1)[0] == "_index":  # a section's own page
        return _join(rules.prefix, _hugo_ending(rules, hugo_path("/".join(parts[:-1]), lower))) if len(parts) > 1 \
            else _join(rules.prefix, "/")
    slug = _front_matter_link(meta, "slug")
    pattern = rules.sections.get(section)
    if pattern:
        local = _hugo_local(rules, meta)
        title_part = hugo_path(str(meta.get("title") or title), lower)
        values = {
            "year": f"{local.year:04d}", "month": f"{local.month:02d}", "day": f"{local.day:02d}",
            "monthname": local.strftime("%B"), "weekday": str(local.isoweekday() % 7),
            "weekdayname": local.strftime("%A"), "yearday": str(local.timetuple().tm_yday),
            "section": section, "sections": "/".join(dirs),
            "title": title_part, "slug": hugo_path(slug, lower) if slug else title_part,
            "filename": filename, "slugorfilename": slug or filename,
        }
        return _join(rules.prefix, _hugo_ending(rules, hugo_path(_expand(pattern, values), lower)))
    return _join(rules.prefix, _hugo_ending(rules, hugo_path("/".join([*dirs, slug or filename]), lower)))


def _hugo_ending(rules: UrlRules, path: str) -> str:
    """Pretty URLs end in '/', ugly ones (uglyURLs = true) in '.html'."""
    if path.endswith(".html"):
        return path
    return path.rstrip("/") + ".html" if rules.options.get("uglyurls") else path.rstrip("/") + "/"


# ---- Jekyll (lib/jekyll/document.rb url_placeholders, url.rb, utils.rb slugify)

_JEKYLL_NAME = re.compile(r"^(\d{2,4}-\d{1,2}-\d{1,2})-(.+)\.[^.]+$")


def jekyll_slugify(text: str, mode: str = "default", cased: bool = False) -> str:
    """Jekyll's Utils.slugify: 'default' keeps letters and digits, 'pretty' also ._~!$&'()+,;=@."""
    keep = "" if mode == "default" else "._~!$&'()+,;=@"
    slug = re.sub(r"-+", "-", "".join(c if c.isalnum() or c in keep else "-" for c in text)).strip("-")
    return slug if cased else slug.lower()


def jekyll_categories(post_id: str, meta: dict[str, Any]) -> list[str]:
    """Folders above `_posts`, then the front matter's `category` and `categories` (a string
    is split on spaces)."""
    parts = post_id.split("/")
    found = [p for p in parts[: parts.index("_posts")] if p] if "_posts" in parts else []
    for key in ("category", "categories"):
        value = meta.get(key)
        if isinstance(value, str):
            found.extend(value.split() if key == "categories" else [value])
        elif isinstance(value, (list, tuple)):
            found.extend(str(v) for v in value if v is not None)
        elif value is not None:
            found.append(str(value))
    return found


def _jekyll_url(rules: UrlRules, post_id: str, meta: dict[str, Any], title: str, date: dt.datetime) -> str:
    name = post_id.rsplit("/", 1)[-1]
    named = _JEKYLL_NAME.match(name)
    file_title = named.group(2) if named else name.rsplit(".", 1)[0]
    given_slug = _front_matter_link(meta, "slug")
    local = date.astimezone(rules.zone)
    cats = list(dict.fromkeys(c.lower() for c in jekyll_categories(post_id, meta)))
    values = {
        **_clock_values(local), "short_year": local.strftime("%y"),
        "y_day": f"{local.timetuple().tm_yday:03d}", "short_month": local.strftime("%b"),
        "long_month": local.strftime("%B"), "short_day": local.strftime("%a"), "long_day": local.strftime("%A"),
        "week": f"{local.isocalendar()[1]:02d}", "w_year": str(local.isocalendar()[0]),
        "w_day": str(local.isocalendar()[2]),
        "title": jekyll_slugify(given_slug, "pretty", cased=True) if given_slug else file_title,
        "slug": jekyll_slugify(given_slug or file_title),
        "categories": "/".join(cats), "slugified_categories": "/".join(jekyll_slugify(c) for c in cats),
        "output_ext": ".html", "name": jekyll_slugify(file_title),
    }
    pattern = _front_matter_link(meta, "permalink") or rules.permalink
    pattern = JEKYLL_STYLES.get(pattern, pattern)
    path = _expand(pattern, values)
    path = re.sub(r"/+", "/", "/" + path)
    return _join(rules.prefix, path)


_BUILDERS: dict[str, Callable[[UrlRules, str, dict[str, Any], str, dt.datetime], str]] = {
    "pattern": _pattern_url, "hexo": _hexo_url, "hugo": _hugo_url, "jekyll": _jekyll_url,
}
