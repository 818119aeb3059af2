"""What readers type, on posts written for it: verbatim text ranks as a tier above every post
that only holds the words; long phrases (pasted sentences) are narrowed by a sample of their
units and confirmed on the stored text, exactly; long pastes stay bounded."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
from conftest import write_posts

from searchsvc.analysis.normalize import normalize
from searchsvc.analysis.units import count_phrase, substring_units, unit_text
from searchsvc.engine import run
from searchsvc.engine.evaluate import substring
from searchsvc.engine.evaluate.arrays import BulkEvaluator
from searchsvc.engine.evaluate.queries import build_queries
from searchsvc.engine.read.searcher import SearchIndex
from searchsvc.engine.run import run_query
from searchsvc.engine.write.reindex import update_index
from searchsvc.search.model import SearchResult, make_request
from searchsvc.search.parse import parse_query
from searchsvc.search.plan import plan_query, substring_plan

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


def _phrase_query(index: SearchIndex, text: str) -> Any:
    return build_queries(plan_query(parse_query(text, index.analysis))).verbatim[0]


PHRASES = [FRAGMENT, BOILERPLATE, SENTENCES[0][:14], SENTENCES[2][3:9], "".join(SENTENCES)[10:50], "学生本身"]


@pytest.mark.parametrize("defer", [False, True])
def test_holds_answers_what_the_scored_evaluation_matches(index: SearchIndex, defer: bool,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranking's tiers ask only which posts hold a text (BulkEvaluator.holds): the same posts
    the scored evaluation matches, over any domain; deferring leaves some unsure, never wrong."""
    if defer:  # defer after the first unit, confirm nothing directly: the unsure path on 62 posts
        monkeypatch.setattr(substring, "DEFER", 4)
        monkeypatch.setattr(substring, "DIRECT", 0)
        monkeypatch.setattr(substring, "FEW", 1)
        monkeypatch.setattr(substring, "CONFIRM", 2)
    searcher = index.searcher()
    evaluator = BulkEvaluator(searcher, index.arrays(searcher))
    size = searcher.reader().doc_count_all()
    rng = np.random.default_rng(5)
    unsure_seen = 0
    for text in PHRASES:
        q = _phrase_query(index, f"{text} 城市")  # the longest chunk is the text
        for n in (size, 40, 9, 3):
            domain = np.sort(rng.choice(size, n, replace=False))
            expected = evaluator.evaluate_in(q, domain)[0]
            held, unsure = evaluator.holds(q, domain, defer)
            if defer:
                assert not (held & ~expected).any() and not (expected & ~(held | unsure)).any(), (text, n)
                unsure_seen += int(unsure.sum())
            else:
                assert held.tolist() == expected.tolist() and not unsure.any(), (text, n)
    assert unsure_seen or not defer


def test_a_verbatim_tier_settled_page_by_page_ranks_as_the_exact_one(index: SearchIndex,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Unsure verbatim candidates are confirmed only where they could reach the page: every page
    is the one confirming them all gives."""
    monkeypatch.setattr(substring, "DEFER", 1)
    monkeypatch.setattr(substring, "DIRECT", 0)
    monkeypatch.setattr(substring, "FEW", 1)
    monkeypatch.setattr(substring, "CONFIRM", 1)
    settled, reordered = [], 0
    settle = run._settle

    def counted(*args: Any) -> None:
        settled.append(1)
        settle(*args)

    monkeypatch.setattr(run, "_settle", counted)
    pairs = [SENTENCES[a][-9:] + SENTENCES[b][:6] for a in range(8) for b in range(8) if a != b]
    for text in pairs + [SENTENCES[0][:14], SENTENCES[6][2:20], BOILERPLATE[:12] + " 城市"]:
        for page in ("1", "2", "3") if text not in pairs else ("1",):
            params = {"q": [text], "per_page": ["3"], "page": [page]}
            monkeypatch.setattr(run, "MAX_SETTLED", 64)
            lazy = run_query(index, make_request(params))
            monkeypatch.setattr(run, "MAX_SETTLED", -1)  # no page is small enough: confirmed all at once
            exact = run_query(index, make_request(params))
            assert [(h.id, h.score) for h in lazy.hits] == [(h.id, h.score) for h in exact.hits], (text, page)
            assert lazy.total == exact.total, text
            if text in pairs:  # a pair in a row is held by fewer posts than hold both sentences
                reordered += int(len(holding(text)) < exact.total and exact.hits[0].id in holding(text)
                                 and max(exact.hits[1:], key=lambda h: h.score).score > exact.hits[0].score)
    assert reordered >= 3 and len(settled) >= 60
