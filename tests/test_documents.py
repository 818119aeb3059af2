"""Ingest: every input shape of DESIGN.md becomes a Post, or a clear reason to skip."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import BIG_DATA_URI, ODD_POSTS, SKIPPED

from searchsvc.ingest.dates import parse_date
from searchsvc.ingest.frontmatter import as_list
from searchsvc.ingest.markup import to_text
from searchsvc.ingest.posts import PostError, load_post, parse_post
from searchsvc.ingest.sites.permalinks import UrlRules

UTC = dt.timezone.utc


def parse(name: str) -> object:
    return parse_post(ODD_POSTS[name], name, mtime=1_600_000_000)


def test_hexo_repost_shape() -> None:
    post = parse("hexo-repost.md")
    assert post.title == "在福州，感受数字新脉动"
    assert post.categories == ("新媒体", "分类")
    assert post.authors == ("趣头条",)
    assert post.date == dt.datetime(2021, 3, 23, 23, 31, 58, tzinfo=UTC)
    assert post.url == "/2021/03/23/hexo-repost/"
    assert post.image == "https://img.example.com/a.png"
    assert "福州的数字经济规模达4600亿元" in post.body
    assert "领跑全省&全国" in post.body  # entities decoded
    assert "468．4亿元" in post.body  # display text keeps full-width characters
    for markup in ("<p>", "img", "https", "data-size", "480,298", "&nbsp;"):
        assert markup not in post.body
    assert post.warnings == ()


def test_broken_yaml_is_recovered_and_reported() -> None:
    post = parse("broken-yaml.md")
    assert post.title == "今日数据行业日报"
    assert post.date == dt.datetime(2019, 2, 6, tzinfo=UTC)
    assert post.categories == ("日报",)
    assert post.body == "正文讲数据中心。"
    assert len(post.warnings) == 1 and post.warnings[0].startswith("front matter does not parse")


@pytest.mark.parametrize(
    "name, title, date",
    [
        ("title-number.md", "2048", dt.datetime(2018, 2, 23, 16, tzinfo=UTC)),
        ("title-empty.md", "title-empty", dt.datetime(2021, 10, 28, 14, 8, 7, tzinfo=UTC)),
        ("empty-block.md", "空前言的标题", None),
        ("toml.md", "TOML 文章", dt.datetime(2022, 1, 20, 0, tzinfo=UTC)),
        ("json.md", "JSON 文章", dt.datetime(2022, 2, 2, tzinfo=UTC)),
        ("no-front-matter.md", "周刊第一期", None),
        ("crlf.md", "换行", dt.datetime(2020, 1, 1, tzinfo=UTC)),
        ("nested/bundle-post/index.md", "页面包", dt.datetime(2019, 2, 6, tzinfo=UTC)),
        ("iso-z.md", "世界时", dt.datetime(2021, 3, 23, 23, 31, 58, tzinfo=UTC)),
        ("yaml-date.md", "日期对象", dt.datetime(2021, 3, 23, tzinfo=UTC)),
        ("2020-05-06-jekyll-name.md", "文件名里的日期", dt.datetime(2020, 5, 6, tzinfo=UTC)),
    ],
)
def test_titles_and_dates(name: str, title: str, date: dt.datetime | None) -> None:
    post = parse(name)
    assert post.title == title
    if date is None:
        assert post.date == dt.datetime.fromtimestamp(1_600_000_000, UTC)
        assert "no usable date; used the file's modification time" in post.warnings
    else:
        assert post.date == date
    assert post.date.tzinfo is not None


def test_facets_of_every_shape() -> None:
    assert as_list(["a", "b", "a"]) == ("a", "b")
    assert as_list("新媒体") == ("新媒体",)
    assert as_list(42) == ("42",)
    assert as_list(None) == ()
    assert as_list([["a", "b"], "c"]) == ("a", "b", "c")
    assert parse("json.md").authors == ("甲", "乙")
    assert parse("title-number.md").tags == ("数字", "游戏")
    assert parse("title-empty.md").authors == ()


@pytest.mark.parametrize(
    "value, expected",
    [
        ("Tue, 23 Mar 2021 23:31:58 GMT", dt.datetime(2021, 3, 23, 23, 31, 58, tzinfo=UTC)),
        ("2021-10-28 14:08:07", dt.datetime(2021, 10, 28, 14, 8, 7, tzinfo=UTC)),
        ("2018-02-24  +0800", dt.datetime(2018, 2, 23, 16, tzinfo=UTC)),
        ("2019-2-06", dt.datetime(2019, 2, 6, tzinfo=UTC)),
        ("2021-03-23T23:31:58Z", dt.datetime(2021, 3, 23, 23, 31, 58, tzinfo=UTC)),
        ("2021-03-23T23:31:58+08:00", dt.datetime(2021, 3, 23, 15, 31, 58, tzinfo=UTC)),
        ("2014-07-01T9:52:23+00:00", dt.datetime(2014, 7, 1, 9, 52, 23, tzinfo=UTC)),
        (dt.date(2021, 3, 23), dt.datetime(2021, 3, 23, tzinfo=UTC)),
        (dt.datetime(2021, 3, 23, 8, 0), dt.datetime(2021, 3, 23, 8, 0, tzinfo=UTC)),
        ("not a date", None),
        ("2021-13-45", None),
        ("", None),
    ],
)
def test_parse_date(value: object, expected: dt.datetime | None) -> None:
    assert parse_date(value) == expected


def test_odd_text_is_cleaned() -> None:
    zw = parse("zero-width.md")
    assert "数据库" in zw.body and "\u200b" not in zw.body
    assert "\ufffd" in zw.body
    uri = parse("data-uri.md")
    assert uri.body == "前文后文"
    assert len(ODD_POSTS["data-uri.md"]) > len(BIG_DATA_URI)
    md = parse("markdown.md")
    assert "看这篇文章和" in md.body
    assert "example.com" not in md.body and "secret-url" not in md.body and "图片说明" not in md.body
    assert "const a = '<b>代码</b>';" in md.body  # code stays as text, markup in code included
    assert "figure" not in md.body  # Hugo shortcode
    assert "$a^2+b^2$" in md.body
    assert parse("crlf.md").body == "第一行\n第二行"


def test_encodings_are_reported() -> None:
    gbk = parse("gbk.md")
    assert gbk.title == "国标编码" and "国标编码保存" in gbk.body
    assert gbk.warnings == ("file is not UTF-8; decoded as GB18030",)
    bad = parse("bad-utf8.md")
    assert "前面" in bad.body and "后面" in bad.body
    assert any(w.startswith("invalid UTF-8 at byte") for w in bad.warnings)


@pytest.mark.parametrize("name", sorted(SKIPPED))
def test_files_without_text_are_skipped_with_a_reason(name: str) -> None:
    with pytest.raises(PostError) as err:
        parse(name)
    assert err.value.path == name
    assert err.value.reason in {
        "empty file", "file holds only whitespace",
        "no text: the body is empty after removing markup and the front matter has no title",
    }


def make_url(pattern: str, post_id: str, date: dt.datetime, meta: dict[str, str]) -> str:
    return UrlRules(permalink=pattern).url_for(post_id, meta, "标题", date)


def test_urls() -> None:
    date = dt.datetime(2021, 3, 4, tzinfo=UTC)
    assert make_url(":year/:month/:day/:title/", "2021/nested.md", date, {}) == "/2021/03/04/2021/nested/"
    assert make_url(":year/:i_month/:name.html", "a/b/post.md", date, {}) == "/2021/3/post.html"
    assert make_url(":title/", "a/bundle/index.md", date, {}) == "/a/bundle/"
    assert make_url(":title/", "x.md", date, {"permalink": "custom/url/"}) == "/custom/url/"
    assert make_url(":title/", "x.md", date, {"url": "https://example.com/p"}) == "https://example.com/p"
    assert parse("yaml-date.md").url == "/special/path/"


def test_load_post_reads_names_with_spaces_and_quotes(odd_posts: Path) -> None:
    name = "名字 带空格 & 'quote'.md"
    post = load_post(odd_posts / name, odd_posts)
    assert post.id == name and post.title == "特别的文件名"
    nested = load_post(odd_posts / "nested/bundle-post/index.md", odd_posts)
    assert nested.id == "nested/bundle-post/index.md"
    assert nested.url == "/2019/02/06/nested/bundle-post/"


def test_html_blocks_become_lines() -> None:
    assert to_text("<div><p>一</p><p>二</p><script>var x=1</script><style>p{}</style></div>") == "一\n二"
    assert to_text("<table><tr><td>甲</td><td>乙</td></tr></table>") == "甲\n乙"
    assert to_text("见 https://example.com/a?b=1 结束") == "见 结束"


def test_nul_characters_do_not_break_code_spans() -> None:
    """Code spans are set aside behind NUL-number-NUL marks: a NUL in the post itself is dropped
    (it never renders), so it can neither take a span's place nor point past the last one."""
    assert to_text("甲\x000\x00乙 `代码` 丙") == "甲0乙 代码 丙"
    assert to_text("甲\x005\x00乙 `代码`") == "甲5乙 代码"
    assert to_text("无\x00码") == "无码"
