"""What readers type, on posts written for it: verbatim text ranks as a tier above every post
that only holds the words; long phrases (pasted sentences) are narrowed by a sample of their
units and confirmed on the stored text, exactly; long pastes stay bounded."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Iterator

import pytest
from conftest import write_posts

from searchsvc.analysis.normalize import normalize
from searchsvc.analysis.units import count_phrase, substring_units, unit_text
from searchsvc.engine.evaluate import substring
from searchsvc.engine.read.searcher import SearchIndex
from searchsvc.engine.run import run_query
from searchsvc.engine.write.reindex import update_index
from searchsvc.search.model import SearchResult, make_request
from searchsvc.search.plan import substring_plan

FRAGMENT = "也不是这些学生本身的问题"
FILLER = "城市的公园在周末总是很热闹，孩子们在草地上奔跑，老人们在树荫下下棋。"
# Sentences of our own, recombined into posts: long stretches recur in several posts, as in
# sites that repost news.
SENTENCES = [
    "今年春天的降雨比往年多了三成，水库的蓄水量达到了十年来的最高点。",
    "研究人员在实验室里培育出一种耐旱的小麦品种，产量提高了百分之十二。",
    "这座城市的地铁新线路预计明年年底通车，沿线将新增十四座车站。",
    "图书馆延长了开放时间，周末晚上也可以借阅和自习。",
    "志愿者们清理了河岸两边的垃圾，一共装满了八十多个袋子。",
    "新版的手机应用支持离线地图，没有网络也能查到公交路线。",
    "山区学校的孩子们第一次用上了电子白板，课堂变得更加生动。",
    "气象台提醒市民注意防暑，午后尽量减少户外活动。",
]
BOILERPLATE = "本文转载自合作媒体，版权归原作者所有，如有侵权请联系我们删除处理。"


def posts() -> dict[str, bytes]:
    rng = random.Random(11)
    out: dict[str, bytes] = {
        # The fragment verbatim, once, in a long post: a small BM25 score.
        "verbatim.md": f"---\ntitle: 周末见闻\ndate: 2024-03-01\n---\n{FILLER * 30}{FRAGMENT}。{FILLER * 30}\n".encode(),
        # Every word of the fragment, many times, in the title and a short body, never in a row.
        "words.md": ("---\ntitle: 学生 问题 本身 这些 也不是\ndate: 2024-03-02\n---\n"
                     + "学生的问题。本身就是这些。也不是学生。子问题与学生本身，这些问题也不是。" * 6 + "\n").encode(),
    }
    for n in range(60):
        body = "".join(rng.choice(SENTENCES) for _ in range(rng.randint(2, 6)))
        if n < 40:  # more posts than are confirmed on their text
            body += BOILERPLATE
        out[f"news/{n:02d}.md"] = f"---\ntitle: 新闻{n}\ndate: 2024-04-{n % 28 + 1:02d}\n---\n{body}\n".encode()
    return out


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchIndex]:
    root = tmp_path_factory.mktemp("ranking")
    write_posts(root / "posts", posts())
    update_index(root / "posts", root / "index", full=True)
    with SearchIndex(root / "index") as opened:
        yield opened


def search(index: SearchIndex, q: str, **params: str) -> SearchResult:
    return run_query(index, make_request({"q": [q], "per_page": ["100"], **{k: [v] for k, v in params.items()}}))


def holding(text: str) -> set[str]:
    """The posts whose title or body holds `text` as a phrase of units (by brute force)."""
    units = list(substring_plan(normalize(text)).units)  # type: ignore[union-attr]
    found = set()
    for post_id, raw in posts().items():
        body = raw.decode().split("---\n", 2)[2]
        title = raw.decode().split("title: ", 1)[1].split("\n", 1)[0]
        if any(count_phrase(unit_text(normalize(t)), units) for t in (title, body)):
            found.add(post_id)
    return found


def test_a_post_holding_the_text_verbatim_ranks_above_one_holding_its_words(index: SearchIndex) -> None:
    result = search(index, FRAGMENT)
    ids = [h.id for h in result.hits]
    assert ids[:2] == ["verbatim.md", "words.md"]
    # The words' post scores far higher by BM25: only the tier puts the verbatim post first.
    assert result.hits[1].score > result.hits[0].score


def test_the_traditional_and_full_width_forms_rank_the_same(index: SearchIndex) -> None:
    for typed in ("也不是這些學生本身的問題", "也不是这些学生本身的问题 "):
        assert [h.id for h in search(index, typed).hits][0] == "verbatim.md"


@pytest.mark.parametrize("start, size", [(0, 20), (5, 30), (13, 45), (2, 60)])
def test_long_phrases_find_exactly_the_posts_that_hold_them(index: SearchIndex, start: int, size: int) -> None:
    text = "".join(SENTENCES)[start:start + size]
    assert len(substring_plan(normalize(text)).units) > substring.LONG  # type: ignore[union-attr]
    expected = holding(text)
    assert expected
    assert {h.id for h in search(index, f'"{text}"').hits} == expected


def test_more_candidates_than_are_confirmed_are_matched_by_positions(index: SearchIndex) -> None:
    result = search(index, f'"{BOILERPLATE}"')
    assert result.total == 40 > substring.CONFIRM
    assert {h.id for h in result.hits} == holding(BOILERPLATE)


def test_a_post_holding_only_the_sampled_units_is_not_a_match(tmp_path: Path) -> None:
    """A decoy differs from the phrase in one unit the sample leaves out: the stored text
    confirms what the sample's positions cannot."""
    head, tail = "今年春天的降雨比往年多了三成水库的蓄水量", "达到了十年来的最高点研究人员在实验室"
    for cut in range(1, len(tail)):
        text = head + "abc" + tail[:cut] + "xyz" + tail[cut:]
        units = [u for u, _, _ in substring_units(normalize(text))]
        at = units.index("xyz")
        if at not in substring._sampled(len(substring_plan(text).units)):  # type: ignore[union-attr]
            break
    else:
        pytest.fail("no unsampled place for the odd unit")
    decoy = text.replace("xyz", "xyw")
    write_posts(tmp_path / "posts", {
        "real.md": f"---\ntitle: 真\ndate: 2024-01-01\n---\n{text}\n".encode(),
        "decoy.md": f"---\ntitle: 假\ndate: 2024-01-01\n---\n{decoy}\n".encode(),
    })
    update_index(tmp_path / "posts", tmp_path / "index", full=True)
    with SearchIndex(tmp_path / "index") as opened:
        assert [h.id for h in search(opened, f'"{text}"').hits] == ["real.md"]
        assert [h.id for h in search(opened, text).hits][0] == "real.md"


def test_a_paste_of_many_chunks_names_no_narrower_query(index: SearchIndex) -> None:
    paste = "不存在的词语甲乙丙 " + " ".join(SENTENCES)  # the odd chunk first: only 32 words are kept
    result = search(index, paste)
    assert (result.total == 0 or result.partial) and result.suggestion is None
    assert search(index, "水库 不存在的词语甲乙丙").suggestion == "水库"
