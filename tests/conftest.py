"""Shared fixtures: the bundled sample posts, posts of every odd shape, and indexes built from them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from searchsvc.engine.read.searcher import SearchIndex
from searchsvc.engine.write.reindex import update_index

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "posts"

BIG_DATA_URI = "data:image/png;base64," + "iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB" * 12000

# Every input shape of DESIGN.md "The input it must survive", as bytes on disk.
ODD_POSTS: dict[str, bytes] = {
    "hexo-repost.md": (
        "\n---\ntitle: '在福州，感受数字新脉动'\ncategories: \n - 新媒体\n - 分类\nauthor: 趣头条\n"
        "headimg: 'https://img.example.com/a.png'\ndate: Tue, 23 Mar 2021 23:31:58 GMT\n---\n\n"
        "<div>   \n<p><img src=\"https://img.example.com/a.png\" data-size=\"480,298\"></p>"
        "<p>福州的数字经济规模达4600亿元&nbsp;，领跑全省&amp;全国。</p><p>注册总资本达468．4亿元。</p></div>\n"
    ).encode(),
    "broken-yaml.md": "---\ntitle: \"\"\"\"\"'今日数据行业日报'\"\"\"\"\"\ndate: 2019-2-06\ncategories: 日报\n---\n正文讲数据中心。\n".encode(),
    "title-number.md": "---\ntitle: 2048\ndate: 2018-02-24  +0800\ntags: [数字, 游戏]\n---\n一个数字游戏。\n".encode(),
    "title-empty.md": "---\ntitle: ''\ndate: 2021-10-28 14:08:07\nauthor: null\n---\n标题是空的文章。\n".encode(),
    "empty-block.md": "---\n---\n# 空前言的标题\n\n只有正文。\n".encode(),
    "toml.md": "+++\ntitle = \"TOML 文章\"\ndate = 2022-01-20T08:00:00+08:00\ntags = [\"甲\"]\n+++\n长江大桥。\n".encode(),
    "json.md": "{\n  \"title\": \"JSON 文章\",\n  \"date\": \"2022-02-02T00:00:00Z\",\n  \"author\": [\"甲\", \"乙\"]\n}\n黄河湿地。\n".encode(),
    "no-front-matter.md": "# 周刊第一期\n\n这里是正文，没有前言。\n".encode(),
    "crlf.md": "---\r\ntitle: 换行\r\ndate: 2020-01-01\r\n---\r\n第一行\r\n第二行\r\n".encode(),
    "zero-width.md": "---\ntitle: 零宽\ndate: 2020-01-02\n---\n数\u200b据\u200b库与\u3000全角４．３亿和ＡＢＣ以及\ufffd。\n".encode(),
    "data-uri.md": f"---\ntitle: 图片\ndate: 2020-01-03\n---\n前文<img src=\"{BIG_DATA_URI}\">后文 ![图]({BIG_DATA_URI})\n".encode(),
    "markdown.md": (
        "---\ntitle: 链接\ndate: 2020-01-04\n---\n看[这篇文章](https://example.com/secret-url)和"
        "![图片说明](https://img.example.com/x.png)。\n\n```js\nconst a = '<b>代码</b>';\n```\n"
        "{{< figure src=\"/x.png\" >}}\n数学 $a^2+b^2$ 结束。\n"
    ).encode(),
    "gbk.md": "---\ntitle: 国标编码\ndate: 2020-01-05\n---\n这是一篇用国标编码保存的文章。\n".encode("gb18030"),
    "bad-utf8.md": "---\ntitle: 坏字节\ndate: 2020-01-06\n---\n前面".encode() + b"\xff\xfe\xfa" + "后面\n".encode(),
    "nested/bundle-post/index.md": "---\ntitle: 页面包\ndate: 2019-2-06\n---\n页面包正文。\n".encode(),
    "名字 带空格 & 'quote'.md": "---\ntitle: 特别的文件名\ndate: 2024-06-06\n---\n文件名很特别。\n".encode(),
    "iso-z.md": "---\ntitle: 世界时\ndate: 2021-03-23T23:31:58Z\n---\n世界时间。\n".encode(),
    "yaml-date.md": "---\ntitle: 日期对象\ndate: 2021-03-23\npermalink: /special/path/\n---\n日期对象。\n".encode(),
    "no-date.md": "---\ntitle: 没有日期\n---\n没有日期的文章。\n".encode(),
    "2020-05-06-jekyll-name.md": "---\ntitle: 文件名里的日期\n---\n日期来自文件名。\n".encode(),
    # Files that hold no text: skipped, with a reason.
    "empty.md": b"",
    "blank.md": b"  \n\n",
    "only-front-matter.md": "---\ntags: [a]\n---\n".encode(),
    "only-markup.md": "---\ndate: 2020-01-01\n---\n<div><img src=\"https://x.example/a.png\"></div>\n".encode(),
}
SKIPPED = {"empty.md", "blank.md", "only-front-matter.md", "only-markup.md"}


def write_posts(root: Path, posts: dict[str, bytes]) -> Path:
    for name, data in posts.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@pytest.fixture
def odd_posts(tmp_path: Path) -> Path:
    return write_posts(tmp_path / "odd", ODD_POSTS)


@pytest.fixture
def sample_posts(tmp_path: Path) -> Path:
    target = tmp_path / "posts"
    shutil.copytree(SAMPLES, target)
    return target


@pytest.fixture(scope="session")
def sample_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    index_dir = tmp_path_factory.mktemp("sample-index")
    update_index(SAMPLES, index_dir, full=True)
    return index_dir


@pytest.fixture(scope="session")
def sample_index(sample_index_dir: Path) -> Iterator[SearchIndex]:
    with SearchIndex(sample_index_dir) as index:
        yield index
