"""What the owner keeps back never reaches a reader: encrypted bodies, hidden posts, drafts,
excluded paths and --keep-out rules, through search, snippets, the feed, suggestions, --json and
the index files on disk, in full and incremental runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_posts

from searchsvc.cli import main
from searchsvc.engine.read.searcher import SearchIndex
from searchsvc.engine.run import run_query
from searchsvc.engine.write.reindex import update_index
from searchsvc.ingest.keepback import KeepBack, parse_keep_out
from searchsvc.ingest.posts import KeptBack, Post, parse_post
from searchsvc.ingest.scan import ENCRYPTED
from searchsvc.ingest.settings import IndexSettings
from searchsvc.search.model import make_request
from searchsvc.web import close_index, create_app

# Secrets: words that occur only in text a reader must never get. The ASCII one is easy to find
# in the index's bytes (terms are stored lower-cased, as typed here).
SECRET = "xylophone42"
SECRET_ZH = "蓝鲸计划"

# Front matter as each plugin documents it: hexo-blog-encrypt (password, abstract, message),
# hexo-hide-posts (hidden), hexo-generator-search (indexing), and the common draft/noindex keys.
POSTS: dict[str, bytes] = {
    "public.md": "---\ntitle: 公开的文章\ndate: 2024-01-01\ntags: [日常]\n---\n公开的正文说到猫。\n".encode(),
    "locked.md": (
        "---\ntitle: 加密的日记\ndate: 2024-01-02 10:00:00\ncategories: [私人]\ntags: [日记]\n"
        "password: hunter2\nabstract: 这里有一篇加密文章，输入密码继续阅读。\nmessage: 请输入密码\n---\n"
        f"# 标题里的秘密{SECRET_ZH}\n\n正文写着{SECRET_ZH}与{SECRET}，读者不可见。\n"
    ).encode(),
    "locked-no-abstract.md": (
        f"---\ntitle: 没有摘要的加密文章\ndate: 2024-01-03\npassword: 123456\n---\n又一个{SECRET_ZH}。{SECRET}\n"
    ).encode(),
    "opted-out.md": (
        "---\ntitle: 不加密的标签文章\ndate: 2024-01-04\ntags: [私密]\npassword: ''\n---\n标签规则对它不生效，正文说到狗。\n"
    ).encode(),
    "by-tag.md": f"---\ntitle: 按标签加密\ndate: 2024-01-05\ntags: [私密]\n---\n按标签加密的{SECRET_ZH}。{SECRET}\n".encode(),
    "hidden.md": f"---\ntitle: 隐藏的{SECRET_ZH}\ndate: 2024-01-06\nhidden: true\n---\n{SECRET}\n".encode(),
    "unindexed.md": f"---\ntitle: 不进搜索{SECRET_ZH}\ndate: 2024-01-07\nindexing: false\n---\n{SECRET}\n".encode(),
    "noindex.md": f"---\ntitle: 不要索引{SECRET_ZH}\ndate: 2024-01-08\nnoindex: true\n---\n{SECRET}\n".encode(),
    "draft.md": f"---\ntitle: 草稿{SECRET_ZH}\ndate: 2024-01-09\ndraft: true\n---\n{SECRET}\n".encode(),
    "private/diary.md": f"---\ntitle: 私人文件夹{SECRET_ZH}\ndate: 2024-01-10\n---\n{SECRET}\n".encode(),
    "notes.secret.md": f"---\ntitle: 秘密笔记{SECRET_ZH}\ndate: 2024-01-11\n---\n{SECRET}\n".encode(),
    "members.md": (
        f"---\ntitle: 会员文章{SECRET_ZH}\ndate: 2024-01-12\nvisibility: Members\n---\n{SECRET}\n"
    ).encode(),
}
KEEP = KeepBack(exclude=("private", "*.secret.md"), keep_out=(("visibility", "members"),), encrypt_tags=("私密",))
KEPT_OUT = {
    "hidden.md": "hidden (hidden: true)",
    "unindexed.md": "not for search (indexing: false)",
    "noindex.md": "not for search (noindex: true)",
    "draft.md": "a draft (draft: true)",
    "private/diary.md": "excluded (--exclude private)",
    "notes.secret.md": "excluded (--exclude *.secret.md)",
    "members.md": "kept out (--keep-out visibility=members)",
}
ENCRYPTED_POSTS = {"locked.md", "locked-no-abstract.md", "by-tag.md"}


def parse(text: str, keep: KeepBack = KEEP) -> Post:
    return parse_post(text.encode(), "a.md", mtime=0, keep=keep)


@pytest.mark.parametrize("name", ["hidden.md", "unindexed.md", "noindex.md", "draft.md", "members.md"])
def test_front_matter_keeps_a_post_out(name: str) -> None:
    with pytest.raises(KeptBack) as caught:
        parse_post(POSTS[name], name, mtime=0, keep=KEEP)
    assert caught.value.reason == KEPT_OUT[name]


@pytest.mark.parametrize("value, out", [("true", True), ("yes", True), ("false", False), ("", False)])
def test_switches_recovered_from_damaged_front_matter_still_count(value: str, out: bool) -> None:
    text = f"---\ntitle: \"\"\"坏的'\nhidden: {value}\n---\n正文。\n"  # YAML fails; keys read line by line
    if out:
        with pytest.raises(KeptBack):
            parse(text)
    else:
        assert parse(text).body == "正文。"


def test_visible_switches_do_not_keep_a_post_out() -> None:
    post = parse("---\ntitle: 可见\nhidden: false\nindexing: true\ndraft: false\n---\n正文。\n")
    assert post.body == "正文。" and not post.encrypted


def test_keep_out_matches_list_items_and_booleans() -> None:
    keep = KeepBack(keep_out=(parse_keep_out("Tags=内部"), parse_keep_out("private=true")))
    with pytest.raises(KeptBack, match="tags=内部"):
        parse("---\ntitle: 甲\ntags: [公开, 内部]\n---\n正文。\n", keep)
    with pytest.raises(KeptBack, match="private=true"):
        parse("---\ntitle: 乙\nprivate: true\n---\n正文。\n", keep)
    assert parse("---\ntitle: 丙\ntags: [内部资料]\nprivate: false\n---\n正文。\n", keep).title == "丙"


@pytest.mark.parametrize("rule", ["visibility", "=x", "key=", " = "])
def test_keep_out_rules_need_a_key_and_a_value(rule: str) -> None:
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_keep_out(rule)


@pytest.mark.parametrize("glob, path, out", [
    ("private", "private/a.md", True),
    ("private", "2024/private/a.md", True),
    ("private", "privately.md", False),
    ("2024/private", "2024/private/a.md", True),
    ("2024/private", "2023/private/a.md", False),
    ("*.secret.md", "deep/x.secret.md", True),
    ("2024/*", "2024/x/y.md", True),
    ("草稿箱/", "草稿箱/名字 带空格.md", True),
])
def test_exclude_globs(glob: str, path: str, out: bool) -> None:
    assert (KeepBack(exclude=(glob,)).excluded(path) is not None) is out


def test_an_encrypted_body_is_replaced_by_its_abstract_before_anything_reads_it() -> None:
    post = parse_post(POSTS["locked.md"], "locked.md", mtime=0, keep=KEEP)
    assert post.encrypted and post.body == "这里有一篇加密文章，输入密码继续阅读。"
    assert (post.title, post.categories, post.tags) == ("加密的日记", ("私人",), ("日记",))
    bare = parse_post(POSTS["locked-no-abstract.md"], "x.md", mtime=0, keep=KeepBack(abstract="站点的摘要"))
    assert bare.encrypted and bare.body == "站点的摘要"
    untitled = parse(f"---\npassword: 1\n---\n# {SECRET_ZH}\n正文\n")
    assert untitled.title == "a" and untitled.body == ""  # the file name, not a heading


def test_tag_rules_encrypt_and_an_empty_password_opts_out() -> None:
    assert parse_post(POSTS["by-tag.md"], "t.md", mtime=0, keep=KEEP).encrypted
    assert not parse_post(POSTS["by-tag.md"], "t.md", mtime=0, keep=KeepBack()).encrypted
    opted = parse_post(POSTS["opted-out.md"], "o.md", mtime=0, keep=KEEP)
    assert not opted.encrypted and "狗" in opted.body


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path]:
    posts = write_posts(tmp_path / "posts", POSTS)
    index = tmp_path / "index"
    report = update_index(posts, index, full=True, settings=IndexSettings.create(keep_back=KEEP))
    assert dict(report.kept_back) == {**KEPT_OUT, **{p: ENCRYPTED for p in ENCRYPTED_POSTS}}
    assert report.added == len(POSTS) - len(KEPT_OUT)
    return posts, index


def search(index: Path, q: str) -> list[tuple[str, str]]:
    with SearchIndex(index) as opened:
        result = run_query(opened, make_request({"q": [q], "per_page": ["100"]}))
    return [(h.id, h.snippet_html) for h in result.hits]


def index_bytes(index: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(index.rglob("*")) if p.is_file())


def test_what_is_kept_back_is_nowhere_in_the_index(built: tuple[Path, Path]) -> None:
    _, index = built
    for q in (SECRET, SECRET_ZH, "蓝鲸", "读者不可见", "hunter2", "请输入密码"):
        assert search(index, q) == [], q
    data = index_bytes(index)
    for secret in (SECRET, SECRET_ZH, "读者不可见", "hunter2"):
        assert secret.encode() not in data, secret


def test_encrypted_posts_are_found_by_title_tags_and_abstract(built: tuple[Path, Path]) -> None:
    _, index = built
    assert [i for i, _ in search(index, "加密的日记")] == ["locked.md"]
    assert [i for i, _ in search(index, "tag:日记")] == ["locked.md"]
    assert [i for i, _ in search(index, "category:私人")] == ["locked.md"]
    assert search(index, "输入密码") == [("locked.md", "这里有一篇加密文章，<mark>输入密码</mark>继续阅读。")]
    assert [i for i, _ in search(index, "按标签加密")] == ["by-tag.md"]
    assert [i for i, _ in search(index, "狗")] == ["opted-out.md"]


def test_no_reader_facing_route_hands_out_a_kept_back_post(built: tuple[Path, Path]) -> None:
    _, index = built
    app = create_app({"INDEX_DIR": str(index), "TESTING": True, "RESULT_CACHE": 0})
    client = app.test_client()
    try:
        responses = [
            client.get("/api/search", query_string={"q": "加密"}),
            client.get("/api/search", query_string={"q": "", "tag": "私密"}),
            client.get("/search.atom", query_string={"q": "加密"}),
            client.get("/search.atom", query_string={"tag": "私密"}),
            client.get("/", query_string={"q": "加密"}),
            client.get("/api/suggest", query_string={"q": "隐藏"}),
            client.get("/api/suggest", query_string={"q": "草稿"}),
        ]
        for response in responses:
            assert response.status_code == 200
            text = response.get_data(as_text=True)
            for secret in (SECRET, SECRET_ZH, "读者不可见", "hunter2"):
                assert secret not in text, (response.request.url, secret)
        hits = responses[0].get_json()["hits"]
        assert {h["id"] for h in hits} >= {"locked.md", "locked-no-abstract.md", "by-tag.md"}
        assert responses[5].get_json()["suggestions"] == []
    finally:
        close_index(app)


def test_cli_lists_kept_back_posts_by_path_and_reason_only(tmp_path: Path) -> None:
    posts = write_posts(tmp_path / "posts", {k: v for k, v in POSTS.items() if k != "by-tag.md"})  # needs --site
    args = ["reindex", "--posts", str(posts), "--index", str(tmp_path / "ix"),
            "--exclude", "private", "--keep-out", "visibility=members"]
    result = CliRunner().invoke(main, args, env={"SEARCHSVC_EXCLUDE": ""})
    assert result.exit_code == 0, result.output
    assert "kept back hidden.md: hidden (hidden: true)" in result.output
    assert "kept back private/diary.md: excluded (--exclude private)" in result.output
    assert f"kept back locked.md: {ENCRYPTED}" in result.output
    assert "kept back notes.secret.md" not in result.output  # not excluded by these flags
    assert SECRET not in result.output and SECRET_ZH not in result.output
    assert ", 8 kept back in " in result.output.splitlines()[-1]  # six kept out, two encrypted
    found = CliRunner().invoke(main, ["search", "加密", "--json", "--index", str(tmp_path / "ix")])
    assert found.exit_code == 0 and SECRET not in found.output and SECRET_ZH not in found.output
    assert {h["id"] for h in json.loads(found.output)["hits"]} >= {"locked.md", "locked-no-abstract.md"}


def test_a_hexo_sites_encrypt_tags_apply_with_site(tmp_path: Path) -> None:
    site = tmp_path / "blog"
    write_posts(site / "source" / "_posts", {"by-tag.md": POSTS["by-tag.md"], "opted-out.md": POSTS["opted-out.md"]})
    (site / "_config.yml").write_text(
        "title: 博客\nsource_dir: source\nencrypt:\n  abstract: 输入密码阅读全文\n  tags:\n"
        "    - {name: 私密, password: pw}\n    - {name: 日记, password: ''}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["reindex", "--site", str(site), "--index", str(tmp_path / "ix")])
    assert result.exit_code == 0, result.output
    assert f"kept back by-tag.md: {ENCRYPTED}" in result.output and "kept back opted-out.md" not in result.output
    assert search(tmp_path / "ix", SECRET_ZH) == []
    assert search(tmp_path / "ix", "阅读全文") == [("by-tag.md", "输入密码<mark>阅读全文</mark>")]
    assert [i for i, _ in search(tmp_path / "ix", "狗")] == ["opted-out.md"]


def test_rules_from_the_environment_list_values_as_path_does(tmp_path: Path) -> None:
    posts = write_posts(tmp_path / "posts", POSTS)
    env = {"SEARCHSVC_EXCLUDE": "private:*.secret.md", "SEARCHSVC_KEEP_OUT": "visibility=members"}
    result = CliRunner().invoke(main, ["reindex", "--posts", str(posts), "--index", str(tmp_path / "ix")], env=env)
    assert result.exit_code == 0, result.output
    assert "kept back notes.secret.md: excluded (--exclude *.secret.md)" in result.output
    assert "kept back members.md: kept out (--keep-out visibility=members)" in result.output


def test_a_bad_keep_out_rule_is_a_usage_error(tmp_path: Path) -> None:
    posts = write_posts(tmp_path / "posts", {"a.md": POSTS["public.md"]})
    result = CliRunner().invoke(main, ["reindex", "--posts", str(posts), "--index", str(tmp_path / "ix"),
                                       "--keep-out", "visibility"])
    assert result.exit_code == 2 and "KEY=VALUE" in result.output


def test_a_post_turned_private_leaves_the_index_and_the_disk_and_comes_back(built: tuple[Path, Path]) -> None:
    posts, index = built
    settings = IndexSettings.create(keep_back=KEEP)
    public = posts / "public.md"
    original = public.read_bytes()
    public.write_text(f"---\ntitle: 公开的文章\ndate: 2024-01-01\nhidden: true\n---\n公开的正文说到猫。{SECRET}\n",
                      encoding="utf-8")
    report = update_index(posts, index, settings=settings)
    assert (report.full, report.deleted) == (False, 1)
    assert dict(report.kept_back) == {**KEPT_OUT, "public.md": "hidden (hidden: true)"}  # unchanged encrypted posts are not read
    assert search(index, "猫") == []

    public.write_text("---\ntitle: 公开的文章\ndate: 2024-01-01\npassword: pw\n---\n公开的正文说到猫。\n", encoding="utf-8")
    report = update_index(posts, index, settings=settings)
    assert report.added == 1 and dict(report.kept_back)["public.md"] == ENCRYPTED
    assert search(index, "猫") == [] and [i for i, _ in search(index, "公开的文章")] == ["public.md"]

    public.write_bytes(original)
    report = update_index(posts, index, settings=settings)
    assert report.updated == 1 and [i for i, _ in search(index, "猫")] == ["public.md"]

    # Encrypting a post that was public: the old body must leave the segment files, not only be marked deleted.
    public.write_text(f"---\ntitle: 公开的文章\ndate: 2024-01-01\n---\n说到{SECRET}。\n", encoding="utf-8")
    update_index(posts, index, settings=settings)
    assert SECRET.encode() in index_bytes(index)
    public.write_text(f"---\ntitle: 公开的文章\ndate: 2024-01-01\npassword: pw\n---\n说到{SECRET}。\n", encoding="utf-8")
    report = update_index(posts, index, settings=settings)
    assert report.updated == 1 and search(index, SECRET) == []
    assert SECRET.encode() not in index_bytes(index)

    # Editing a post that was encrypted already rewrites no segment: only its abstract was there.
    segments = {p.name for p in index.rglob("*.pst")}
    public.write_text("---\ntitle: 公开的文章\ndate: 2024-01-01\npassword: pw\nabstract: 新摘要\n---\n改过的正文。\n",
                      encoding="utf-8")
    report = update_index(posts, index, settings=settings)
    assert report.updated == 1 and segments <= {p.name for p in index.rglob("*.pst")}
    assert [i for i, _ in search(index, "新摘要")] == ["public.md"]
    assert update_index(posts, index, settings=settings).unchanged == len(POSTS) - len(KEPT_OUT)


def test_changing_the_rules_rebuilds_the_index(built: tuple[Path, Path]) -> None:
    posts, index = built
    report = update_index(posts, index, settings=IndexSettings.create(keep_back=KeepBack(encrypt_tags=("私密",))))
    assert report.full and "private/diary.md" not in dict(report.kept_back)
    assert [i for i, _ in search(index, "私人文件夹")] == ["private/diary.md"]
    report = update_index(posts, index, settings=IndexSettings.create(keep_back=KEEP))
    assert report.full and search(index, "私人文件夹") == []
