"""Site detection and each generator's URL rules: a table of documented cases, then the same
fixture sites rendered by the real Hexo, Hugo and Jekyll, URL for URL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from generators import SITES, build, copy_site, missing

from searchsvc.cli import main
from searchsvc.ingest.posts import NotPublished, iter_post_files, load_post
from searchsvc.ingest.sites.detect import SiteError, detect_site
from searchsvc.ingest.sites.permalinks import (
    UrlRules,
    hexo_slugize,
    hugo_path,
    jekyll_slugify,
)

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def our_urls(site_dir: Path, now: dt.datetime = NOW) -> tuple[dict[str, str], dict[str, str]]:
    """{post id: URL} for what the site publishes, and {post id: reason} for what it leaves out."""
    site = detect_site(site_dir)
    urls, left_out = {}, {}
    for path in iter_post_files(site.posts_dir, site.urls.posts_folder_name):
        try:
            post = load_post(path, site.posts_dir, urls=site.urls, now=now)
        except NotPublished as exc:
            left_out[exc.path] = exc.reason
        else:
            urls[post.id] = post.url
    return urls, left_out


# ---- documented cases, one by one (no generator needed)

HEXO = {
    "hello-world.md": "/blog/2021/03/23/hello-world/",
    # A YAML timestamp with an offset: Hexo reads its UTC wall clock (17:08 on the 27th) as local time.
    "2021/数字经济.md": "/blog/2021/10/27/2021/数字经济/",
    "late-night.md": "/blog/2020/01/01/late-night/",  # a naive date is in the site's `timezone`
    "fixed-link.md": "/blog/special/fixed-link.html",  # front-matter permalink, under root
    "with-id.md": "/blog/2018/02/24/with-id/",
}
HUGO = {
    "posts/hello-world.md": "/site/posts/hello-world/",
    "posts/bundle-post/index.md": "/site/posts/bundle-post/",  # a page bundle is named by its folder
    "posts/_index.md": "/site/posts/",  # the section's own page
    "posts/with-slug.md": "/site/posts/custom-slug/",  # slug replaces the last part
    "posts/Mixed Case Name.md": "/site/posts/mixed-case-name/",  # lower-cased, spaces to '-'
    "posts/with-url.md": "/site/special/page/",  # url replaces the path, under baseURL's path
    "about.md": "/site/about/",
    "news/2021/with-slug.md": "/site/2021/11/新闻-二/",  # [permalinks] news = "/:year/:month/:slug/"
    "news/2021/economy.md": "/site/2021/10/数字经济-weekly-第-1-期/",  # no slug: the URLized title
}
JEKYLL = {
    # Categories from the front matter, lower-cased, spaces kept; the date from the file name.
    "_posts/2021-03-23-hello-world.md": "/blog/随笔/life notes/2021/03/23/hello-world.html",
    # A folder inside _posts is not a category; the `category` key is.
    "_posts/2021/2021-10-28-数字经济.md": "/blog/经济/2021/10/28/数字经济.html",
    # The front-matter date (23:30 -0500 = 12:30 next day in Shanghai) wins over the file name's.
    "_posts/2020-01-01-Late-Night.md": "/blog/2020/01/01/Late-Night.html",
    "_posts/2019-02-06-fixed.md": "/blog/special/fixed.html",  # permalink with placeholders
    "_posts/2018-02-24-with-slug.md": "/blog/2018/02/24/custom-slug.html",  # slug, slugified
    "notes/_posts/2020-07-07-note.md": "/blog/notes/2020/07/07/note.html",  # the folder above _posts
}
LEFT_OUT = {
    "hexo": {"hidden.md": "not published (published: false)"},
    "hugo": {"news/draft.md": "a draft (draft: true)"},
    "jekyll": {
        "_posts/no-date-name.md": "Jekyll publishes only _posts files named YYYY-MM-DD-title",
        "_posts/2022-05-05-hidden.md": "not published (published: false)",
    },
}


@pytest.mark.parametrize(("generator", "expected"), [("hexo", HEXO), ("hugo", HUGO), ("jekyll", JEKYLL)])
def test_documented_urls(generator: str, expected: dict[str, str]) -> None:
    urls, left_out = our_urls(SITES / generator)
    assert urls == expected
    assert left_out == LEFT_OUT[generator]


@pytest.mark.parametrize(("config", "post_id", "url"), [
    ({"permalink": ":category/:post_title.html"}, "with-id.md", "/blog/Tech-News/带编号的文章.html"),
    ({"permalink": ":category/:post_title.html"}, "2021/数字经济.md", "/blog/经济/数字化/数字经济-weekly-第-1-期.html"),
    ({"permalink": ":category/:post_title.html"}, "late-night.md", "/blog/未分类/深夜-notes-thoughts.html"),
    ({"permalink": ":category/:post_title.html"}, "hello-world.md", "/blog/随笔/你好，世界.html"),
    ({"permalink": ":hash/"}, "hello-world.md", "/blog/1d87c6c35eec/"),  # sha1(slug + unix time)[:12]
    ({"permalink": ":id/:name/"}, "with-id.md", "/blog/42/with-id/"),
    ({"permalink": ":year/:i_month/:i_day/:name.html"}, "2021/数字经济.md", "/blog/2021/10/27/数字经济.html"),
    ({"permalink": ":title.html", "pretty_urls": {"trailing_html": False}}, "hello-world.md", "/blog/hello-world"),
    ({"root": "/", "new_post_name": ":year-:month-:day-:title.md"}, "late-night.md", "/2020/01/01/late-night/"),
])
def test_hexo_rules(tmp_path: Path, config: dict[str, Any], post_id: str, url: str) -> None:
    urls, _ = our_urls(copy_site("hexo", tmp_path, config))
    assert urls[post_id] == url


@pytest.mark.parametrize(("config", "post_id", "url"), [
    ({"uglyURLs": True}, "posts/hello-world.md", "/site/posts/hello-world.html"),
    ({"permalinks": {"posts": "/:section/:year/:month/:day/:title/"}}, "posts/hello-world.md",
     "/site/posts/2021/03/23/你好世界/"),  # the date as written (+08:00); the full-width comma goes
    ({"permalinks": {"posts": "/:sections/:filename/"}}, "posts/bundle-post/index.md", "/site/posts/bundle-post/"),
    ({"permalinks": {"posts": "/:yearday/:slug/"}}, "posts/with-slug.md", "/site/154/custom-slug/"),
])
def test_hugo_rules(tmp_path: Path, config: dict[str, Any], post_id: str, url: str) -> None:
    urls, _ = our_urls(copy_site("hugo", tmp_path, config))
    assert urls[post_id] == url


@pytest.mark.parametrize(("permalink", "post_id", "url"), [
    ("pretty", "_posts/2021-03-23-hello-world.md", "/blog/随笔/life notes/2021/03/23/hello-world/"),
    ("ordinal", "notes/_posts/2020-07-07-note.md", "/blog/notes/2020/189/note.html"),
    ("none", "_posts/2018-02-24-with-slug.md", "/blog/custom-slug.html"),
    ("weekdate", "_posts/2020-01-01-Late-Night.md", "/blog/2020/W01/Wed/Late-Night.html"),
    ("/:slugified_categories/:short_year/:i_month/:slug:output_ext", "_posts/2021-03-23-hello-world.md",
     "/blog/随笔/life-notes/21/3/hello-world.html"),
])
def test_jekyll_rules(tmp_path: Path, permalink: str, post_id: str, url: str) -> None:
    urls, _ = our_urls(copy_site("jekyll", tmp_path, {"permalink": permalink}))
    assert urls[post_id] == url


def test_slug_functions() -> None:
    assert hexo_slugize("深夜 Notes & Thoughts", lower=True) == "深夜-notes-thoughts"
    assert hexo_slugize("Café: 咖啡") == "Cafe-咖啡"
    assert hugo_path("数字经济 Weekly: 第 1 期") == "数字经济-weekly-第-1-期"
    assert jekyll_slugify("Custom Slug!", "pretty", cased=True) == "Custom-Slug!"
    assert jekyll_slugify("Life Notes") == "life-notes"


def test_future_posts_wait(tmp_path: Path) -> None:
    """Hugo and Jekyll leave out posts dated after the build; Hexo publishes them."""
    early = dt.datetime(2021, 6, 1, tzinfo=dt.timezone.utc)
    hugo_urls, hugo_out = our_urls(SITES / "hugo", now=early)
    assert "news/2021/economy.md" not in hugo_urls
    assert hugo_out["news/2021/economy.md"] == "dated in the future; Hugo publishes it then"
    jekyll_urls, jekyll_out = our_urls(SITES / "jekyll", now=early)
    assert jekyll_out["_posts/2021/2021-10-28-数字经济.md"] == "dated in the future; Jekyll publishes it then"
    assert "hello-world.md" in our_urls(SITES / "hexo", now=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))[0]


# ---- detection and the command line


@pytest.mark.parametrize(("generator", "posts", "prefix"), [
    ("hexo", "source/_posts", "/blog/"), ("hugo", "content", "/site/"), ("jekyll", ".", "/blog/"),
])
def test_detect_site(generator: str, posts: str, prefix: str) -> None:
    site = detect_site(SITES / generator)
    assert (site.generator, site.posts_dir, site.urls.prefix) == (generator, SITES / generator / posts, prefix)
    assert site.urls.site_url == {"hexo": "https://blog.example.cn", "hugo": "https://example.org",
                                  "jekyll": "https://example.net"}[generator]


def test_detect_site_errors(tmp_path: Path) -> None:
    with pytest.raises(SiteError, match="is not a Hexo, Hugo or Jekyll site"):
        detect_site(tmp_path)
    (tmp_path / "_config.yml").write_text("timezone: Mars/Olympus\n_posts: x\n", encoding="utf-8")
    with pytest.raises(SiteError, match="unknown time zone 'Mars/Olympus'"):
        detect_site(tmp_path)
    (tmp_path / "_config.yml").write_text("permalink: [unclosed\n", encoding="utf-8")
    with pytest.raises(SiteError, match="cannot read"):
        detect_site(tmp_path)


def test_reindex_site_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    index = str(tmp_path / "index")
    result = runner.invoke(main, ["reindex", "--site", str(SITES / "hugo"), "--index", index])
    assert result.exit_code == 0, result.output
    assert "hugo site at" in result.output
    assert "kept back news/draft.md: a draft (draft: true)" in result.output
    found = runner.invoke(main, ["search", "页面包", "--index", index, "--json"])
    assert [hit["url"] for hit in json.loads(found.output)["hits"]] == ["/site/posts/bundle-post/"]
    both = runner.invoke(main, ["reindex", "--site", str(SITES / "hugo"), "--posts", "x", "--index", index])
    assert both.exit_code == 2 and "leave out --posts" in both.output


def test_unpublished_post_leaves_the_index(tmp_path: Path) -> None:
    site = copy_site("hexo", tmp_path)
    runner = CliRunner()
    index = str(tmp_path / "index")
    assert runner.invoke(main, ["reindex", "--site", str(site), "--index", index]).exit_code == 0
    assert json.loads(runner.invoke(main, ["search", "春天", "--index", index, "--json"]).output)["total"] == 1
    post = site / "source/_posts/hello-world.md"
    post.write_text(post.read_text(encoding="utf-8").replace("tags:", "published: false\ntags:"), encoding="utf-8")
    result = runner.invoke(main, ["reindex", "--site", str(site), "--index", index])
    assert "skipped hello-world.md: not published (published: false)" in result.output
    assert json.loads(runner.invoke(main, ["search", "春天", "--index", index, "--json"]).output)["total"] == 0


def test_url_rules_reject_unknown_zone() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        UrlRules(timezone="Nowhere/City")


# ---- the real generators: every published post's URL, ours against theirs

VARIANTS = [
    ("hexo", {}), ("hexo", {"permalink": ":category/:post_title.html"}), ("hexo", {"permalink": ":hash/"}),
    ("hexo", {"permalink": ":year/:i_month/:i_day/:hour/:minute/:name.html", "root": "/"}),
    ("hexo", {"permalink": ":title.html", "pretty_urls": {"trailing_html": False}}),
    ("hugo", {}), ("hugo", {"uglyURLs": True}),
    ("hugo", {"permalinks": {"posts": "/:section/:year/:month/:day/:title/"}}),
    ("hugo", {"permalinks": {"posts": "/:sections/:yearday/:filename/"}}),
    ("jekyll", {}), ("jekyll", {"permalink": "pretty"}), ("jekyll", {"permalink": "ordinal"}),
    ("jekyll", {"permalink": "none"}), ("jekyll", {"permalink": "weekdate"}),
    ("jekyll", {"permalink": "/:slugified_categories/:short_year/:i_month/:slug:output_ext"}),
]


@pytest.mark.parametrize(("generator", "config"), VARIANTS, ids=[f"{g}-{i}" for i, (g, _) in enumerate(VARIANTS)])
def test_urls_match_the_real_generator(tmp_path: Path, generator: str, config: dict[str, Any]) -> None:
    reason = missing(generator)
    if reason:
        pytest.skip(reason)
    site = copy_site(generator, tmp_path, config)
    theirs = build(generator, site)
    if generator == "hexo":  # Hexo's source paths start at source/, ours at source/_posts/
        theirs = {k.removeprefix("_posts/"): v for k, v in theirs.items() if k.startswith("_posts/")}
    ours, left_out = our_urls(site, now=dt.datetime.now(dt.timezone.utc))
    assert ours == {k: v for k, v in theirs.items() if k in ours}
    assert set(theirs) - set(ours) == set(), "pages the generator published that we left out"
    assert set(left_out).isdisjoint(theirs)
