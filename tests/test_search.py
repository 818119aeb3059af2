"""Search: query language, recall, ranking, facets, paging, hostile input — over the sample posts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SAMPLES

from searchsvc.analysis.normalize import normalize
from searchsvc.cli import main
from searchsvc.engine.evaluate.queries import build_queries
from searchsvc.engine.read.searcher import SearchIndex
from searchsvc.engine.run import run_query
from searchsvc.ingest.posts import iter_post_files, load_post
from searchsvc.search.model import SearchRequest, SearchResult, make_request
from searchsvc.search.parse import QueryError, parse_query
from searchsvc.search.plan import plan_query


def search(index: SearchIndex, q: str, **params: str | list[str]) -> SearchResult:
    raw = {"q": [q], "per_page": ["100"]}
    raw.update({k: v if isinstance(v, list) else [v] for k, v in params.items()})
    return run_query(index, make_request(raw))


def found(index: SearchIndex, q: str, **params: str | list[str]) -> list[str]:
    return sorted(h.id for h in search(index, q, **params).hits)


CASES = [
    # words, as jieba words or substrings; all must match
    ("火锅", ["2019/sichuan-hotpot.md"]),
    ("西湖 龙井茶", ["2019/hangzhou-west-lake.md"]),
    ("龙井茶 西湖", ["2019/hangzhou-west-lake.md"]),
    ("西湖 火锅", []),
    # exact phrases, quoted; the bigram field finds what jieba's ChineseAnalyzer loses
    ('"人工智能"', ["2021/digital-economy.md", "2022/ai-painting.md"]),
    ('"工智能绘"', ["2022/ai-painting.md"]),
    ('"绘画工具体验"', ["2022/ai-painting.md"]),
    ('"体验工具"', []),
    # substrings inside words and single characters
    ("工智", ["2021/digital-economy.md", "2022/ai-painting.md"]),
    ("鹿", ["2021/traditional-tea.md"]),
    ("粽", ["2025/dragon-boat.md"]),
    # traditional <-> simplified, full-width <-> half-width
    ("烏龍茶", ["2021/traditional-tea.md"]),
    ("乌龙茶", ["2021/traditional-tea.md"]),
    ("數據庫", ["2023/database-index.md", "2025/zero-width.md"]),
    ("１２３", ["2025/fullwidth.md"]),
    ("abc", ["2025/fullwidth.md"]),
    ("ＡＢＣ", ["2025/fullwidth.md"]),
    ("460亿元", ["2021/digital-economy.md"]),
    # zero-width characters inside a word do not hide it
    ("数据库这三个字", ["2025/zero-width.md"]),
    # exclusion
    ("人工智能 -绘画", ["2021/digital-economy.md"]),
    ("咖啡 -物理", []),
    ('茶 -"烏龍"', ["2019/hangzhou-west-lake.md"]),
    # filters in the query
    ("category:美食", ["2019/sichuan-hotpot.md", "2021/traditional-tea.md", "2023/xian-food.md"]),
    ("tag:人工智能 模型", ["2024/llm-notes.md"]),
    ("author:林小满 茶", ["2019/hangzhou-west-lake.md", "2021/traditional-tea.md"]),
    # odd shapes of the sample folder
    ("长江大桥的夜景", ["2022/toml-post.md"]),
    ("黄河入海口", ["2022/json-post.md"]),
    ("命令行工具", ["2023/no-front-matter.md"]),
    ("今日数据行业日报", ["2023/broken-yaml.md"]),
    ("页面包", ["2024/bundle-post/index.md"]),
    # hostile strings: no error, and syntax is text
    ("(((", []),
    ('"', []),
    ("AND", []),
    ("*", []),
    (":", []),
    ("title:火锅", []),
    ("火锅 OR 西湖", []),
    ("<script>alert(1)</script>", []),
    ("\x00", []),
    ("", []),
    ("，。！", []),
]


@pytest.mark.parametrize("q, expected", CASES, ids=[c[0][:20] or "empty" for c in CASES])
def test_query_table(sample_index: SearchIndex, q: str, expected: list[str]) -> None:
    assert found(sample_index, q) == expected


def _sample_texts() -> dict[str, str]:
    posts = [load_post(p, SAMPLES) for p in iter_post_files(SAMPLES)]
    return {p.id: normalize(p.title + "\n" + p.body) for p in posts}


@pytest.mark.parametrize("length", [1, 2, 3, 5])
def test_every_substring_finds_every_post_that_holds_it(sample_index: SearchIndex, length: int) -> None:
    """Exact recall, checked against a brute-force scan of the same posts."""
    texts = _sample_texts()
    probes: set[str] = set()
    for text in texts.values():
        for line in text.split("\n"):
            for i in range(0, max(0, len(line) - length), 7):
                piece = line[i:i + length]
                if all("\u4e00" <= c <= "\u9fff" for c in piece):
                    probes.add(piece)
    assert len(probes) > 40
    for piece in sorted(probes)[:150]:
        expected = sorted(pid for pid, text in texts.items() if piece in text)
        assert found(sample_index, f'"{piece}"') == expected, piece
        # Unquoted, jieba may split the piece into words that also occur apart: never fewer posts.
        assert set(found(sample_index, piece)) >= set(expected), piece


def test_exclusion_removes_the_whole_text_not_its_characters(sample_index: SearchIndex) -> None:
    texts = _sample_texts()
    expected = sorted(pid for pid, text in texts.items() if "的" in text and "西湖边" not in text)
    assert "2019/hangzhou-west-lake.md" not in expected
    assert any("边" in texts[pid] for pid in expected)  # posts with 边 alone stay
    assert found(sample_index, "的 -西湖边") == expected


def test_whole_words_rank_above_substrings(sample_index: SearchIndex) -> None:
    hits = search(sample_index, "龙").hits
    assert hits[0].id == "2021/traditional-tea.md"  # 龍 in its title
    assert [h.id for h in search(sample_index, "人工智能").hits][0] == "2022/ai-painting.md"  # title and body


def test_exact_title_and_verbatim_query_come_first(sample_index: SearchIndex) -> None:
    assert search(sample_index, "北京的秋天").hits[0].id == "2022/beijing-autumn.md"
    assert search(sample_index, "春节回家").hits[0].id == "2026/spring-festival.md"
    assert search(sample_index, "远程办公一年后的体会").hits[0].id == "2020/remote-work.md"


def test_three_quarters_fallback_and_suggestion(sample_index: SearchIndex) -> None:
    result = search(sample_index, "西湖 龙井茶 片儿川 火星")
    assert [h.id for h in result.hits] == ["2019/hangzhou-west-lake.md"]
    assert result.partial is True
    assert result.suggestion == "西湖 龙井茶 片儿川"
    two = search(sample_index, "西湖 火锅")
    assert two.total == 0 and two.suggestion in ("西湖", "火锅")
    noise = search(sample_index, "鑫 犇 淼 焱")
    assert noise.total == 0 and noise.suggestion is None


def test_facets_paging_and_sorting(sample_index: SearchIndex) -> None:
    everything = search(sample_index, "的", per_page="5")
    assert everything.total > 20 and everything.pages == -(-everything.total // 5)
    assert len(everything.hits) == 5
    every_hit = search(sample_index, "的").hits
    assert len(every_hit) == everything.total
    for name, attr in (("category", "categories"), ("tag", "tags"), ("author", "authors")):
        counted: dict[str, int] = {}
        for h in every_hit:
            for value in getattr(h, attr):
                counted[value] = counted.get(value, 0) + 1
        expected = sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
        assert [(f.value, f.count) for f in everything.facets[name]] == expected
    page2 = search(sample_index, "的", per_page="5", page="2")
    assert not {h.id for h in page2.hits} & {h.id for h in everything.hits}
    past = search(sample_index, "的", page="99")
    assert past.hits == () and past.total == everything.total  # no silent clamping
    newest = search(sample_index, "的", sort="newest").hits
    assert [h.date for h in newest] == sorted((h.date for h in newest), reverse=True)
    oldest = search(sample_index, "的", sort="oldest").hits
    assert [h.date for h in oldest] == sorted(h.date for h in oldest)


def test_a_huge_query_is_refused_by_the_request_and_harmless_to_the_engine(sample_index: SearchIndex) -> None:
    with pytest.raises(QueryError):
        make_request({"q": ["火" * 5000]})
    assert run_query(sample_index, SearchRequest(q="火" * 5000)).total == len(found(sample_index, "火"))
    assert run_query(sample_index, SearchRequest(q="火锅 " * 2500)).total == 1


def test_request_filters_and_dates(sample_index: SearchIndex) -> None:
    assert found(sample_index, "", category=["美食", "旅行"], author="王大厨") == [
        "2019/sichuan-hotpot.md", "2022/beijing-autumn.md", "2023/xian-food.md"]
    assert found(sample_index, "人工智能", tag="绘画") == ["2022/ai-painting.md"]
    assert found(sample_index, "的", **{"from": "2026-02-01", "to": "2026-03-20"}) == [
        "2026/city-cycling.md", "2026/spring-festival.md"]
    listing = search(sample_index, "", category="运动")
    assert [h.id for h in listing.hits] == ["2024/winter-olympics.md", "2021/marathon.md"]  # newest first


@pytest.mark.parametrize(
    "params, message",
    [
        ({}, "the parameter q is required"),
        ({"q": ["x"], "page": ["0"]}, "page must be between 1 and 1000000"),
        ({"q": ["x"], "per_page": ["abc"]}, "per_page must be a whole number, not 'abc'"),
        ({"q": ["x"], "per_page": ["101"]}, "per_page must be between 1 and 100"),
        ({"q": ["x"], "from": ["2021-13-01"]}, "from must be an ISO date such as 2021-03-23, not '2021-13-01'"),
        ({"q": ["x"], "from": ["2022-01-01"], "to": ["2021-01-01"]}, "from is after to"),
        ({"q": ["x"], "sort": ["random"]}, "sort must be one of relevance, newest, oldest"),
        ({"q": ["x" * 2001]}, "q is longer than 2000 characters"),
    ],
)
def test_bad_requests(params: dict[str, list[str]], message: str) -> None:
    with pytest.raises(QueryError) as err:
        make_request(params)
    assert str(err.value) == message


def test_query_building_is_pure_and_printable() -> None:
    parsed = parse_query('西湖 "龍井" -火锅 category:旅行')
    assert parsed.words == ("西湖",) and parsed.phrases == ("龙井",) and parsed.excluded == ("火锅",)
    assert parsed.filters == (("category", "旅行"),)
    text = str(build_queries(plan_query(parsed)))
    assert "body_sub:西湖" in text and "body_sub:龙井" in text and "category:旅行" in text and "NOT" in text


def test_snippets_and_titles_are_marked(sample_index: SearchIndex) -> None:
    hit = search(sample_index, "人工智能").hits[0]
    assert hit.title_html == "<mark>人工智能</mark>绘画工具体验"
    assert "<mark>人工智能</mark>绘画工具" in hit.snippet_html
    trad = search(sample_index, "乌龙茶").hits[0]
    assert trad.title_html == "臺灣<mark>烏龍茶</mark>的故事"


def test_cli_search_json_and_explain(sample_index_dir: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(main, ["search", "火锅", "--index", str(sample_index_dir), "--json"])
    assert out.exit_code == 0, out.output
    assert '"id": "2019/sichuan-hotpot.md"' in out.output and '"total": 1' in out.output
    explain = runner.invoke(main, ["search", "火锅", "--index", str(sample_index_dir), "--explain"])
    assert "parsed: ParsedQuery(raw='火锅', words=('火锅',)" in explain.output
    assert "whoosh: " in explain.output and "1 results" in explain.output
    bad = runner.invoke(main, ["search", "火锅", "--index", str(sample_index_dir), "--page", "0"])
    assert bad.exit_code == 2 and "page must be between 1 and 1000000" in bad.output


def test_result_cache_is_keyed_by_generation(sample_posts: Path, tmp_path: Path) -> None:
    from searchsvc.engine.write.reindex import update_index

    update_index(sample_posts, tmp_path / "ix")
    with SearchIndex(tmp_path / "ix", cache_size=8) as index:
        first = run_query(index, SearchRequest(q="雪豹"))
        assert first.total == 0 and len(index.cache._items) == 1
        again = run_query(index, SearchRequest(q="雪豹"))
        assert again.hits == first.hits and again.total == 0
        (sample_posts / "leopard.md").write_text("---\ntitle: 雪豹\n---\n雪豹。\n", encoding="utf-8")
        update_index(sample_posts, tmp_path / "ix")
        index.refresh(max_age=0)
        assert run_query(index, SearchRequest(q="雪豹")).total == 1
        for i in range(20):
            run_query(index, SearchRequest(q=f"火锅{i}"))
        assert len(index.cache._items) == 8


def test_shared_file_keeps_a_position_per_thread(tmp_path: Path) -> None:
    """Threads share a searcher's files: each one's seek and read never move another's."""
    import pickle
    import threading

    from searchsvc.engine.read.searcher import SharedStructFile

    data = bytes(range(256)) * 40 + b"line one\nline two\n" + pickle.dumps({"k": "数据"})
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    f = SharedStructFile(str(path))
    steps = [threading.Barrier(2) for _ in range(3)]
    seen: dict[str, bytes] = {}

    def reader(name: str, start: int) -> None:
        steps[0].wait()
        f.seek(start)
        steps[1].wait()  # both have seeked before either reads
        seen[name] = f.read(16) + f.read(16)
        steps[2].wait()

    threads = [threading.Thread(target=reader, args=(n, s)) for n, s in (("a", 0), ("b", 1000))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"a": data[0:32], "b": data[1000:1032]}
    assert f.get(5000, 4) == data[5000:5004]
    f.seek(10240)
    assert f.file.readline() == b"line one\n" and f.file.readline() == b"line two\n"
    assert f.read_pickle() == {"k": "数据"}
    assert f.read(10) == b"" and f.tell() == len(data)
    f.seek(-4, 2)
    assert f.read() == data[-4:]
    f.close()
    assert f.file.closed


