"""The search page in a real headless Chromium (Debian's package), driven by Playwright."""

from __future__ import annotations

import os
import re
import shutil
import time
import urllib.parse
from pathlib import Path
from typing import Any, Iterator

import pytest
from server import Server

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("SEARCHSVC_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "screenshots"

if not Path(CHROMIUM).exists():
    pytest.skip(f"browser tests skipped: no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests skipped: playwright is not installed")


@pytest.fixture(scope="module")
def server(sample_index_dir: Path) -> Iterator[Server]:
    with Server(sample_index_dir) as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="zh-CN")
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield pg
    context.close()
    assert errors == []


def hit_ids(pg: Any) -> list[str]:
    return [a.get_attribute("href") for a in pg.query_selector_all("a.hit-link")]


def test_ime_composition_searches_only_when_it_ends(server: Server, page: Any) -> None:
    page.goto(server.url + "/")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "fragment=1" in r.url else None)
    page.click("#q")
    cdp = page.context.new_cdp_session(page)
    # Pinyin being composed, as an IME does it: composition events, no committed text yet.
    for typed in ("ren", "rengong", "rengongzhineng"):
        cdp.send("Input.imeSetComposition", {"text": typed, "selectionStart": len(typed), "selectionEnd": len(typed)})
        page.wait_for_timeout(120)
    page.wait_for_timeout(500)
    assert requests == []
    assert page.query_selector_all("li.hit") == []
    cdp.send("Input.insertText", {"text": "人工智能"})  # the IME commits: compositionend
    page.wait_for_selector("li.hit")
    assert len(requests) == 1 and "q=%E4%BA%BA%E5%B7%A5%E6%99%BA%E8%83%BD" in requests[0]
    assert page.inner_text("#status").startswith("找到 2 篇文章")
    assert page.inner_html("li.hit h2 a") == "<mark>人工智能</mark>绘画工具体验"
    assert urllib.parse.unquote(page.url).endswith("/?q=人工智能")


def test_typing_is_debounced_and_the_latest_query_wins(server: Server, page: Any) -> None:
    page.goto(server.url + "/")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "fragment=1" in r.url else None)
    page.type("#q", "kubernetes", delay=20)
    page.wait_for_selector("li.hit")
    page.wait_for_timeout(400)
    assert len(requests) == 1
    assert hit_ids(page) == ["/2025/05/22/2025/kubernetes/"]


def test_facet_click_filters_and_back_restores(server: Server, page: Any) -> None:
    page.goto(server.url + "/?q=" + urllib.parse.quote("的"))
    total_before = re.compile("^" + re.escape(page.inner_text("#status").split("，")[0]))
    page.click("a.chip:has-text('美食')")
    sync_api.expect(page.locator("#status")).not_to_have_text(total_before)
    assert page.inner_text("#status").startswith("找到 2 篇文章")
    assert all("/2019/" in h or "/2021/" in h or "/2023/" in h for h in hit_ids(page))
    assert "category=%E7%BE%8E%E9%A3%9F" in page.url
    assert page.get_attribute("a.chip.on", "aria-pressed") == "true"
    page.go_back()
    sync_api.expect(page.locator("#status")).to_have_text(total_before)
    assert "category" not in page.url


def test_keyboard_navigation(server: Server, page: Any) -> None:
    # Hits link to the blog's own pages, which this server does not serve: stand in for the blog.
    page.route("**/20*/**", lambda route: route.fulfill(status=200, content_type="text/html", body="<p>post</p>"))
    page.goto(server.url + "/?q=" + urllib.parse.quote("城市"))
    page.click("h1")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.press("ArrowDown")
    first, second = hit_ids(page)[:2]
    assert page.evaluate("document.activeElement.getAttribute('href')") == first
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.getAttribute('href')") == second
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.press("ArrowDown")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == server.url + first


def test_works_without_javascript(server: Server, browser: Any) -> None:
    context = browser.new_context(java_script_enabled=False)
    pg = context.new_page()
    pg.goto(server.url + "/")
    pg.fill("#q", "烏龍茶")
    with pg.expect_navigation():
        pg.press("#q", "Enter")
    assert pg.inner_text("#status").startswith("找到 1 篇文章")
    assert pg.inner_html("li.hit h2 a") == "臺灣<mark>烏龍茶</mark>的故事"
    context.close()


@pytest.mark.parametrize("name, width, height", [("desktop", 1280, 900), ("phone", 390, 844)])
def test_screenshots(server: Server, browser: Any, name: str, width: int, height: int) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme,
                                      device_scale_factor=2 if name == "phone" else 1)
        pg = context.new_page()
        pg.goto(server.url + "/?q=" + urllib.parse.quote("人工智能 城市"))
        pg.goto(server.url + "/?q=" + urllib.parse.quote("数字经济"))
        overflow = pg.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")
        assert overflow is False  # nothing wider than a phone screen
        path = ARTIFACTS / f"{name}-{scheme}.png"
        pg.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
        context.close()


def test_typing_through_an_ime_and_clicking_the_second_hit_is_one_search_clicked_at_2(
        sample_index_dir: Path, browser: Any, tmp_path: Path) -> None:
    """Issue 19: 人工 then 智能, each composed in pinyin and committed, are two requests and one search
    in the query log; the click on the second hit is reported with sendBeacon as the page leaves."""
    from searchsvc.stats.report import read_report

    stats = tmp_path / "stats.sqlite"
    with Server(sample_index_dir, extra=("--stats", str(stats))) as server:
        context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="zh-CN")
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url) if "fragment=1" in r.url else None)
        page.goto(server.url + "/")
        page.click("#q")
        cdp = page.context.new_cdp_session(page)
        for pinyin, word in (("rengong", "人工"), ("zhineng", "智能")):
            for n in range(2, len(pinyin) + 1, 2):
                cdp.send("Input.imeSetComposition", {"text": pinyin[:n], "selectionStart": n, "selectionEnd": n})
                page.wait_for_timeout(40)
            with page.expect_response(lambda r: "fragment=1" in r.url):
                cdp.send("Input.insertText", {"text": word})  # the IME commits: compositionend, one request
            page.wait_for_timeout(300)
        assert len(requests) == 2 and page.input_value("#q") == "人工智能"
        second = page.query_selector_all("a.hit-link")[1]
        assert second.get_attribute("data-position") == "2"
        second.click()
        page.wait_for_load_state()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and read_report(stats, days=1).clicked == 0:
            time.sleep(0.05)
        report = read_report(stats, days=1)
        context.close()
    assert (report.searches, [q.query for q in report.top]) == (1, ["人工智能"])
    assert (report.click_through, report.mean_position) == (1.0, 2.0)
