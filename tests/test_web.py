"""HTTP through the Flask app: the API contract, the envelope, the page without JavaScript, no 5xx."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator
from xml.etree import ElementTree

import pytest
from flask.testing import FlaskClient

from searchsvc.web import close_index, create_app


@pytest.fixture
def client(sample_index_dir: Path) -> Iterator[FlaskClient]:
    app = create_app({"INDEX_DIR": str(sample_index_dir), "TESTING": True})
    yield app.test_client()
    close_index(app)


def test_api_search_shape(client: FlaskClient) -> None:
    r = client.get("/api/search", query_string={"q": "人工智能"})
    assert r.status_code == 200 and r.mimetype == "application/json"
    body = r.get_json()
    assert list(body) == ["query", "total", "page", "per_page", "pages", "took_ms", "hits", "facets", "suggestion", "corrected", "partial"]
    assert (body["query"], body["total"], body["page"], body["per_page"], body["pages"]) == ("人工智能", 2, 1, 10, 1)
    assert isinstance(body["took_ms"], float) and body["suggestion"] is None
    hit = body["hits"][0]
    assert hit == {
        "id": "2022/ai-painting.md",
        "url": "/2022/09/08/2022/ai-painting/",
        "title": "人工智能绘画工具体验",
        "title_html": "<mark>人工智能</mark>绘画工具体验",
        "snippet_html": hit["snippet_html"],
        "date": "2022-09-08T00:00:00Z",
        "categories": ["科技"],
        "tags": ["人工智能", "绘画"],
        "author": "周敏",
        "authors": ["周敏"],
        "image": None,
        "score": hit["score"],
    }
    assert hit["snippet_html"].startswith("最近试用了几款<mark>人工智能</mark>绘画工具。")
    assert isinstance(hit["score"], float) and hit["score"] > body["hits"][1]["score"]
    assert body["facets"]["authors"] == [{"value": "周敏", "count": 2}]
    assert set(body["facets"]) == {"categories", "tags", "authors"}


def test_api_filters_paging_and_sorting(client: FlaskClient) -> None:
    body = client.get("/api/search?q=的&category=美食&category=旅行&per_page=2&page=2&sort=oldest").get_json()
    assert body["page"] == 2 and body["per_page"] == 2 and len(body["hits"]) == 2
    assert body["pages"] == -(-body["total"] // 2)
    dates = [h["date"] for h in body["hits"]]
    assert dates == sorted(dates)
    assert all(set(h["categories"]) & {"美食", "旅行"} for h in body["hits"])
    ranged = client.get("/api/search?q=的&from=2026-01-01&to=2026-03-20").get_json()
    assert {h["id"] for h in ranged["hits"]} == {"2026/new-year-plan.md", "2026/spring-festival.md", "2026/city-cycling.md"}


@pytest.mark.parametrize(
    "query, message",
    [
        ("", "the parameter q is required"),
        ("q=x&page=0", "page must be between 1 and 1000000"),
        ("q=x&per_page=abc", "per_page must be a whole number, not 'abc'"),
        ("q=x&per_page=1000", "per_page must be between 1 and 100"),
        ("q=x&from=2021-02-30", "from must be an ISO date such as 2021-03-23, not '2021-02-30'"),
        ("q=x&to=yesterday", "to must be an ISO date such as 2021-03-23, not 'yesterday'"),
        ("q=x&sort=best", "sort must be one of relevance, newest, oldest"),
        ("q=" + "x" * 2001, "q is longer than 2000 characters"),
    ],
)
def test_bad_parameters_get_the_envelope(client: FlaskClient, query: str, message: str) -> None:
    r = client.get("/api/search?" + query)
    assert r.status_code == 400
    assert r.get_json() == {"error": {"code": "bad_request", "message": message}}


def test_unknown_api_paths_use_the_same_envelope(client: FlaskClient) -> None:
    r = client.get("/api/nothing")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
    r = client.post("/api/search?q=x")
    assert r.status_code == 405 and r.get_json()["error"]["code"] == "method_not_allowed"


HOSTILE = [
    "(((", '"', "AND", "OR NOT", "*", ":", "title:", "category:", "-", "--", '""', "\\", "%", "'; DROP TABLE posts;--",
    "<script>alert(1)</script>", "火" * 2000, "a" * 2000, "\u200b", "\ufffd", "😀", "𠀀", "\x00", "q\x01\x02",
]


@pytest.mark.parametrize("q", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_queries_never_fail(client: FlaskClient, q: str) -> None:
    import feedparser

    for path in ("/api/search", "/", "/api/suggest", "/search.atom"):
        r = client.get(path, query_string={"q": q})
        assert r.status_code == 200, (path, q, r.status_code)
    assert not feedparser.parse(client.get("/search.atom", query_string={"q": q}).data).bozo
    assert "<script>alert" not in client.get("/", query_string={"q": q}).get_data(as_text=True)


@pytest.mark.parametrize(
    "raw",
    ["/api/search?q=%FF%FE", "/api/search?q=%00", "/api/search?q=%E4%BA", "/?q=%FF", "/api/search?q=x&page=%FF",
     "/api/search?q=x&page=1e3", "/api/search?q=x&page=-1", "/api/search?q=x&per_page=", "/api/search?q=x&from=%00",
     "/api/search?q[]=x", "/api/search?q=x&category=%FF", "/?q=x&page=0", "/?q=x&sort=%3Cb%3E", "/api/suggest?q=" + "x" * 100_000,
     "/api/search?q=" + "x" * 100_000, "/?q=" + "x" * 100_000],
)
def test_malformed_requests_get_4xx_not_5xx(client: FlaskClient, raw: str) -> None:
    r = client.get(raw)
    assert r.status_code < 500, (raw, r.status_code)


def test_healthz_and_opensearch(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok", "documents": 41}
    r = client.get("/opensearch.xml")
    assert r.mimetype == "application/opensearchdescription+xml"
    tree = ElementTree.fromstring(r.data)
    urls = [u.get("template") for u in tree.iter("{http://a9.com/-/spec/opensearch/1.1/}Url")]
    assert "http://localhost/?q={searchTerms}" in urls


def test_suggest_completes_titles(client: FlaskClient) -> None:
    body = client.get("/api/suggest?q=数字经").get_json()
    assert body["suggestions"] == [{"title": "数字经济如何改变小城市", "url": "/2021/03/23/2021/digital-economy/"}]
    assert client.get("/api/suggest?q=").get_json()["suggestions"] == []
    assert [s["title"] for s in client.get("/api/suggest?q=kube").get_json()["suggestions"]] == ["Kubernetes 滚动更新的原理"]


def test_security_headers_and_cors_off_by_default(client: FlaskClient) -> None:
    r = client.get("/?q=x", headers={"Origin": "https://blog.example"})
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    api = client.get("/api/search?q=x", headers={"Origin": "https://blog.example"})
    assert "Access-Control-Allow-Origin" not in api.headers


def test_cors_for_configured_origins(sample_index_dir: Path) -> None:
    app = create_app({"INDEX_DIR": str(sample_index_dir), "CORS_ORIGINS": ["https://blog.example"]})
    c = app.test_client()
    ok = c.get("/api/search?q=x", headers={"Origin": "https://blog.example"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://blog.example"
    other = c.get("/api/search?q=x", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    close_index(app)


def test_page_without_javascript(client: FlaskClient) -> None:
    html = client.get("/?q=人工智能").get_data(as_text=True)
    assert 'value="人工智能"' in html
    assert "找到 2 篇文章" in html
    assert '<a href="/2022/09/08/2022/ai-painting/" class="hit-link" data-id="2022/ai-painting.md" data-position="1"><mark>人工智能</mark>绘画工具体验</a>' in html
    assert 'role="status" aria-live="polite"' in html
    assert re.search(r"<script[^>]*>\s*(?!</script>)\S", html) is None  # no inline script (CSP)
    facet = re.search(r'href="(/\?q=[^"]*category=[^"]*)"', html)
    assert facet is not None
    filtered = client.get(facet.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "找到 1 篇文章" in filtered and "aria-pressed=\"true\"" in filtered


def test_page_empty_state_shows_the_suggestion(client: FlaskClient) -> None:
    html = client.get("/?q=西湖 火星").get_data(as_text=True)
    assert "没有找到相关文章" in html
    assert '试试搜索：<a href="/?q=%E8%A5%BF%E6%B9%96">西湖</a>' in html


def test_page_pager_and_bad_page(client: FlaskClient) -> None:
    html = client.get("/?q=的&per_page=5").get_data(as_text=True)
    assert 'rel="next"' in html and 'aria-current="page">1<' in html
    bad = client.get("/?q=的&page=0")
    assert bad.status_code == 400 and "page must be between 1 and 1000000" in bad.get_data(as_text=True)


def test_index_missing_is_a_clear_503(tmp_path: Path) -> None:
    c = create_app({"INDEX_DIR": str(tmp_path / "none")}).test_client()
    r = c.get("/api/search?q=x")
    assert r.status_code == 503
    assert r.get_json() == {"error": {"code": "no_index", "message": f"No index at {tmp_path / 'none'}/. Run `searchsvc reindex` first."}}




def test_random_hostile_strings_never_fail(client: FlaskClient) -> None:
    """A fixed-seed barrage of syntax, CJK, full-width, control and astral characters."""
    import random

    rng = random.Random(20261128)
    alphabet = list('"()*:-+~^?!&|\\/<>[]{}%#;,.，。「」“”　ＡＢ１２') + list("的数据库人工智能火锅西湖") + [
        "AND", "OR", "NOT", "tag:", "category:", "author:", "\x00", "\x1f", "\u200b", "\ufffd", "😀", "𠀀", " ", "\n"]
    for _ in range(150):
        q = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        r = client.get("/api/search", query_string={"q": q, "per_page": str(rng.randint(1, 100))})
        assert r.status_code == 200, (q, r.status_code)
        body = r.get_json()
        assert body["total"] >= len(body["hits"])
        assert all(set(re.sub(r"</?mark>", "", h["snippet_html"])).isdisjoint("<>") for h in body["hits"])


def test_atom_feed(client: FlaskClient) -> None:
    """A valid Atom feed (parsed by feedparser) of the newest matches, linked from the page."""
    import feedparser

    r = client.get("/search.atom", query_string={"q": "的", "category": "美食"})
    assert r.status_code == 200 and r.mimetype == "application/atom+xml"
    feed = feedparser.parse(r.data)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    api = client.get("/api/search", query_string={"q": "的", "category": "美食", "sort": "newest", "per_page": 20})
    hits = api.get_json()["hits"]
    assert [e.link for e in feed.entries] == ["http://localhost" + h["url"] for h in hits]
    assert [e.title for e in feed.entries] == [h["title"] for h in hits]
    assert [e.published for e in feed.entries] == [h["date"] for h in hits]
    assert feed.feed.title == "站内搜索：的 category:美食"
    assert feed.feed.updated == hits[0]["date"]
    assert feed.entries[0].summary_detail.type == "text/html"  # feedparser's sanitizer drops <mark> itself
    assert "&lt;mark&gt;的&lt;/mark&gt;" in r.get_data(as_text=True)
    page = client.get("/", query_string={"q": "的", "category": "美食"}).get_data(as_text=True)
    assert 'type="application/atom+xml"' in page and "/search.atom?q=" in page


def test_atom_feed_of_a_tag_and_errors(sample_index_dir: Path) -> None:
    import feedparser

    app = create_app({"INDEX_DIR": str(sample_index_dir), "SITE_URL": "https://blog.example.cn/", "FEED_ENTRIES": 3})
    client = app.test_client()
    try:
        feed = feedparser.parse(client.get("/search.atom?tag=人工智能").data)
        tagged = client.get("/api/search?q=&tag=人工智能&sort=newest").get_json()
        assert not feed.bozo and [e.title for e in feed.entries] == [h["title"] for h in tagged["hits"]]
        assert len(feed.entries) == tagged["total"] == 3
        assert all(e.link.startswith("https://blog.example.cn/") for e in feed.entries)
        assert all("人工智能" in [t.term for t in e.tags] for e in feed.entries)
        assert len(feedparser.parse(client.get("/search.atom?q=的").data).entries) == 3
        empty = feedparser.parse(client.get("/search.atom?q=不存在的词语组合").data)
        assert not empty.bozo and empty.entries == []
        bad = client.get("/search.atom?q=x&per_page=abc")
        assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "bad_request"
        assert client.get("/search.atom").status_code == 400
        hostile = client.get("/search.atom", query_string={"q": '"]]><x>&' + "\x00"})
        assert hostile.status_code == 200 and not feedparser.parse(hostile.data).bozo
    finally:
        close_index(app)