def test_threads_share_one_searcher_and_retired_ones_close(sample_posts: Path, tmp_path: Path) -> None:
    """Searches on several threads while commits land: none fails, each commit's searcher is
    shared, and a searcher a newer commit replaced is closed once no search uses it."""
    import gc
    import os
    import threading

    from searchsvc.engine.write.reindex import update_index

    index_dir = tmp_path / "ix"
    update_index(sample_posts, index_dir)
    errors: list[BaseException] = []
    stop = threading.Event()
    fds = len(os.listdir("/proc/self/fd"))
    gc.disable()  # retired searchers must be closed, not collected
    with SearchIndex(index_dir) as index:
        first = index.searcher()

        def search(q: str) -> None:
            while not stop.is_set():
                try:
                    run_query(index, make_request({"q": [q]}))
                except BaseException as exc:  # noqa: BLE001 (reported below)
                    errors.append(exc)
                    return

        threads = [threading.Thread(target=search, args=(q,)) for q in ("城市", '"数字经济"', "的", "雪豹")]
        for t in threads:
            t.start()
        try:
            for n in range(3):
                (sample_posts / f"snow-{n}.md").write_text(f"---\ntitle: 雪豹{n}\n---\n雪豹出现在山谷。\n", encoding="utf-8")
                update_index(sample_posts, index_dir)
                index.refresh(max_age=0)
                assert index.searcher() is index.searcher()
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert errors == []
        assert first.is_closed and not index.searcher().is_closed
        assert run_query(index, make_request({"q": ["雪豹"]})).total == 3
    gc.enable()
    assert len(os.listdir("/proc/self/fd")) <= fds  # every commit's files closed
