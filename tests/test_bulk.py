"""Whole-list evaluation (searchsvc.engine.evaluate.arrays) against Whoosh's own matchers: the same documents, the
same scores, on every query of the query table, with filters, dates, exclusions, several segments
and deleted posts."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from test_search import CASES
from whoosh import query as wq

from searchsvc.engine.codec import lists
from searchsvc.engine.codec.terms import term_info
from searchsvc.engine.evaluate.arrays import BulkEvaluator
from searchsvc.engine.evaluate.collect import by_key, top
from searchsvc.engine.evaluate.queries import build_queries
from searchsvc.engine.read.searcher import SearchIndex
from searchsvc.engine.read.tables import IndexArrays
from searchsvc.engine.run import run_query
from searchsvc.engine.write.reindex import update_index
from searchsvc.search.model import make_request
from searchsvc.search.parse import parse_query
from searchsvc.search.plan import plan_query

EXTRA = [
    ("数据 category:技术", None, None),
    ("的", None, None),
    ("城市 -火锅", None, None),
    ('"数字经济"', None, None),
    ("tag:旅行", None, None),
    ("中国", dt.date(2021, 1, 1), dt.date(2024, 12, 31)),
    ("", dt.date(2020, 1, 1), None),
]


def whoosh_matches(index: SearchIndex, query: wq.Query) -> dict[int, float]:
    """Every match and its score, from Whoosh's matcher tree, one document at a time."""
    searcher = index.searcher()
    found: dict[int, float] = {}
    context = searcher.context()
    for sub, offset in searcher.leaf_searchers():
        m = query.matcher(sub, context)
        while m.is_active():
            if not sub.reader().is_deleted(m.id()):
                found[m.id() + offset] = m.score()
            m.next()
    return found


def plans(index: SearchIndex) -> list[wq.Query]:
    out = []
    cases = [(q, None, None) for q, _ in CASES] + EXTRA
    for q, start, end in cases:
        parsed = parse_query(q, index.analysis)
        date_from = dt.datetime.combine(start, dt.time.min, dt.timezone.utc) if start else None
        date_to = dt.datetime.combine(end, dt.time.max, dt.timezone.utc) if end else None
        plan = build_queries(dataclasses.replace(plan_query(parsed), date_from=date_from, date_to=date_to))
        if plan.required is not wq.NullQuery:
            out.append(plan.combined())
            out.extend(plan.combined(w) for w in plan.words)
            out.append(plan.combined(wq.Or(list(plan.words))) if plan.words else plan.combined())
    # shapes the planner does not build today: boosted compounds, a one-part compound, a
    # non-scored field's term, an empty compound
    body = [wq.Term("body_chr", c) for c in "的数城"]
    out += [wq.Or(body, boost=2.0), wq.And(body[:2], boost=0.5), wq.Or(body[:1], boost=3.0),
            wq.And([wq.Or(body), wq.Term("category", "技术", boost=2.0)]), wq.Or([]),
            wq.AndMaybe(body[0], wq.Or(body[1:], boost=1.5)), wq.AndNot(body[0], body[1])]
    return out


def assert_same(index: SearchIndex) -> int:
    searcher = index.searcher()
    evaluator = BulkEvaluator(searcher, index.arrays(searcher))
    compared = 0
    for query in plans(index):
        expected = whoosh_matches(index, query)
        got = evaluator.evaluate(query)
        docs = np.flatnonzero(got.mask)
        assert sorted(expected) == docs.tolist(), query
        for d in docs:
            assert got.score[d] == pytest.approx(expected[int(d)], rel=1e-9), (query, d)
        ranked = sorted(expected, key=lambda d: (-round(expected[d], 9), d))[:10]
        assert [int(d) for d in top(got, 10)] == ranked or \
            [round(expected[d], 9) for d in ranked] == [round(float(got.score[d]), 9) for d in top(got, 10)], query
        compared += 1
    return compared


def test_same_matches_and_scores_as_whoosh(sample_index: SearchIndex) -> None:
    assert assert_same(sample_index) > len(CASES)


