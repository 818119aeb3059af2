"""textarrays computes, with numpy, exactly the terms the tokenizers yield one at a time."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLES

from searchsvc.analysis.arrays import (
    TermColumns,
    pack_terms,
    text_columns,
    unpack_terms,
)
from searchsvc.engine.tokenizers import (
    CharTokenizer,
    JiebaTokenizer,
    SubstringTokenizer,
)
from searchsvc.ingest.posts import iter_post_files, load_post

ODD_TEXTS = [
    "",
    "中",
    "a",
    "中文",
    "ab中c d中文字符 x1 ２０２４年 ＡＢＣ 繁體中文",
    "𠀀𠀁 CJK extension B, 😀中😀 emoji between",
    "Straße ǅ ﬁ 中\u200b文 — zero width and ligatures",
    "snake_case_name 中_文 __ _a_ 1_000",
    "ＴＥＳＴ１２３ full-width, 「引号」（括号）……",
    "supercalifragilistic 是一个很长的单词，1234567890 是很长的数字",
    "e\u0301 combining, \u0301 alone, 中\u0301文",
    "人工智能人工智能人工智能",  # repeated terms: positions and weights add up
    "   \n\t  ",
    "，。！？",
    "他说……好吧…… ㈱ ㍿ ¼ ﷺ",  # characters that fold to several
]


def _sample_texts() -> list[str]:
    texts = []
    for path in iter_post_files(SAMPLES):
        post = load_post(path, SAMPLES)
        texts += [post.title, post.body]
    return texts


def _decoded(columns: TermColumns) -> list[tuple[str, int | None, float]]:
    terms = unpack_terms(columns.keys)
    for i, term in zip(columns.long_at.tolist(), columns.long_terms):
        assert terms[i] == term[:3]  # the key holds the first three characters
        terms[i] = term
    positions = columns.positions.tolist() if columns.positions is not None else [None] * len(terms)
    return list(zip(terms, positions, columns.boosts.tolist()))


@pytest.mark.parametrize("text", ODD_TEXTS + _sample_texts())
def test_text_columns_equal_the_tokenizers(text: str) -> None:
    columns = text_columns(text)
    for tokenizer, got, positional in (
        (JiebaTokenizer(cjk_only=True), columns.words, False),
        (SubstringTokenizer(), columns.substrings, True),
        (CharTokenizer(), columns.chars, False),
    ):
        expected = [(t, p if positional else None, b) for t, _, _, p, b in tokenizer.terms_of(text, "index")]
        assert _decoded(got) == expected, type(tokenizer).__name__


def test_packed_keys_sort_as_the_terms_do() -> None:
    terms = ["中", "中文", "中文字", "中国", "a", "ab", "abc", "b", "𠀀", "ｚ", "z", "0", "09"]
    codes = "".join(terms).encode("utf-32-le")
    cp = np.concatenate([np.frombuffer(codes, dtype="<u4"), np.zeros(2, dtype="<u4")])
    ends = np.cumsum([len(t) for t in terms])
    keys = pack_terms(cp, ends - [len(t) for t in terms], ends)
    assert unpack_terms(keys) == terms
    assert [terms[i] for i in np.argsort(keys)] == sorted(terms, key=lambda t: t.encode("utf-8"))
