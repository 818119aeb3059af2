"""Analysis: normalization, offsets, and Whoosh's tokenizer contract with jieba."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from whoosh import query as wq
from whoosh.fields import ID, TEXT, Schema
from whoosh.filedb.filestore import RamStorage

from searchsvc.analysis.normalize import (
    normalize,
    normalize_with_offsets,
    original_span,
)
from searchsvc.analysis.segment import get_segmenter, segment
from searchsvc.analysis.units import substring_units
from searchsvc.engine.evaluate.queries import substring_query
from searchsvc.engine.tokenizers import JiebaTokenizer, SubstringTokenizer


@pytest.mark.parametrize(
    "text, expected",
    [
        ("繁體中文數據庫", "繁体中文数据库"),
        ("４．３億", "4.3亿"),
        ("ＡＢＣ Python", "abc python"),
        ("数\u200b据\ufeff库", "数据库"),
        ("全角\u3000空格", "全角 空格"),
        ("臺灣烏龍茶", "台湾乌龙茶"),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_offsets_survive_length_changes() -> None:
    text = "甲…乙⑩丙\u200b丁"
    norm, origin = normalize_with_offsets(text)
    assert norm == "甲...乙10丙丁"
    for term, original in [("乙", "乙"), ("丙丁", "丙\u200b丁"), ("...", "…"), ("10", "⑩"), ("0丙", "⑩丙")]:
        start = norm.index(term)
        s, e = original_span(origin, start, start + len(term))
        assert text[s:e] == original
    plain, none = normalize_with_offsets("没有变化的文字")
    assert none is None and plain == "没有变化的文字"
    long_text = text * 20  # long texts take the array path
    norm, origin = normalize_with_offsets(long_text)
    assert norm == "甲...乙10丙丁" * 20
    start = norm.index("0丙", 30)
    assert long_text[slice(*original_span(origin, start, start + 2))] == "⑩丙"


def _translated(text: str) -> tuple[str, list[int] | None]:
    from searchsvc.analysis.normalize import _fold_translate

    norm, origin = _fold_translate(text)
    return norm, origin


def _arrays(text: str) -> tuple[str, list[int] | None]:
    from searchsvc.analysis.normalize import _fold_arrays

    norm, origin = _fold_arrays(text)
    return norm, origin.tolist() if origin is not None else None


def test_long_texts_fold_through_arrays_as_through_translate() -> None:
    """Every BMP character (and some beyond it, zero-width ones and ones folding to several)
    normalized with offsets through the lookup array, as str.translate does it."""
    rare = ["\U00020000", "\U0002a6a5", "😀", "…", "㈱", "\u200b", "\ufeff", "ﬁ", "¼", "\ud800", "\udfff"]
    texts = ["".join(map(chr, range(start, start + 512))) for start in range(0, 0x10000, 512)]
    texts += ["繁體數據" * 20 + c + "ＡＢＣ" * 30 for c in rare]
    texts += ["".join(rare) * 8, "…" * 100, "\u200b" * 100]
    for text in texts:
        assert _arrays(text) == _translated(text), text[:8]


def tokens(tokenizer: object, text: str, mode: str = "index") -> list[tuple[str, int, int, int]]:
    return [(t.text, t.pos, t.startchar, t.endchar) for t in tokenizer(text, positions=True, chars=True, mode=mode)]  # type: ignore[operator]


def test_search_mode_sub_words_share_their_words_position() -> None:
    got = tokens(JiebaTokenizer(), "南京市長江大橋的人工智能")
    assert got == [
        ("南京", 0, 0, 2), ("京市", 0, 1, 3), ("南京市", 0, 0, 3),
        ("长江", 1, 3, 5), ("大桥", 1, 5, 7), ("长江大桥", 1, 3, 7),
        ("的", 2, 7, 8),
        ("人工", 3, 8, 10), ("智能", 3, 10, 12), ("人工智能", 3, 8, 12),
    ]
    assert [t[0] for t in tokens(JiebaTokenizer(), "南京市长江大桥", mode="query")] == ["南京市", "长江大桥"]


def test_offsets_point_into_the_original_text() -> None:
    text = "ＡＢＣ，４．３億元…人工智能"
    for word, _, start, end in tokens(JiebaTokenizer(), text):
        assert normalize(text[start:end]) == word
    assert [w for w, *_ in tokens(JiebaTokenizer(), text, mode="query")] == ["abc", "4", "3", "亿元", "人工智能"]


def test_start_pos_and_start_char_are_honoured() -> None:
    got = [(t.pos, t.startchar) for t in JiebaTokenizer()("数据库", positions=True, chars=True, start_pos=5, start_char=100, mode="query")]
    assert got == [(5, 100)]


def test_every_occurrence_of_a_repeated_word_is_located() -> None:
    text = "人工智能，还是人工智能。人工智能！"
    spans = [(s, e) for w, _, s, e in tokens(JiebaTokenizer(), text) if w == "人工智能"]
    assert spans == [(0, 4), (7, 11), (12, 16)]


def test_rjieba_and_jieba_give_the_same_words() -> None:
    text = "福州的数字经济规模达4600亿元，人工智能和区块链等新兴产业发展迅速。"
    for mode in ("default", "search"):
        assert get_segmenter("rjieba").tokenize(text, mode) == get_segmenter("jieba").tokenize(text, mode)


def test_user_dictionary_is_honoured(tmp_path: Path) -> None:
    userdict = tmp_path / "dict.txt"
    userdict.write_text("数智福州 10000 n\n", encoding="utf-8")
    assert "数智福州" not in [w for w, *_ in segment("数智福州建设", False)]
    for engine in ("rjieba", "jieba"):
        assert [w for w, *_ in segment("数智福州建设", False, engine, str(userdict))] == ["数智福州", "建设"]


def test_substring_units() -> None:
    assert [u for u, _, _ in substring_units("用python写数字，经济")] == ["用", "python", "写数", "数字", "字", "经济", "济"]


def test_tokenizer_pickles_with_settings_only() -> None:
    tok = JiebaTokenizer("rjieba", None)
    assert pickle.loads(pickle.dumps(tok)) == tok
    assert set(vars(tok)) == {"engine", "userdict", "cjk_only"}


@pytest.fixture
def ram_index() -> object:
    words = JiebaTokenizer()
    schema = Schema(id=ID(stored=True), body=TEXT(analyzer=words), body_sub=TEXT(analyzer=SubstringTokenizer()),
                    body_chr=TEXT(analyzer=words))
    ix = RamStorage().create_index(schema)
    with ix.writer() as w:
        w.add_document(id="a", body="人工智能改变世界", body_sub="人工智能改变世界", body_chr="")
        w.add_document(id="b", body="人工和智能是两个词", body_sub="人工和智能是两个词", body_chr="")
    return ix


def test_quoted_phrase_is_found(ram_index: object) -> None:
    """Consecutive words are a phrase; any substring is one too, through the bigram field."""
    with ram_index.searcher() as s:  # type: ignore[attr-defined]
        assert [h["id"] for h in s.search(wq.Phrase("body", ["人工智能", "改变"]))] == ["a"]
        assert [h["id"] for h in s.search(substring_query("body", "工智能改"))] == ["a"]
        assert [h["id"] for h in s.search(wq.Term("body", "智能"))] in (["a", "b"], ["b", "a"])


def test_unit_text_finds_a_phrase_exactly_where_its_units_are_consecutive() -> None:
    """count_phrase on unit texts (how a long phrase is confirmed on a post's stored text) counts
    what consecutive positions of substring_units count, and PhraseCount.may_hold refuses no text
    that holds it, on random strings of CJK characters,
    Latin letters, digits, spaces, punctuation and characters that normalization changes."""
    import random

    from searchsvc.analysis.units import PhraseCount, count_phrase, substring_units, unit_text
    from searchsvc.search.plan import substring_plan

    alphabet = list("数据库存储的是數") + list("ab1Z") + [" ", "，", "_", "-", "Ａ", "\u200b", "…"]
    rng = random.Random(1)
    checked = 0
    for _ in range(20000):
        hay = normalize("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24))))
        plan = substring_plan(normalize("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))))
        if plan is None or plan.single_char:
            continue
        units, phrase = [u for u, _, _ in substring_units(hay)], list(plan.units)
        expected = sum(units[i:i + len(phrase)] == phrase for i in range(len(units) - len(phrase) + 1))
        assert count_phrase(unit_text(hay), phrase) == expected, (hay, phrase)
        assert PhraseCount(phrase).may_hold(hay) or not expected, (hay, phrase)  # its quick refusal never errs
        checked += 1
    assert checked > 15000
