"""Ingest stage: HTML and Markdown bodies -> the text a reader sees."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from searchsvc.analysis.normalize import ZERO_WIDTH

# Characters that render as nothing; removed so that 数\u200b字 is the word 数字.
_ZERO_WIDTH_RE = re.compile(f"[{ZERO_WIDTH}]")  # str.translate would look up every character

_DATA_URI = re.compile(r"data:[\w/+.-]*(?:;[\w=.-]*)*,[A-Za-z0-9+/=%\s]*", re.IGNORECASE)
# Starts only where a run starts: tried at every position, a run shorter than 200 was rescanned
# from each of its characters.
_LONG_BASE64 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{200,}={0,2}")
_FENCE = re.compile(r"^(\s*)(```|~~~)[^\n]*\n(.*?)^\s*\2[ \t]*$", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_SHORTCODE = re.compile(r"\{\{[<%].*?[%>]\}\}", re.DOTALL)
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\([^)\n]*\)")
_LINK = re.compile(r"(?<!!)\[([^\]\n]*)\]\((?:[^()\n]|\([^)\n]*\))*\)")
_REF_LINK = re.compile(r"(?<!!)\[([^\]\n]+)\]\[[^\]\n]*\]")
_REF_DEF = re.compile(r"^\s{0,3}\[[^\]\n]+\]:\s*\S+.*$", re.MULTILINE)
_AUTOLINK = re.compile(r"<(?:https?|ftp|mailto):[^>\s]*>", re.IGNORECASE)
_BARE_URL = re.compile(r"(?:https?|ftp)://[^\s<>\"'()\[\]（）【】，。]+", re.IGNORECASE)
_LINE_MARKS = re.compile(r"^[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|[-*+][ \t]+|\d+[.)][ \t]+)+", re.MULTILINE)
_HR = re.compile(r"^[ \t]*(?:[-*_][ \t]*){3,}$", re.MULTILINE)
_EMPHASIS = re.compile(r"(?=[*~_])(?:\*{1,3}|~~|(?<!\w)_{1,3}|_{1,3}(?!\w))")  # one class test per position
_TABLE_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-{2,}:?[ \t]*(?:\|[ \t]*:?-{2,}:?[ \t]*)*\|?[ \t]*$", re.MULTILINE)
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\s*\n\s*")

_SKIP_TAGS = {"script", "style", "noscript", "svg", "template", "head", "title", "iframe", "object"}
_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
    "section", "article", "blockquote", "pre", "hr", "figure", "figcaption", "dd", "dt", "td", "th",
}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(source: str) -> str:
    parser = _TextExtractor()
    parser.feed(source)
    parser.close()
    return "".join(parser.parts)


def _markdown_to_html_text(source: str) -> str:
    """Strip Markdown syntax, keeping link text and code; code is escaped so the HTML pass keeps it.

    Each pattern runs only when the text holds a character it needs: most posts have no code, links
    or tables, and a pattern scan costs 20-60 us a 6 KB post."""
    kept: list[str] = []

    def keep(text: str) -> str:
        kept.append(html.escape(text, quote=False))
        return f"\x00{len(kept) - 1}\x00"

    if "```" in source or "~~~" in source:
        source = _FENCE.sub(lambda m: "\n" + keep(m.group(3)) + "\n", source)
    if "`" in source:
        source = _INLINE_CODE.sub(lambda m: keep(m.group(2)), source)
    if "{{" in source:
        source = _SHORTCODE.sub(" ", source)
    if "[" in source:
        source = _LINK.sub(r"\1", source)  # first, so that a link inside an image's alt text goes
        source = _IMAGE.sub(" ", source)
        source = _LINK.sub(r"\1", source)
        source = _REF_LINK.sub(r"\1", source)
        source = _REF_DEF.sub("", source)
    if "<" in source:
        source = _AUTOLINK.sub(" ", source)
    if "-" in source or "*" in source or "_" in source:
        source = _TABLE_RULE.sub("", source)
        source = _HR.sub("", source)
    source = _LINE_MARKS.sub("", source)
    if "*" in source or "_" in source or "~~" in source:
        source = _EMPHASIS.sub("", source)
    source = source.replace("|", " ")
    return re.sub("\x00(\\d+)\x00", lambda m: kept[int(m.group(1))], source) if kept else source


def to_text(source: str) -> str:
    """What a reader sees of an HTML and/or Markdown body: no tags, attributes, URLs or base64."""
    # NUL never renders, and it marks the code spans _markdown_to_html_text sets aside
    source = source.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if any(c in source for c in ZERO_WIDTH):
        source = _ZERO_WIDTH_RE.sub("", source)
    if ":" in source:
        source = _DATA_URI.sub(" ", source)
    source = _LONG_BASE64.sub(" ", source)
    text = _markdown_to_html_text(source)
    if "<" in text or "&" in text:
        text = html_to_text(text)
    if "://" in text:
        text = _BARE_URL.sub(" ", text)
    text = _SPACES.sub(" ", text)
    return _BLANK_LINES.sub("\n", text).strip()
