"""The query log: folding what is typed into one search, clicks, the report, 热门搜索, the admin page,
and a log that never fails a search."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner
from flask import Flask

from searchsvc.cli import main
from searchsvc.stats.log import FOLD_SECONDS, Click, QueryLog, Search, connect, prune
from searchsvc.stats.report import Blocklist, chart_bars, popular, read_report
from searchsvc.web import close_index, create_app

T0 = time.time() - 3600  # an hour ago: inside today or yesterday, inside every window below


def rows(path: Path) -> list[tuple[str, str, int, int]]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT typed, normalized, hits, page FROM searches ORDER BY id").fetchall()
    finally:
        db.close()


def logged(path: Path, *entries: Search | Click) -> QueryLog:
    log = QueryLog(path)
    for entry in entries:
        log.record(entry)
    log.close()
    return log


def test_a_prefix_chain_typed_within_seconds_is_one_search(tmp_path: Path) -> None:
    path = tmp_path / "stats.sqlite"
    logged(path,
           Search("数", 40, 1, "whoosh", "a", T0), Search("数字", 12, 1, "whoosh", "a", T0 + 1),
           Search("數字經", 3, 1, "whoosh", "a", T0 + 2), Search("数字经济", 5, 1, "whoosh", "a", T0 + 3),
           Search("数字", 12, 1, "whoosh", "b", T0 + 3),  # another page load: its own search
           Search("数字经济", 5, 2, "whoosh", "a", T0 + 60),  # the next page of it: the same search
           Search("火锅", 2, 1, "whoosh", "a", T0 + 61),  # something else: a new one
           Search("火锅店", 0, 1, "whoosh", "a", T0 + 61 + FOLD_SECONDS + 1),  # too late to be the same typing
           Search("数字", 12, 1, "whoosh", None, T0), Search("数字经济", 5, 1, "whoosh", None, T0 + 1))  # no page load id
    assert rows(path) == [("数字经济", "数字经济", 5, 2), ("数字", "数字", 12, 1), ("火锅", "火锅", 2, 1),
                          ("火锅店", "火锅店", 0, 1), ("数字", "数字", 12, 1), ("数字经济", "数字经济", 5, 1)]


def test_clicks_count_for_the_page_loads_search_and_stop_the_fold(tmp_path: Path) -> None:
    path = tmp_path / "stats.sqlite"
    logged(path, Search("雪豹", 3, 1, "whoosh", "a", T0), Click("a", "2024/snow.md", 2, T0 + 1),
           Search("雪豹出没", 1, 1, "whoosh", "a", T0 + 2),  # after a click: the clicked search stays
           Click("a", "2024/leopard.md", 1, T0 + 3), Click("nobody", "x.md", 1, T0 + 3))
    assert [r[0] for r in rows(path)] == ["雪豹", "雪豹出没"]
    report = read_report(path, days=2)
    assert (report.searches, report.clicked, report.click_through, report.mean_position) == (2, 2, 1.0, 1.5)


def test_the_report_counts_days_top_and_zero_result_queries(tmp_path: Path) -> None:
    path = tmp_path / "stats.sqlite"
    now = time.time()
    logged(path, *(Search(q, hits, 1, "whoosh", None, now - days * 86400)
                   for q, hits, days in (("Python", 4, 0), ("python", 4, 0), ("python ", 4, 1), ("检锁", 0, 1),
                                         ("检锁", 0, 2), ("火锅", 2, 2), ("旧闻", 1, 40))))
    report = read_report(path, days=7, now=now)
    assert report.searches == 6 and report.zero_results == 2 and report.clicked == 0 and report.mean_position is None
    assert [(q.query, q.searches) for q in report.top] == [("python", 3), ("检锁", 2), ("火锅", 1)]
    assert [(q.query, q.searches) for q in report.top_zero] == [("检锁", 2)]
    today = dt.date.today()
    assert [(d.day, d.searches, d.zero_results) for d in report.per_day][-3:] == [
        (today - dt.timedelta(2), 2, 1), (today - dt.timedelta(1), 2, 1), (today, 2, 0)]
    assert len(report.per_day) == 7 and sum(d.searches for d in report.per_day) == 6
    bars = chart_bars(report.per_day, width=700, height=100)
    assert [b.height for b in bars][-3:] == [100.0, 100.0, 100.0] and bars[0].height == 0.0
    assert bars[-1].x + bars[-1].width <= 700
    assert read_report(path, days=60, now=now).searches == 7
    assert read_report(tmp_path / "none.sqlite").searches == 0


def test_popular_needs_two_searches_that_found_posts_and_leaves_out_the_blocklist(tmp_path: Path) -> None:
    path = tmp_path / "stats.sqlite"
    now = time.time()
    logged(path, *(Search(q, hits, 1, "whoosh", None, now - days * 86400)
                   for q, hits, days in (("数字经济", 9, 0), ("数字经济", 9, 1), ("数字经济", 9, 2), ("杭州", 3, 0),
                                         ("杭州", 3, 1), ("张三电话", 1, 0), ("检锁", 0, 0), ("检锁", 0, 0),
                                         ("旧闻", 1, 8), ("旧闻", 1, 9), ("八卦", 2, 0), ("八卦", 2, 0))))
    blocked = tmp_path / "blocklist.txt"
    blocked.write_text("# never shown\n八卦  # gossip\n", encoding="utf-8")
    found = popular(path, limit=8, blocklist=Blocklist(blocked).queries(), now=now)
    assert [(q.query, q.searches) for q in found] == [("数字经济", 3), ("杭州", 2)]
    assert [q.query for q in popular(path, limit=1, now=now)] == ["数字经济"]


def test_old_searches_and_sessions_are_forgotten(tmp_path: Path) -> None:
    path = tmp_path / "stats.sqlite"
    now = time.time()
    logged(path, Search("去年", 1, 1, "whoosh", "old", now - 100 * 86400), Search("今天", 1, 1, "whoosh", "new", now))
    db = connect(path)
    try:
        prune(db, 90, now)
        assert db.execute("SELECT typed FROM searches").fetchall() == [("今天",)]
        assert db.execute("SELECT session FROM intents").fetchall() == [("new",)]
    finally:
        db.close()


def test_several_processes_log_to_one_file(tmp_path: Path) -> None:
    path = tmp_path / "stats.sqlite"
    script = ("import sys, time\nfrom pathlib import Path\nfrom searchsvc.stats.log import QueryLog, Search\n"
              "log = QueryLog(Path(sys.argv[1]))\n"
              "for n in range(300):\n    log.record(Search(f'{sys.argv[2]} {n}', 1, 1, 'whoosh', None))\n"
              "    time.sleep(0.001)\nlog.close()\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), name]) for name in ("甲", "乙", "丙")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    assert len(rows(path)) == 900


@pytest.fixture
def app(sample_index_dir: Path, tmp_path: Path) -> Iterator[Flask]:
    app = create_app({"INDEX_DIR": str(sample_index_dir), "TESTING": True, "STATS": str(tmp_path / "stats.sqlite")})
    yield app
    close_index(app)


def flush(app: Flask) -> Path:
    log = app.extensions["searchsvc.query_log"]
    log.flush()
    return log.path  # type: ignore[no-any-return]


def test_searches_through_the_app_are_logged_without_who_searched(app: Flask) -> None:
    client = app.test_client()
    headers = {"User-Agent": "Agent-Of-Reader/9.9", "X-Forwarded-For": "203.0.113.77"}
    for q in ("人", "人工", "人工智能"):
        assert client.get("/api/search", query_string={"q": q, "sid": "s1"}, headers=headers,
                          environ_base={"REMOTE_ADDR": "198.51.100.23"}).status_code == 200
    assert client.get("/?q=火锅", headers=headers).status_code == 200
    assert client.get("/?category=美食").status_code == 200  # a filter alone is not a search
    path = flush(app)
    assert rows(path) == [("人工智能", "人工智能", 2, 1), ("火锅", "火锅", 1, 1)]
    held = b"".join(p.read_bytes() for p in path.parent.glob("stats.sqlite*"))
    assert b"198.51.100.23" not in held and b"203.0.113.77" not in held and b"Agent-Of-Reader" not in held


def test_a_click_reported_by_the_page(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/?q=人工智能").get_data(as_text=True)
    sid = page.split('data-sid="', 1)[1].split('"', 1)[0]
    assert len(sid) == 24 and 'data-position="2"' in page
    assert client.post("/api/click", data={"sid": sid, "position": "2", "id": "2022/ai.md"}).status_code == 204
    assert client.post("/api/click", data={"sid": sid, "position": "zero"}).status_code == 400
    assert client.post("/api/click", data={"position": "1"}).get_json()["error"]["code"] == "bad_request"
    flush(app)
    report = read_report(flush(app), days=1)
    assert (report.searches, report.clicked, report.mean_position) == (1, 1, 2.0)


def test_popular_queries_on_the_api_and_under_the_empty_box(app: Flask) -> None:
    client = app.test_client()
    for _ in range(2):
        client.get("/api/search?q=火锅")
        client.get("/api/search?q=人工智能")
    client.get("/api/search?q=人工智能")
    client.get("/api/search?q=没有这个词语xyz")
    client.get("/api/search?q=没有这个词语xyz")
    flush(app)
    body = client.get("/api/popular?limit=8").get_json()
    assert body == {"queries": [{"query": "人工智能", "searches": 3}, {"query": "火锅", "searches": 2}]}
    assert client.get("/api/popular?limit=0").status_code == 400
    assert client.get("/api/popular?limit=abc").get_json()["error"]["code"] == "bad_request"
    page = client.get("/").get_data(as_text=True)
    assert "热门搜索" in page and page.index("人工智能") < page.index("火锅")
    assert 'href="/?q=%E4%BA%BA%E5%B7%A5%E6%99%BA%E8%83%BD"' in page


def test_no_stats_logs_nothing(sample_index_dir: Path, tmp_path: Path) -> None:
    app = create_app({"INDEX_DIR": str(sample_index_dir), "TESTING": True, "STATS": False})
    try:
        client = app.test_client()
        assert client.get("/api/search?q=火锅").status_code == 200
        assert client.get("/api/popular").get_json() == {"queries": []}
        assert client.post("/api/click", data={"sid": "x", "position": "1", "id": "a"}).status_code == 204
        assert "查询日志已关闭" in client.get("/admin/stats").get_data(as_text=True)
    finally:
        close_index(app)


def test_a_locked_log_never_fails_a_search(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    client = app.test_client()
    client.get("/api/search?q=火锅")
    path = flush(app)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        with caplog.at_level(logging.WARNING, logger="searchsvc.stats"):
            started = time.monotonic()
            r = client.get("/api/search?q=人工智能")
            assert r.status_code == 200 and r.get_json()["total"] == 2
            assert time.monotonic() - started < 1.0  # the search did not wait for the lock
            flush(app)
        assert any("not written" in m and "database is locked" in m for m in caplog.messages)
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()
    client.get("/api/search?q=雪豹")
    flush(app)
    assert [r[0] for r in rows(path)] == ["火锅", "人工智能", "雪豹"]  # kept, then written


@pytest.mark.parametrize("remote, headers, status", [
    ("127.0.0.1", {}, 200), ("::1", {}, 200), ("10.0.0.5", {}, 403),
    ("127.0.0.1", {"X-Forwarded-For": "10.0.0.5"}, 403),  # a proxy on this machine: not the owner
])
def test_without_a_token_the_admin_page_answers_loopback_only(app: Flask, remote: str, headers: dict[str, str],
                                                              status: int) -> None:
    r = app.test_client().get("/admin/stats", headers=headers, environ_base={"REMOTE_ADDR": remote})
    assert r.status_code == status and r.headers["Cache-Control"] == "no-store"
    assert ("SEARCHSVC_ADMIN_TOKEN" in r.get_data(as_text=True)) == (status == 403)


def test_the_admin_page_behind_a_token(app: Flask) -> None:
    app.config["ADMIN_TOKEN"] = "s3cret-令牌"
    client = app.test_client()
    for q in ("火锅", "火锅", "检锁"):
        client.get("/api/search", query_string={"q": q})
    flush(app)
    r = client.get("/admin/stats")
    assert r.status_code == 401 and 'name="token"' in r.get_data(as_text=True) and r.headers["WWW-Authenticate"]
    assert client.get("/admin/stats", headers={"Authorization": "Bearer wrong"}).status_code == 401
    r = client.get("/admin/stats", headers={"Authorization": "Bearer s3cret-令牌".encode().decode("latin-1")})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert '<dd id="searches">3</dd>' in html and '<dd id="zero-results">1</dd>' in html
    assert html.count('<rect class="bar"') == 30 and "<script" not in html.split("</main>")[0]
    zero = html.split('id="zero"', 1)[1].split("</table>", 1)[0]
    assert "检锁" in zero and "火锅" not in zero
    assert client.post("/admin/login", data={"token": "nope"}).status_code == 401
    r = client.post("/admin/login", data={"token": "s3cret-令牌"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/admin/stats")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "s3cret" not in cookie
    assert client.get("/admin/stats").status_code == 200  # the cookie
    client.set_cookie("searchsvc_admin", "forged", path="/admin")
    assert client.get("/admin/stats").status_code == 401


def test_cli_stats_text_and_json(app: Flask, tmp_path: Path) -> None:
    client = app.test_client()
    for q in ("火锅", "火锅", "检锁"):
        client.get("/api/search", query_string={"q": q})
    path = flush(app)
    runner = CliRunner()
    out = runner.invoke(main, ["stats", "--stats", str(path), "--days", "3"])
    assert out.exit_code == 0, out.output
    assert "searches in the last 3 days: 3 (no results: 1, 33%)" in out.output
    assert "  1. 火锅  2" in out.output and "top queries with no results:\n    1. 检锁  1" in out.output
    data = json.loads(runner.invoke(main, ["stats", "--stats", str(path), "--json"]).output)
    assert data["searches"] == 3 and data["top"][0] == {"query": "火锅", "searches": 2} and len(data["per_day"]) == 7
    missing = runner.invoke(main, ["stats", "--index", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "No query log at" in missing.output
