"""Snippets and title marks: whole terms, merged marks, escaped text, edges that cut no word."""

from __future__ import annotations

import html
import re

from searchsvc.search.highlight import make_snippet, mark_title

LONG = (
    "今年春天，我们走访了十几个县城。县城里的农产品通过直播卖到全国，快递网点覆盖到每个乡镇。"
    "数字经济规模达到四千六百亿元，同比增长十二个百分点。人工智能和大数据开始进入传统制造业，"
    "工厂的生产线上出现了越来越多的机器人。一位厂长说，过去靠经验，现在靠数据。"
    "下一步，当地将继续建设数字经济创新发展先行区，重点抓好大数据、人工智能、区块链等新兴产业。"
)


def marks(snippet: str) -> list[str]:
    return re.findall(r"<mark>(.*?)</mark>", snippet)


def plain(snippet: str) -> str:
    return html.unescape(re.sub(r"</?mark>", "", snippet)).strip("…")


def test_adjacent_terms_merge_into_one_mark() -> None:
    assert mark_title("在福州，感受数字经济新脉动", ("数字", "经济")) == "在福州，感受<mark>数字经济</mark>新脉动"


def test_every_occurrence_is_marked_and_words_are_whole() -> None:
    assert mark_title("人工智能，还是人工智能", ("人工智能",)) == "<mark>人工智能</mark>，还是<mark>人工智能</mark>"
    # A query word is marked whole, never as the sub-words jieba would index it under.
    assert marks(make_snippet(LONG, ("数字经济",))) == ["数字经济"] * len(marks(make_snippet(LONG, ("数字经济",))))


def test_traditional_and_full_width_queries_mark_the_original_characters() -> None:
    assert mark_title("臺灣烏龍茶的故事", ("乌龙茶",)) == "臺灣<mark>烏龍茶</mark>的故事"
    assert mark_title("全角４．３亿元", ("4.3亿",)) == "全角<mark>４．３亿</mark>元"
    assert mark_title("省略…号", ("...",)) == "省略<mark>…</mark>号"


def test_everything_but_marks_is_escaped() -> None:
    out = mark_title("<b>粗体</b> & 数据", ("数据",))
    assert out == "&lt;b&gt;粗体&lt;/b&gt; &amp; <mark>数据</mark>"


def test_best_window_holds_the_most_distinct_terms() -> None:
    snippet = make_snippet(LONG, ("区块链", "人工智能"), width=60)
    assert "<mark>区块链</mark>" in snippet and "<mark>人工智能</mark>" in snippet
    assert snippet.startswith("…")


def test_edges_fall_on_punctuation_and_marks_are_never_cut() -> None:
    for terms in [("机器人",), ("数据",), ("快递",), ("新兴产业",), ("县城",)]:
        for width in (40, 80, 120):
            snippet = make_snippet(LONG, terms, width=width)
            text = plain(snippet)
            assert text in LONG
            start = LONG.index(text)
            end = start + len(text)
            assert start == 0 or LONG[start - 1] in "，。、：", (terms, width, snippet)
            assert end == len(LONG) or LONG[end] in "，。、：" or LONG[end - 1] in "，。、：", (terms, width, snippet)
            assert len(text) <= width + 40
            for marked in marks(snippet):
                assert marked in terms


def test_no_match_gives_the_opening_words() -> None:
    snippet = make_snippet(LONG, ("不存在",), width=30)
    assert snippet.startswith("今年春天，") and snippet.endswith("…") and "<mark>" not in snippet


def test_text_without_punctuation_is_cut_at_word_boundaries() -> None:
    text = "中华人民共和国国务院总理" * 20
    snippet = make_snippet(text, ("国务院",), width=30)
    body = plain(snippet)
    # Cut where jieba puts a word boundary: 中华人民共和国 / 国务院 / 总理
    assert re.fullmatch(r"(?:中华人民共和国|国务院|总理)+", body), body