def test_parts_evaluated_only_where_earlier_parts_matched(sample_index: SearchIndex) -> None:
    """evaluate(q, within): exact inside `within` (what an And's later parts get), also when the
    substring phrase is run only over those few documents."""
    searcher = sample_index.searcher()
    size = searcher.reader().doc_count_all()
    rng = np.random.default_rng(7)
    restricted = 0
    for query in plans(sample_index):
        expected = whoosh_matches(sample_index, query)
        for n in (1, 3, size // 2):
            evaluator = BulkEvaluator(searcher, IndexArrays(searcher))  # empty cache: no full answer kept
            within = np.zeros(size, dtype=bool)
            within[rng.choice(size, n, replace=False)] = True
            got = evaluator.evaluate(query, within)
            inside = np.flatnonzero(got.mask & within).tolist()
            assert inside == sorted(d for d in expected if within[d]), (query, n)
            for d in inside:
                assert got.score[d] == pytest.approx(expected[d], rel=1e-9)
            restricted += n < size // 2
    assert restricted > 50


def test_same_after_incremental_commits_and_deletions(sample_posts: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "ix"
    lone = sample_posts / "lone.md"
    lone.write_text("---\ntitle: 孤单的分类\ncategories: [独有分类]\ntags: [独有标签]\n---\n只有这一篇的城市。\n", encoding="utf-8")
    update_index(sample_posts, index_dir)
    lone.unlink()  # a facet value whose every post is deleted
    posts = sorted(sample_posts.rglob("*.md"))
    posts[0].unlink()  # a deleted post in the first segment
    posts[1].write_text("---\ntitle: 新的数据城市\ndate: 2024-02-02\ncategories: [技术]\n---\n数据城市的中国故事。\n",
                        encoding="utf-8")
    update_index(sample_posts, index_dir)
    with SearchIndex(index_dir) as index:
        reader = index.searcher().reader()
        assert reader.has_deletions()
        assert len(getattr(reader, "readers", [reader])) > 1
        assert assert_same(index) > len(CASES)
        found = run_query(index, make_request({"q": ["的"], "per_page": ["100"]}))
        assert found.total > 3 and len(found.hits) == found.total
        for name, attr in (("category", "categories"), ("tag", "tags")):
            counted = Counter(v for h in found.hits for v in getattr(h, attr))
            expected = sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
            assert [(f.value, f.count) for f in found.facets[name]] == expected


def test_same_for_a_post_whose_positions_need_32_bits(sample_posts: Path, tmp_path: Path) -> None:
    """A phrase at both ends of a post of 90,000 substring units: gaps of 65,536 and more are
    packed in 32 bits, which the array decoding of positions hands to the per-posting decoder."""
    filler = "，".join(f"第{n}段" for n in range(30000))
    (sample_posts / "2026" / "long.md").write_text(
        f"---\ntitle: 长文\n---\n人工智能开头。{filler}。结尾的人工智能。\n", encoding="utf-8")
    update_index(sample_posts, tmp_path / "ix")
    with SearchIndex(tmp_path / "ix") as index:
        assert assert_same(index) > len(CASES)
        hits = run_query(index, make_request({"q": ['"人工智能"']}))
        assert "2026/long.md" in [h.id for h in hits.hits]


def test_date_order_matches_whoosh_sorting(sample_index: SearchIndex) -> None:
    searcher = sample_index.searcher()
    evaluator = BulkEvaluator(searcher, sample_index.arrays(searcher))
    query = build_queries(plan_query(parse_query("的", sample_index.analysis))).combined()
    matches = evaluator.evaluate(query)
    keys = sample_index.arrays(searcher).keys("date")
    for reverse in (True, False):
        expected = [hit.docnum for hit in searcher.search(query, limit=None, sortedby="date", reverse=reverse)]
        got = by_key(matches, keys, len(expected), reverse).tolist()
        dates = [keys[d] for d in got]
        assert dates == sorted(dates, reverse=reverse)
        assert sorted(got) == sorted(expected)
        assert [keys[d] for d in expected] == dates
        for limit in (1, 2, 5, 10, len(got) - 1):  # the first of them, not the first of a partial sort
            assert by_key(matches, keys, limit, reverse).tolist() == got[:limit]
        tied = keys % 3  # many equal keys: ties broken by document number, the same at every limit
        docs = np.flatnonzero(matches.mask).tolist()
        full = sorted(docs, key=lambda d: (-int(tied[d]) if reverse else int(tied[d]), d))
        for limit in (1, 2, 5, len(docs)):
            assert by_key(matches, tied, limit, reverse).tolist() == full[:limit]


def test_an_index_of_no_posts_answers_every_query_with_nothing(tmp_path: Path) -> None:
    (tmp_path / "posts").mkdir()
    update_index(tmp_path / "posts", tmp_path / "ix")
    with SearchIndex(tmp_path / "ix") as index:
        for q in ["数据", "的", '"数字经济"', "category:技术", "数据 -城市"]:
            result = run_query(index, make_request({"q": [q]}))
            assert (result.total, result.hits) == (0, ())
        assert run_query(index, make_request({"q": ["数据"], "sort": ["newest"]})).total == 0


def test_no_fallback_when_too_few_words_match(sample_index: SearchIndex) -> None:
    """Three quarters of four words that no post holds: nothing, and not marked partial."""
    result = run_query(sample_index, make_request({"q": ["龘 靐 齉 爩"]}))
    assert (result.total, result.partial) == (0, False)


def test_facet_counts_by_value_and_by_document(sample_posts: Path, tmp_path: Path) -> None:
    """Both ways of counting a facet (by value for large results, by document for small ones)
    give, for any set of documents, the counts of the values their stored fields hold, deleted
    posts included in neither."""
    index_dir = tmp_path / "ix"
    update_index(sample_posts, index_dir)
    sorted(sample_posts.rglob("*.md"))[2].unlink()
    update_index(sample_posts, index_dir)
    with SearchIndex(index_dir) as index:
        searcher = index.searcher()
        arrays = index.arrays(searcher)
        leaves = BulkEvaluator(searcher, arrays).leaves
        stored = {d: searcher.stored_fields(d) for d in range(arrays.size) if arrays.live[d]}
        rng = np.random.default_rng(3)
        for name in ("category", "tag", "author"):
            table = arrays.facet_table(leaves, name)
            for share in (0.0, 0.1, 0.5, 0.9, 1.0):
                mask = (rng.random(arrays.size) < share) | (share == 1.0)
                mask &= arrays.live
                expected = Counter(v for d in np.flatnonzero(mask) for v in stored[int(d)].get(name) or ())
                assert sum(expected.values()) > 0 or share == 0.0
                matched, unmatched = np.flatnonzero(mask), np.flatnonzero(arrays.live & ~mask)
                for counts in (table.count_by_value(mask), table.count_by_document(matched),
                               table.totals - table.count_by_document(unmatched),
                               table.count(mask, matched, unmatched)):
                    got = {v: int(c) for v, c in zip(table.values, counts) if c}
                    assert got == dict(expected), (name, share)


def test_a_phrase_within_a_few_documents_decodes_only_theirs(tmp_path: Path) -> None:
    """A substring phrase evaluated within a few documents (an And's later part, when they are
    under a quarter of its rarest term's): only those documents' positions are read, and inside
    them the matches and scores are Whoosh's. Some posts hold the phrase, others only its terms."""
    posts = tmp_path / "posts"
    posts.mkdir()
    for n in range(60):
        body = ("数字经济的发展。" if n % 3 else "数字的经济发展。") * (1 + n % 4)
        (posts / f"p{n}.md").write_text(f"---\ntitle: 第{n}篇\n---\n{body}第{n}段。\n", encoding="utf-8")
    update_index(posts, tmp_path / "ix")
    with SearchIndex(tmp_path / "ix") as index:
        searcher = index.searcher()
        size = searcher.reader().doc_count_all()
        phrase = build_queries(plan_query(parse_query('"数字经济"', index.analysis))).combined()
        expected = whoosh_matches(index, phrase)
        assert 30 < len(expected) < size
        rng = np.random.default_rng(11)
        for n in (1, 2, 5, 9):
            within = np.zeros(size, dtype=bool)
            within[rng.choice(size, n, replace=False)] = True
            got = BulkEvaluator(searcher, IndexArrays(searcher)).evaluate(phrase, within)
            inside = np.flatnonzero(got.mask & within).tolist()
            assert inside == sorted(d for d in expected if within[d]), n
            for d in inside:
                assert got.score[d] == pytest.approx(expected[d], rel=1e-9)


@pytest.mark.parametrize("span_bytes", [64 * 1024, 0])
def test_postings_read_for_a_few_documents_are_those_of_the_whole_list(
        sample_index: SearchIndex, span_bytes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """read_postings_in reads a list's documents and sizes, then only the values of the wanted
    documents (one span, or a read each when few and far apart): the same postings as the whole
    list's, for every substring term of the sample."""
    monkeypatch.setattr(lists, "_SPAN_BYTES", span_bytes)
    rng = np.random.default_rng(3)
    searcher = sample_index.searcher()
    compared = listed = 0
    for sub, _ in searcher.leaf_searchers():
        reader = sub.reader()
        size = reader.doc_count_all()
        for fieldname, btext in reader.all_terms():
            if fieldname != "body_sub":
                continue
            info = term_info(reader, fieldname, btext)
            listed += not info.is_inlined()  # a list of its own in the postings file, not in the term table
            docs, _, (blob, sizes) = lists.read_postings(reader, fieldname, btext, True, info)
            ends = np.cumsum(sizes)
            for n in (1, 3, size):
                wanted = np.sort(rng.choice(size, min(n, size), replace=False)).astype(np.int64)
                got_docs, got_blob, got_sizes = lists.read_postings_in(reader, fieldname, btext, info, wanted)
                keep = [i for i, d in enumerate(docs.tolist()) if d in set(wanted.tolist())]
                assert got_docs.tolist() == docs[keep].tolist()
                assert got_sizes.tolist() == sizes[keep].tolist()
                assert got_blob == b"".join(blob[ends[i] - sizes[i]:ends[i]] for i in keep)
                compared += len(keep)
    assert compared > 1000 and listed > 20
