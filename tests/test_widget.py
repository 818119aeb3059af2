"""The embeddable box (/widget.js) on a page served from another origin, in a real Chromium."""

from __future__ import annotations

import functools
import http.server
import re
import sqlite3
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Iterator

import pytest
from server import Server, free_port
from test_browser import ARTIFACTS, browser  # noqa: F401  (a fixture, and the module's Chromium check)

pytestmark = pytest.mark.browser

BLOG_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>我的博客</title>
<style>
  /* A theme with heavy-handed global rules: none of them may reach the widget. */
  * { font-family: serif !important; color: #a00 !important; }
  input { display: none !important; }
  ul, li { list-style: square; margin: 3em; }
  mark { background: black; }
</style></head>
<body>
<h1>我的博客</h1>
<p>页面上的其他内容。</p>
<div id="search"></div>
<script>window.namesBefore = Object.keys(window);</script>
<script src="{service}/widget.js" data-target="#search" data-results="5" async></script>
</body></html>
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def blog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A static site on its own origin: http://127.0.0.1:PORT, serving files from a folder."""
    root = tmp_path_factory.mktemp("blog")
    port = free_port()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", root
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def service(sample_index_dir: Path, blog: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    stats = tmp_path_factory.mktemp("stats") / "stats.sqlite"
    with Server(sample_index_dir, extra=("--allow-origin", blog[0], "--stats", str(stats))) as s:
        s.stats = stats
        yield s


def open_blog(browser: Any, blog: tuple[str, Path], service_url: str, name: str) -> tuple[Any, list[str]]:  # noqa: F811
    origin, root = blog
    (root / name).write_text(BLOG_PAGE.replace("{service}", service_url), encoding="utf-8")
    context = browser.new_context(viewport={"width": 900, "height": 700}, locale="zh-CN")
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("dialog", lambda dialog: (problems.append("dialog: " + dialog.message), dialog.dismiss()))
    page.goto(f"{origin}/{name}")
    page.wait_for_selector(".searchsvc-widget input")
    return page, problems


def wait_for_click(stats: Path, post: str, timeout: float = 5.0) -> int | None:
    """The position of the click on `post` the server logged (its writer works in batches)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stats.exists():
            db = sqlite3.connect(stats)
            try:
                found = db.execute("SELECT position FROM clicks WHERE post = ?", (post,)).fetchone()
            except sqlite3.OperationalError:  # the server is creating the tables
                found = None
            finally:
                db.close()
            if found:
                return int(found[0])
        time.sleep(0.05)
    return None


def test_widget_searches_across_origins(browser: Any, blog: tuple[str, Path], service: Server) -> None:  # noqa: F811
    page, problems = open_blog(browser, blog, service.url, "index.html")
    api_calls: list[Any] = []
    page.on("request", lambda r: api_calls.append(r) if "/api/search" in r.url else None)
    page.click(".searchsvc-widget input")
    cdp = page.context.new_cdp_session(page)
    for typed in ("ren", "rengong", "rengongzhineng"):  # pinyin being composed: no search yet
        cdp.send("Input.imeSetComposition", {"text": typed, "selectionStart": len(typed), "selectionEnd": len(typed)})
        page.wait_for_timeout(100)
    page.wait_for_timeout(400)
    assert api_calls == []
    cdp.send("Input.insertText", {"text": "人工智能"})
    page.wait_for_selector(".searchsvc-widget li[role=option]")
    assert len(api_calls) == 1
    call = api_calls[0]
    assert call.url.startswith(service.url + "/api/search?") and call.all_headers().get("origin") == blog[0]
    assert call.response().all_headers()["access-control-allow-origin"] == blog[0]
    sent = urllib.parse.parse_qs(urllib.parse.urlsplit(call.url).query)
    sid = sent.pop("sid")[0]  # the page load's random id: it folds typing into one search, and clicks join it
    assert re.fullmatch("[0-9a-f]{24}", sid) and sent == {"per_page": ["5"], "q": ["人工智能"]}

    titles = page.eval_on_selector_all(".searchsvc-widget .title", "els => els.map(e => e.innerHTML)")
    api = service.json("/api/search?per_page=5&q=" + urllib.parse.quote("人工智能"))
    assert titles == [h["title_html"] for h in api["hits"]]
    assert page.inner_text(".searchsvc-widget .status") == f"找到 {api['total']} 篇文章"
    # The theme's `input { display: none }` and red text stop at the shadow root.
    assert page.eval_on_selector(".searchsvc-widget input", "e => getComputedStyle(e).display") == "inline-block"
    for part in (".title", ".snippet", ".status", "input"):
        style = page.eval_on_selector(f".searchsvc-widget {part}", "e => [getComputedStyle(e).color, getComputedStyle(e).fontFamily]")
        assert style[0] != "rgb(170, 0, 0)" and not style[1].startswith("serif"), (part, style)
    # Nothing was added to the page's global names.
    assert page.evaluate("Object.keys(window).filter(k => !window.namesBefore.includes(k) && k !== 'namesBefore')") == []

    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    selected = page.eval_on_selector_all(".searchsvc-widget [role=option]", "els => els.map(e => e.getAttribute('aria-selected'))")
    assert selected == ["true"] + ["false"] * (len(selected) - 1)
    assert page.get_attribute(".searchsvc-widget input", "aria-activedescendant") == "hit-0"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "widget-cross-origin.png"))
    page.keyboard.press("Enter")
    page.wait_for_url(blog[0] + api["hits"][0]["url"])  # the post's own URL on the blog
    assert wait_for_click(service.stats, api["hits"][0]["id"]) == 1  # reported by sendBeacon, across origins
    assert problems == [] or all("404" in p for p in problems)  # the static blog has no such post file
    page.context.close()


def test_widget_escape_outside_click_and_hostile_text(browser: Any, blog: tuple[str, Path], service: Server) -> None:  # noqa: F811
    page, problems = open_blog(browser, blog, service.url, "hostile.html")
    page.fill(".searchsvc-widget input", '<img src=x onerror=alert(1)>西湖')
    page.wait_for_selector(".searchsvc-widget .panel:not([hidden])")
    assert page.query_selector(".searchsvc-widget img") is None
    page.keyboard.press("Escape")
    assert page.eval_on_selector(".searchsvc-widget .panel", "e => e.hidden") is True
    page.keyboard.press("Escape")  # a second Escape clears the box
    assert page.input_value(".searchsvc-widget input") == ""
    page.fill(".searchsvc-widget input", "火锅")
    page.wait_for_selector(".searchsvc-widget li[role=option]")
    page.mouse.click(20, 20)  # outside the widget
    assert page.eval_on_selector(".searchsvc-widget .panel", "e => e.hidden") is True
    page.keyboard.press("Tab")
    page.focus(".searchsvc-widget input")  # focus brings the last results back
    assert page.eval_on_selector(".searchsvc-widget .panel", "e => e.hidden") is False
    page.fill(".searchsvc-widget input", "不存在的词语组合")
    page.wait_for_function("document.querySelector('.searchsvc-widget').shadowRoot.querySelector('.status')"
                           ".textContent.startsWith('没有找到')")
    assert problems == []
    page.context.close()


def test_widget_from_an_origin_not_allowed(browser: Any, blog: tuple[str, Path], sample_index_dir: Path) -> None:  # noqa: F811
    with Server(sample_index_dir) as closed:  # no --allow-origin: the browser blocks the answer
        page, problems = open_blog(browser, blog, closed.url, "closed.html")
        page.fill(".searchsvc-widget input", "西湖")
        page.wait_for_function("document.querySelector('.searchsvc-widget').shadowRoot.querySelector('.status')"
                               ".textContent === '搜索暂时不可用'")
        assert problems and all("CORS" in p or "Failed to fetch" in p or "ERR_FAILED" in p for p in problems)
        page.context.close()


def test_widget_files_are_served_for_other_sites(service: Server) -> None:
    status, body = service.get("/widget.js")
    assert status == 200 and b"attachShadow" in body
    import urllib.request

    with urllib.request.urlopen(service.url + "/widget.css") as r:
        assert r.headers["Content-Type"].startswith("text/css")
        assert r.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
        assert "max-age=600" in r.headers["Cache-Control"]


def test_widget_shows_popular_searches_under_the_empty_box(browser: Any, blog: tuple[str, Path],  # noqa: F811
                                                          sample_index_dir: Path, tmp_path: Path) -> None:
    from searchsvc.stats.log import QueryLog, Search

    stats = tmp_path / "stats.sqlite"
    log = QueryLog(stats)
    for q, hits in (("火锅", 1), ("火锅", 1), ("西湖", 2), ("西湖", 2), ("西湖", 2), ("没有的词", 0), ("没有的词", 0)):
        log.record(Search(q, hits, 1, "whoosh"))
    log.close()
    with Server(sample_index_dir, extra=("--allow-origin", blog[0], "--stats", str(stats))) as service:
        page, problems = open_blog(browser, blog, service.url, "popular.html")
        page.click(".searchsvc-widget input")
        page.wait_for_selector(".searchsvc-widget .popular .chip")
        assert page.eval_on_selector_all(".searchsvc-widget .popular .chip", "els => els.map(e => e.textContent)") \
            == ["西湖", "火锅"]
        page.click(".searchsvc-widget .popular .chip >> nth=1")
        page.wait_for_selector(".searchsvc-widget li[role=option]")
        assert page.input_value(".searchsvc-widget input") == "火锅"
        assert page.eval_on_selector(".searchsvc-widget .popular", "e => e.hidden") is True
        assert problems == []
        page.context.close()
