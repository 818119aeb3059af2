"""What readers meant: pinyin typed for hanzi, same-sound typos corrected from the site's own
lexicon, the owner's synonyms — through the backend, the API, the page and the CLI."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_posts

from searchsvc.analysis.pinyin import parse_initials, parse_syllables, readings, sound_keys
from searchsvc.backends.config import BackendConfig, open_searcher
from searchsvc.cli import main
from searchsvc.engine.write.reindex import update_index
from searchsvc.search import synonyms as synonyms_module
from searchsvc.search.model import SearchRequest
from searchsvc.search.synonyms import parse_synonyms
from searchsvc.web import close_index, create_app


def post(title: str, body: str, date: str, extra: str = "") -> bytes:
    return f"---\ntitle: {title}\ndate: {date}\n{extra}---\n{body}\n".encode()


POSTS = {
    "economy.md": post("数字经济的新脉动", "各地的数字化转型正在加快。", "2024-01-01", "tags: [产业观察]\n"),
    "shenzhen.md": post("深圳机场新航站楼启用", "旅客从新航站楼出发。", "2024-01-02", "categories: [城市]\n"),
    "search.md": post("全文检索入门", "倒排索引让检索变快，检索结果按相关度排序。", "2024-01-03"),
    "scenery.md": post("杭州的景点", "西湖是最有名的景点之一。", "2024-01-04"),
    "classic.md": post("经典电影回顾", "这些经典老片值得一看。", "2024-01-05"),
    "python.md": post("Python 异步入门", "asyncio 让 python 写并发更容易。", "2024-01-06"),
    "growth.md": post("孩子长大了", "转眼孩子已经长大。", "2024-01-07"),
    "kfc.md": post("肯德基的新品", "肯德基推出了新的早餐。", "2024-01-08"),
    "slang.md": post("开封菜又涨价了", "网友把它叫作开封菜。", "2024-01-09"),
    "potato.md": post("马铃薯的种植", "马铃薯喜欢凉爽的气候。", "2024-01-10"),
    "tudou.md": post("土豆丝的做法", "把土豆切成细丝。", "2024-01-11"),
    "lock.md": post("门锁的故事", "检查门上的锁是不是坏了。", "2024-01-12"),
    "news1.md": post("新闻早知道", "今天的新闻摘要。", "2024-01-13"),
    "news2.md": post("新闻联播回顾", "晚间新闻。", "2024-01-14"),
    "news3.md": post("体育新闻", "赛场新闻。", "2024-01-15"),
    "news4.md": post("科技新闻", "科技圈新闻。", "2024-01-16"),
    "wenxin.md": post("温馨小记", "新文一篇：温馨的晚饭。", "2024-01-17"),
}


@pytest.fixture(scope="module")
def meaning_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("meaning")
    posts = write_posts(root / "posts", POSTS)
    update_index(posts, root / "index", procs=1)
    return root / "index"


@pytest.fixture(scope="module")
def searcher(meaning_index: Path):  # type: ignore[no-untyped-def]
    found = open_searcher(BackendConfig(index_dir=meaning_index))
    yield found
    found.close()


def titles(searcher, q: str, **kw: object) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.title for h in searcher.run(SearchRequest(q=q, **kw)).hits]  # type: ignore[arg-type]


# --- readings and parsing ---------------------------------------------------------------------

def test_readings_use_the_phrase_dictionary_and_keep_every_reading_it_does_not_settle() -> None:
    assert readings("长大", phrases=True) == [("zhang",), ("da",)]  # in pypinyin's phrases: zhǎng only
    assert set(readings("长大")[0]) == {"zhang", "chang"}  # a query is read character by character
    alone = readings("长")[0]
    assert set(alone) == {"zhang", "chang"}  # alone, both readings stay
    assert readings("绿")[0][0] == "lv"  # ü as v


def test_a_latin_run_parses_as_syllables_the_last_unfinished_or_as_initials() -> None:
    assert ("shu", "zi", "jing", "ji") in parse_syllables("shuzijingji")
    assert parse_syllables("shuzij")[0] == ("shu", "zi", "j")
    assert parse_syllables("xian")[:2] == [("xian",), ("xi", "an")]  # fewest syllables first
    assert parse_syllables("szjj") == [] and parse_initials("szjj") == ("s", "z", "j", "j")
    assert parse_initials("iu") is None  # no syllable starts with i or u
    assert parse_syllables("a" * 5000) == [] and parse_initials("a" * 5000) is None  # bounded


def test_a_server_never_loads_the_phrase_dictionary(meaning_index: Path) -> None:
    """What `serve` sets: pypinyin without its phrases (58 MB a worker); pinyin queries and
    corrections still read, since the lexicon was read with phrases when it was built."""
    import subprocess
    import sys

    script = ("import sys\nfrom pathlib import Path\nfrom searchsvc.backends.config import BackendConfig, open_searcher\n"
              "from searchsvc.search.model import SearchRequest\n"
              "s = open_searcher(BackendConfig(index_dir=Path(sys.argv[1])))\n"
              "print(s.run(SearchRequest(q='zhangda')).hits[0].title, s.run(SearchRequest(q='全文检锁')).corrected)\n"
              "import pypinyin.constants\nprint(len(pypinyin.constants.PHRASES_DICT), 'pypinyin.phrases_dict' in sys.modules)\n")
    env = dict(os.environ, PYPINYIN_NO_PHRASES="1", PYPINYIN_NO_DICT_COPY="1")
    out = subprocess.run([sys.executable, "-c", script, str(meaning_index)], capture_output=True, text=True, env=env,
                         check=True).stdout.split("\n")
    assert out[:2] == ["孩子长大了 全文检索", "0 False"]


def test_sound_keys_fold_the_pairs_an_input_method_confuses() -> None:
    assert sound_keys("深圳") == sound_keys("森圳")  # sh/s
    assert sound_keys("新闻") == sound_keys("新文")  # eng/en
    assert sound_keys("检索") != sound_keys("经典")


# --- pinyin -----------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["shuzijingji", "shuzijing", "szjj", "数字jj", "数字jingji", "SHUZIJINGJI"])
def test_pinyin_full_initials_and_mixed_find_the_title(searcher, typed: str) -> None:  # type: ignore[no-untyped-def]
    result = searcher.run(SearchRequest(q=typed))
    assert result.hits and result.hits[0].title == "数字经济的新脉动", typed
    assert "<mark>数字经" in result.hits[0].title_html  # the mark lands on the hanzi


def test_pinyin_reads_polyphones_by_the_phrase_and_categories_too(searcher) -> None:  # type: ignore[no-untyped-def]
    assert titles(searcher, "zhangda")[:1] == ["孩子长大了"]
    assert titles(searcher, "shenzhenjichang")[:1] == ["深圳机场新航站楼启用"]


def test_latin_text_the_site_holds_is_not_read_as_pinyin(searcher) -> None:  # type: ignore[no-untyped-def]
    result = searcher.run(SearchRequest(q="python"))
    assert [h.title for h in result.hits] == ["Python 异步入门"]
    assert searcher.read("python").alternatives == ()


def test_hanzi_are_never_matched_by_reading(searcher) -> None:  # type: ignore[no-untyped-def]
    # 经典 and 景点 read jing dian both: a hanzi query finds only what it spells (meilisearch#4075).
    assert titles(searcher, "景点") == ["杭州的景点"]
    assert titles(searcher, "经典") == ["经典电影回顾"]
    assert set(titles(searcher, "jingdian")) == {"杭州的景点", "经典电影回顾"}  # pinyin reads both


def test_suggest_completes_a_pinyin_prefix(searcher) -> None:  # type: ignore[no-untyped-def]
    assert [t for t, _ in searcher.suggest("shuzij")] == ["数字经济的新脉动"]
    assert [t for t, _ in searcher.suggest("shenzhenj")] == ["深圳机场新航站楼启用"]


# --- corrections ------------------------------------------------------------------------------

def test_a_same_sound_typo_that_finds_nothing_is_answered_by_its_correction(searcher) -> None:  # type: ignore[no-untyped-def]
    result = searcher.run(SearchRequest(q="全文检锁"))
    assert result.corrected == "全文检索"
    assert result.request.q == "全文检锁"
    assert [h.title for h in result.hits] == ["全文检索入门"]
    as_typed = searcher.run(SearchRequest(q="全文检锁", as_typed=True))
    assert as_typed.corrected is None and as_typed.suggestion == "全文检索"


def test_fuzzy_initials_correct_too(searcher) -> None:  # type: ignore[no-untyped-def]
    result = searcher.run(SearchRequest(q="森圳机场"))
    assert result.corrected == "深圳机场" and result.hits[0].title == "深圳机场新航站楼启用"


def test_a_misspelt_latin_word_is_corrected_by_one_edit(searcher) -> None:  # type: ignore[no-untyped-def]
    assert searcher.run(SearchRequest(q="pyhton")).corrected == "python"


def test_a_word_the_site_holds_is_never_corrected(searcher) -> None:  # type: ignore[no-untyped-def]
    for q in ("景点", "经典", "新文"):
        result = searcher.run(SearchRequest(q=q))
        assert result.corrected is None and result.suggestion is None, q


def test_scattered_characters_of_a_word_the_site_lacks_name_the_correction(searcher) -> None:  # type: ignore[no-untyped-def]
    # 检锁: jieba splits it into 检 锁, which one post holds apart (检查 ... 锁): found, and named.
    result = searcher.run(SearchRequest(q="检锁"))
    assert "门锁的故事" in [h.title for h in result.hits]
    assert result.corrected is None and result.suggestion == "检索"


def test_a_few_hits_and_a_correction_with_many_more_only_suggest(searcher) -> None:  # type: ignore[no-untyped-def]
    # 新文 is held (one post), 新闻 by five: the typed answer stays, the correction is only named.
    result = searcher.run(SearchRequest(q="新文 晚饭"))
    assert result.corrected is None
    assert [h.title for h in result.hits] == ["温馨小记"]


def test_the_api_and_the_page_name_the_correction(meaning_index: Path) -> None:
    app = create_app({"INDEX_DIR": str(meaning_index), "TESTING": True, "RESULT_CACHE": 0})
    try:
        client = app.test_client()
        body = client.get("/api/search", query_string={"q": "全文检锁"}).get_json()
        assert body["query"] == "全文检锁" and body["corrected"] == "全文检索" and body["total"] == 1
        page = client.get("/", query_string={"q": "全文检锁"}).get_data(as_text=True)
        assert "已显示“<a" in page and "全文检索</a>”的结果" in page and "as_typed=1" in page
        typed = client.get("/", query_string={"q": "全文检锁", "as_typed": "1"}).get_data(as_text=True)
        assert "已显示" not in typed and "试试搜索" in typed
        assert client.get("/api/search", query_string={"q": "检索"}).get_json()["corrected"] is None
    finally:
        close_index(app)


def test_the_cli_says_which_query_it_answered(meaning_index: Path) -> None:
    out = CliRunner().invoke(main, ["search", "全文检锁", "--index", str(meaning_index)])
    assert out.exit_code == 0 and out.output.startswith("showing results for 全文检索: 1 results")


# --- synonyms ---------------------------------------------------------------------------------

def test_the_solr_format_parses_and_reports_bad_lines() -> None:
    table, problems = parse_synonyms("肯德基, KFC, 开封菜\n土豆 => 马铃薯\n# note\nbroken\na => \n", "syn.txt")
    assert table["kfc"] == ("kfc", "肯德基", "开封菜")
    assert table["土豆"] == ("马铃薯",) and "马铃薯" not in table
    assert problems == ["syn.txt:4: a line of equivalent words needs two or more, comma-separated",
                        "syn.txt:5: '=>' needs words on both sides"]


@pytest.fixture
def with_synonyms(meaning_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(synonyms_module, "CHECK_SECONDS", 0.0)
    path = tmp_path / "synonyms.txt"
    path.write_text("肯德基, KFC, 开封菜\n土豆 => 马铃薯\n", encoding="utf-8")
    found = open_searcher(BackendConfig(index_dir=meaning_index, synonyms=path))
    yield found, path
    found.close()


def test_equivalent_synonyms_find_each_other_the_typed_one_first(with_synonyms) -> None:  # type: ignore[no-untyped-def]
    searcher, _ = with_synonyms
    assert titles(searcher, "开封菜") == ["开封菜又涨价了", "肯德基的新品"]
    assert titles(searcher, "kfc") == ["肯德基的新品", "开封菜又涨价了"]  # the file's order after the typed word


def test_one_way_synonyms_replace_and_quotes_keep_the_typed_text(with_synonyms) -> None:  # type: ignore[no-untyped-def]
    searcher, _ = with_synonyms
    assert titles(searcher, "土豆") == ["马铃薯的种植"]
    assert titles(searcher, "马铃薯") == ["马铃薯的种植"]
    assert titles(searcher, '"土豆"') == ["土豆丝的做法"]
    assert titles(searcher, '"开封菜"') == ["开封菜又涨价了"]


def test_a_changed_synonyms_file_applies_without_a_restart(with_synonyms) -> None:  # type: ignore[no-untyped-def]
    searcher, path = with_synonyms
    assert titles(searcher, "门锁") == ["门锁的故事"]
    path.write_text("门锁, 航站楼\n", encoding="utf-8")
    stamp = time.time() + 5
    os.utime(path, (stamp, stamp))
    assert set(titles(searcher, "门锁")) == {"门锁的故事", "深圳机场新航站楼启用"}
    assert titles(searcher, "土豆") == ["土豆丝的做法"]  # the old rule is gone


# --- keeping in step --------------------------------------------------------------------------

def test_an_incremental_reindex_keeps_the_readings_in_step(tmp_path: Path) -> None:
    posts = write_posts(tmp_path / "posts", {"a.md": post("数字经济的新脉动", "正文。", "2024-01-01")})
    index = tmp_path / "index"
    update_index(posts, index, procs=1)
    searcher = open_searcher(BackendConfig(index_dir=index))
    try:
        assert titles(searcher, "shuzijingji") == ["数字经济的新脉动"]
        (posts / "a.md").write_bytes(post("深圳机场新航站楼", "正文。", "2024-01-01"))
        update_index(posts, index, procs=1)
        time.sleep(0.6)  # a searcher looks for a new commit at most every half second
        assert titles(searcher, "shuzijingji") == []
        assert titles(searcher, "shenzhenjichang") == ["深圳机场新航站楼"]
        (posts / "a.md").unlink()
        update_index(posts, index, procs=1)
        time.sleep(0.6)
        assert titles(searcher, "shenzhenjichang") == []
    finally:
        searcher.close()


# --- how readers slip (bench/evaluate.py's typo and pinyin classes, as fixtures) ---------------

SLIPS = {
    **{f"soon{n}.md": post(f"即将开幕{n}", "展会即将开幕。", f"2024-02-0{n + 1}") for n in range(4)},
    "items.md": post("几件小事", "这几件小事值得记下。", "2024-02-06"),
    **{f"home{n}.md": post(f"一家人{n}", "一家人吃饭。", f"2024-02-1{n}") for n in range(4)},
    "stock.md": post("一股暖流", "心里涌起一股暖流。", "2024-02-15"),
    "bad.md": post("糟糕透顶的一天", "今天真是糟糕透顶。", "2024-02-16"),
    **{f"head{n}.md": post(f"头顶的星空{n}", "抬头看头顶。", f"2024-02-2{n}") for n in range(3)},
    "grid.md": post("入门教程五：网格", "网格布局的写法。", "2024-03-01"),
    "risk.md": post("被人低估的风险", "这种风险常被人低估。", "2024-03-02"),
    "theme.md": post("Android 主题层级", "主题的层级关系。", "2024-03-03"),
    "cj.md": post("主题随笔", "主题公园的 cj 活动。", "2024-03-04"),
    "stuck.md": post("学统计时被R难住", "这门语言不好学。", "2024-03-05"),
}


@pytest.fixture(scope="module")
def slips(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("slips")
    update_index(write_posts(root / "posts", SLIPS), root / "index", procs=1)
    found = open_searcher(BackendConfig(index_dir=root / "index"))
    yield found
    found.close()


def test_a_correction_keeps_what_was_typed_right_before_it_counts_posts(slips) -> None:  # type: ignore[no-untyped-def]
    # 几僭 (ji jian): 即将 (ji jiang, an/ang) is in four posts, 几件 in one, and keeps the 几 typed
    assert slips.run(SearchRequest(q="几僭")).corrected == "几件"


def test_a_word_sounds_as_it_is_read_not_as_any_reading_of_its_characters(slips) -> None:  # type: ignore[no-untyped-def]
    # 家 may read gu (大家 gū, archaic): 一家 is yi jia, so 一估 (yi gu) meant 一股, not 一家
    assert slips.run(SearchRequest(q="一估")).corrected == "一股"


def test_the_whole_typed_chunk_is_corrected_before_its_words(slips) -> None:  # type: ignore[no-untyped-def]
    # jieba leaves 透 鐤 alone: the words alone would make it 糟糕头顶; the chunk is 糟糕透顶
    result = slips.run(SearchRequest(q="糟糕透鐤"))
    assert result.corrected == "糟糕透顶" and [h.title for h in result.hits] == ["糟糕透顶的一天"]


@pytest.mark.parametrize("typed", ["rmjcwwg", "jiaochengwuwangge", "教程wwg"])
def test_pinyin_reads_across_the_punctuation_of_a_title(slips, typed: str) -> None:  # type: ignore[no-untyped-def]
    assert titles(slips, typed)[:1] == ["入门教程五：网格"], typed


def test_a_letter_typed_against_hanzi_reads_as_pinyin_after_its_verbatim_text(slips) -> None:  # type: ignore[no-untyped-def]
    # 被R as typed first (as A股 or C语言 would be), then 被人 read from the letter
    assert titles(slips, "被r") == ["学统计时被R难住", "被人低估的风险"]


def test_a_latin_word_the_site_holds_typed_against_hanzi_is_searched_first_then_read(slips) -> None:  # type: ignore[no-untyped-def]
    # cj is a word of one post: 主题cj finds it as typed first, then 主题层级 by its initials
    assert titles(slips, "主题cj") == ["主题随笔", "Android 主题层级"]
    assert slips.read("cj").alternatives == ()  # alone, a held word stays Latin


def test_a_pasted_passage_is_neither_read_as_pinyin_nor_corrected(slips) -> None:  # type: ignore[no-untyped-def]
    # typed, 主题cj reads cj as pinyin too and 几僭 is corrected; pasted amid 70 characters, neither
    # (each Latin word and lone character of a paste cost lexicon lookups and counts)
    filler = "这一段是从别处复制过来的很长的文字，" * 4
    assert slips.read("主题cj").alternatives and not slips.read(filler + "主题cj").alternatives
    result = slips.run(SearchRequest(q=filler + "几僭"))
    assert result.corrected is None and result.suggestion is None
