"""Reindex: full and incremental, bad files, atomic swaps, crashes and concurrent runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ODD_POSTS, SKIPPED, write_posts

from searchsvc.cli import main
from searchsvc.engine.generations import CURRENT, current_generation, open_index
from searchsvc.engine.read.searcher import SearchIndex
from searchsvc.engine.run import run_query
from searchsvc.engine.write.reindex import update_index
from searchsvc.ingest.scan import ReindexBusy, reindex_lock
from searchsvc.search.model import make_request


def ids(index_dir: Path, q: str) -> list[str]:
    with SearchIndex(index_dir) as index:
        result = run_query(index, make_request({"q": [q], "per_page": ["100"]}))
    return sorted(h.id for h in result.hits)


def all_ids(index_dir: Path) -> set[str]:
    ix, _ = open_index(index_dir)
    with ix.reader() as r:
        return {fields["id"] for _, fields in r.iter_docs()}


def test_every_shape_is_indexed_and_bad_files_listed(odd_posts: Path, tmp_path: Path) -> None:
    report = update_index(odd_posts, tmp_path / "ix", full=True)
    assert report.added == len(ODD_POSTS) - len(SKIPPED)
    assert sorted(p for p, _ in report.skipped) == sorted(SKIPPED)
    assert dict(report.skipped)["empty.md"] == "empty file"
    warned = {p for p, _ in report.warnings}
    assert {"broken-yaml.md", "gbk.md", "bad-utf8.md", "no-date.md"} <= warned
    assert all_ids(tmp_path / "ix") == set(ODD_POSTS) - SKIPPED
    assert ids(tmp_path / "ix", "今日数据行业日报") == ["broken-yaml.md"]
    assert ids(tmp_path / "ix", "4600亿元") == ["hexo-repost.md"]


def test_markup_is_not_searchable(odd_posts: Path, tmp_path: Path) -> None:
    update_index(odd_posts, tmp_path / "ix", full=True)
    for markup in ("img", "src", "https", "png", "base64", "iVBORw0KGgo", "secret", "figure", "nbsp"):
        assert ids(tmp_path / "ix", markup) == [], markup


def test_the_fast_writer_writes_the_same_index_as_whooshs_own(
    sample_posts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Text fields as arrays grouped by term with numpy (spilled to runs and merged by key range),
    other fields by term in memory: the postings, stored fields and lengths files byte for byte
    what Whoosh's writer produces, and the same term table, record for record (its hash tables
    use CRC-32 instead of MD5, so that file's bytes differ: every key is looked up through them)."""
    from whoosh import index as whoosh_index
    from whoosh.filedb.filetables import HashReader

    import searchsvc.engine.write.pool
    from searchsvc.engine.codec.segment import InliningCodec
    from searchsvc.engine.schema import build_schema, post_fields
    from searchsvc.engine.write.segment import memory_writer
    from searchsvc.ingest.posts import iter_post_files, load_post

    posts = [post_fields(load_post(p, sample_posts)) for p in iter_post_files(sample_posts)]
    posts.append(dict(id="long.md", title="长文", body="长" + "，".join(f"第{n}段abcdefg" for n in range(13000)) + "长"))
    files = []
    # 0 MB: a run every 10,000 occurrences, 1,000 postings; "chunked": merged 300 postings at a time
    for name, limitmb in (("whoosh", None), ("roomy", 128), ("tight", 0), ("chunked", 0)):
        target = tmp_path / name
        target.mkdir()
        ix = whoosh_index.create_in(str(target), build_schema())
        writer = ix.writer(codec=InliningCodec(), compound=False) if limitmb is None else memory_writer(ix, limitmb)
        if name == "chunked":
            writer.pool.MAX_RUNS = 2
            monkeypatch.setattr(searchsvc.engine.write.pool, "CHUNK_POSTINGS", 300)
        for fields in posts:
            writer.add_document(**fields)
        writer.commit()
        assert not list(target.glob("*.run")) and not list(target.glob("*.bin"))
        found = {}
        for f in target.glob("MAIN_*"):
            if f.suffix == ".trm":
                table = HashReader.open(ix.storage, f.name)
                records = list(table.items())
                assert all(table[key] == value for key, value in records)
                table.close()
                found[".trm"] = records
            elif "WRITELOCK" not in f.name:
                found[f.name.split(".", 1)[1]] = f.read_bytes()
        files.append(found)
    assert len(files[0]) > 10 and len(files[0][".trm"]) > 3000
    for other in files[1:]:
        assert other.keys() == files[0].keys()
        for name in files[0]:
            if other[name] != files[0][name]:
                if name == ".trm":
                    bad = [(a, b) for a, b in zip(files[0][name], other[name]) if a != b]
                    assert not bad[:3], (len(files[0][name]), len(other[name]))
                assert other[name] == files[0][name], name


def test_many_small_commits_merge_segments(sample_posts: Path, tmp_path: Path) -> None:
    """Each incremental run adds a segment and Whoosh merges small ones as they pile up; rare
    terms inlined without values once made that merge fail (found by `watch`)."""
    index = tmp_path / "index"
    update_index(sample_posts, index)
    post = sample_posts / "2026" / "edited.md"
    for n in range(25):
        post.write_text(f"---\ntitle: 第{n}稿\n---\n版本号{n:02d}的正文。\n", encoding="utf-8")
        report = update_index(sample_posts, index, changed={"2026/edited.md"})
        assert (report.added, report.updated) == ((1, 0) if n == 0 else (0, 1))
    gen = current_generation(index)
    assert gen is not None
    assert len(list(gen.glob("*.trm"))) < 10  # one term file per segment: merged along the way
    post.rename(post.with_name("renamed.md"))
    report = update_index(sample_posts, index, changed={"2026/edited.md", "2026/renamed.md"})
    assert (report.added, report.deleted) == (1, 1)
    with SearchIndex(index) as opened:
        assert [h.id for h in run_query(opened, make_request({"q": ["版本号24"]})).hits] == ["2026/renamed.md"]
        assert run_query(opened, make_request({"q": ["版本号23"]})).total == 0
        assert run_query(opened, make_request({"q": ["人工智能"]})).total == 2


def test_incremental_add_change_delete_rename(sample_posts: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "ix"
    first = update_index(sample_posts, index_dir)
    assert first.full and first.added == 41
    gen = current_generation(index_dir)

    (sample_posts / "2019/sichuan-hotpot.md").unlink()
    edited = sample_posts / "2019/hangzhou-west-lake.md"
    edited.write_text(edited.read_text(encoding="utf-8").replace("片儿川", "葱包桧"), encoding="utf-8")
    (sample_posts / "2026/new-post.md").write_text("---\ntitle: 新文章\ndate: 2026-05-05\n---\n雪豹出现在山谷。\n", encoding="utf-8")
    (sample_posts / "2024/guilin-trip.md").rename(sample_posts / "2024/guilin.md")

    report = update_index(sample_posts, index_dir)
    assert (report.full, report.added, report.updated, report.deleted, report.unchanged) == (False, 2, 1, 2, 38)
    assert current_generation(index_dir) == gen  # incremental: same generation, new commit
    assert ids(index_dir, "火锅") == []
    assert ids(index_dir, "片儿川") == []
    assert ids(index_dir, "葱包桧") == ["2019/hangzhou-west-lake.md"]
    assert ids(index_dir, "雪豹") == ["2026/new-post.md"]
    assert ids(index_dir, "漓江") == ["2024/guilin.md"]

    again = update_index(sample_posts, index_dir)
    assert (again.added, again.updated, again.deleted, again.unchanged) == (0, 0, 0, 41)


def test_a_post_damaged_later_keeps_its_indexed_version(sample_posts: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "ix"
    update_index(sample_posts, index_dir)
    (sample_posts / "2021/marathon.md").write_bytes(b"")
    report = update_index(sample_posts, index_dir)
    assert report.skipped == [("2021/marathon.md", "empty file; kept the version indexed before")]
    assert report.deleted == 0
    assert ids(index_dir, "马拉松") == ["2021/marathon.md"]


def test_full_rebuild_swaps_generations_and_keeps_the_previous(sample_posts: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "ix"
    update_index(sample_posts, index_dir, full=True)
    first = current_generation(index_dir)
    update_index(sample_posts, index_dir, full=True)
    second = current_generation(index_dir)
    update_index(sample_posts, index_dir, full=True)
    third = current_generation(index_dir)
    assert first and second and third and len({first, second, third}) == 3
    assert sorted(p.name for p in index_dir.glob("gen-*")) == sorted([second.name, third.name])


def test_a_second_reindex_stops_with_a_clear_message(sample_posts: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "ix"
    with reindex_lock(index_dir):
        with pytest.raises(ReindexBusy, match="another reindex is running"):
            update_index(sample_posts, index_dir)
    assert update_index(sample_posts, index_dir).added == 41


def _many_posts(root: Path, n: int) -> Path:
    body = "数字经济与人工智能的发展改变了城市的面貌。" * 60
    return write_posts(root, {f"p{i:04d}.md": f"---\ntitle: 第{i}篇\ndate: 2020-01-01\n---\n{body}{i}\n".encode() for i in range(n)})


@pytest.mark.parametrize("full", [True, False])
def test_a_killed_reindex_leaves_the_previous_index_serving(sample_posts: Path, tmp_path: Path, full: bool) -> None:
    index_dir = tmp_path / "ix"
    update_index(sample_posts, index_dir, full=True)
    before = current_generation(index_dir)
    _many_posts(sample_posts / "bulk", 400)
    args = [sys.executable, "-m", "searchsvc.cli", "reindex", "--posts", str(sample_posts), "--index", str(index_dir)]
    proc = subprocess.Popen(args + (["--full"] if full else []), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    # Kill it once it is busy writing: a new generation directory, or the writer's lock file.
    while time.monotonic() < deadline and proc.poll() is None:
        busy = [p for p in index_dir.glob("gen-*") if p != before] if full else list(before.glob("*WRITELOCK*"))  # type: ignore[union-attr]
        if busy:
            time.sleep(0.3)
            break
        time.sleep(0.02)
    assert proc.poll() is None, "reindex finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    assert current_generation(index_dir) == before
    assert ids(index_dir, "马拉松") == ["2021/marathon.md"]
    assert len(all_ids(index_dir)) == 41
    report = update_index(sample_posts, index_dir)
    assert report.added == 400
    assert ids(index_dir, "第7篇") == ["bulk/p0007.md"]


def test_cli_reindex_lists_skipped_files_and_summarizes(odd_posts: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["reindex", "--posts", str(odd_posts), "--index", str(tmp_path / "ix")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "skipped empty.md: empty file" in lines
    assert any(line.startswith("warning broken-yaml.md: front matter does not parse") for line in lines)
    assert lines[-1].startswith(f"full rebuild: {len(ODD_POSTS) - len(SKIPPED)} added, 0 updated, 0 deleted, 0 unchanged, {len(SKIPPED)} skipped, 0 kept back in ")


def test_an_index_from_another_schema_asks_for_a_rebuild(sample_posts: Path, tmp_path: Path) -> None:
    import json

    from searchsvc.engine.generations import SETTINGS, IndexMissing

    index_dir = tmp_path / "ix"
    update_index(sample_posts, index_dir)
    gen = current_generation(index_dir)
    assert gen is not None
    settings = json.loads((gen / SETTINGS).read_text())
    (gen / SETTINGS).write_text(json.dumps(dict(settings, schema_version=0)))
    with pytest.raises(IndexMissing, match="built by another version of searchsvc"):
        open_index(index_dir)
    result = CliRunner().invoke(main, ["search", "火锅", "--index", str(index_dir)])
    assert "built by another version of searchsvc. Run `searchsvc reindex --posts DIR` first." in result.output
    report = update_index(sample_posts, index_dir)  # not incremental: the schema changed
    assert report.full and report.added == 41
    assert ids(index_dir, "火锅") == ["2019/sichuan-hotpot.md"]


def test_cli_errors_say_what_to_do(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["reindex", "--posts", str(tmp_path / "nope"), "--index", str(tmp_path / "ix")])
    assert missing.exit_code == 1
    assert f"No posts folder at {tmp_path / 'nope'}" in missing.output
    no_index = runner.invoke(main, ["search", "数据", "--index", str(tmp_path / "ix")])
    assert no_index.exit_code == 1
    assert "Run `searchsvc reindex --posts DIR` first." in no_index.output
    assert not (tmp_path / "ix" / CURRENT).exists()


def test_term_counts_without_tokens_match_the_token_path(sample_posts: Path) -> None:
    """The index formats count terms from plain tuples; Whoosh's formats go Token by Token."""
    from collections import Counter, defaultdict

    from whoosh.formats import Positions

    from searchsvc.engine.schema import build_schema
    from searchsvc.ingest.posts import iter_post_files, load_post

    schema = build_schema()
    texts = [t for p in iter_post_files(sample_posts) for t in (load_post(p, sample_posts).title, load_post(p, sample_posts).body)]
    for name in ("title_sub", "body_sub"):
        field = schema[name]
        for text in texts:
            fast = list(field.format.word_values(text, field.analyzer, mode="index"))
            assert fast == list(Positions.word_values(field.format, text, field.analyzer, mode="index"))
    for name in ("body", "body_chr"):
        field = schema[name]
        for text in texts:
            counts: Counter[str] = Counter()
            weights: defaultdict[str, float] = defaultdict(float)
            for token in field.analyzer(text, mode="index", boosts=True):
                counts[token.text] += 1
                weights[token.text] += token.boost
            slow = [(w, n, weights[w] * field.format.field_boost, b"") for w, n in counts.items()]
            assert list(field.format.word_values(text, field.analyzer, mode="index")) == slow


def test_array_lists_read_back_what_whooshs_own_codec_does(sample_posts: Path, tmp_path: Path) -> None:
    """The same posts written by Whoosh's W3 codec and by ours: every term's postings (documents,
    weights, values) read back equal, through read_postings and through Whoosh's matcher
    interface (skip_to included)."""
    import random

    from whoosh import index as whoosh_index
    from whoosh.codec.whoosh3 import W3Codec

    from searchsvc.engine.codec.lists import ArrayMatcher, read_postings
    from searchsvc.engine.codec.segment import InliningCodec
    from searchsvc.engine.schema import build_schema, post_fields
    from searchsvc.ingest.posts import iter_post_files, load_post

    posts = [post_fields(load_post(p, sample_posts)) for p in iter_post_files(sample_posts)]
    posts.append(dict(id="long.md", title="长文", body="长" + "，".join(f"第{n}段abcdefg" for n in range(13000)) + "长"))
    readers = {}
    for name, codec in (("w3", W3Codec()), ("ours", InliningCodec())):
        (tmp_path / name).mkdir()
        ix = whoosh_index.create_in(str(tmp_path / name), build_schema())
        writer = ix.writer(codec=codec, compound=False)
        for fields in posts:
            writer.add_document(**fields)
        writer.commit()
        readers[name] = ix.reader()
    w3, ours = readers["w3"], readers["ours"]
    terms = list(w3.all_terms())
    assert terms == list(ours.all_terms())
    rng = random.Random(5)
    arrays = with_values = 0
    for fieldname, btext in terms:
        fmt = w3.schema[fieldname].format
        m = w3.postings(fieldname, btext)
        expected: list[tuple[int, float, bytes]] = []
        while m.is_active():
            expected.append((m.id(), m.weight(), m.value() if fmt.fixed_value_size() != 0 else b""))
            m.next()
        ids, weights, (blob, sizes) = read_postings(ours, fieldname, btext, with_values=True)
        ends = np.cumsum(sizes).tolist()
        values = [blob[a:b] for a, b in zip([0, *ends[:-1]], ends)] if len(sizes) else [b""] * len(ids)
        assert list(zip(ids.tolist(), weights.tolist(), values)) == expected, (fieldname, btext)
        mine = ours.postings(fieldname, btext)
        if isinstance(mine, ArrayMatcher):
            assert list(mine.all_ids()) == [d for d, _, _ in expected]
            assert [(d, v) for d, v in mine.all_items()] == [(d, v) for d, _, v in expected]
            arrays += 1
            with_values += fmt.fixed_value_size() != 0
            target = rng.randrange(expected[-1][0] + 2)
            theirs, skipped = w3.postings(fieldname, btext), mine.copy()
            theirs.skip_to(target)
            skipped.skip_to(target)
            assert skipped.is_active() == theirs.is_active()
            if theirs.is_active():
                assert skipped.id() == theirs.id()
                assert skipped.value() == (theirs.value() if fmt.fixed_value_size() != 0 else b"")
        found = []
        while mine.is_active():
            found.append((mine.id(), mine.weight(), mine.value() if fmt.fixed_value_size() != 0 else b""))
            mine.next()
        assert found == expected, (fieldname, btext)
    w3.close()
    ours.close()
    assert arrays > 100 and with_values > 20, (arrays, with_values)


@pytest.mark.parametrize("count", [300, 6_000])
@pytest.mark.parametrize("top", [1, 200, 70_000, 5_000_000_000])
def test_array_list_widths_and_fractional_weights(top: int, count: int) -> None:
    """Gaps, weights and value sizes of every width round-trip through the array layout; a
    common term's documents and weights (8 KB or more) are stored without zlib."""
    from searchsvc.engine.codec.lists import _LIST_HEAD, decode_list, encode_list

    rng = np.random.default_rng(top)
    gaps = rng.integers(0, top + 1, size=count)
    gaps[0], gaps[-1] = 0, top
    for weights in (rng.integers(0, 3, size=count).astype(np.float32), rng.random(count).astype(np.float32) * 7,
                    np.full(count, 300.0, dtype=np.float32)):
        zipped = _LIST_HEAD.unpack_from(encode_list(gaps, weights, None, b"", 3))[5]
        assert zipped == (count < 4_000), (count, top)  # 2 to 12 bytes a posting
        largest = min(top, 70_000 if count < 1_000 else 300)  # value size widths on the short list
        sizes = rng.integers(0, largest + 1, size=count)
        sizes[-1] = largest
        blob = rng.integers(0, 256, size=int(sizes.sum()), dtype=np.uint8).tobytes()
        for with_values in (True, False):
            ids, back, found, data = decode_list(encode_list(gaps, weights, sizes if with_values else None,
                                                             blob if with_values else b"", 3))
            assert ids.tolist() == np.cumsum(gaps).tolist()
            assert back.tolist() == weights.astype(np.float64).tolist()
            assert (found.tolist() if found is not None else None) == (sizes.tolist() if with_values else None)
            assert data == (blob if with_values else b"")
            ids_only, weights_only, no_sizes, no_data = decode_list(
                encode_list(gaps, weights, sizes if with_values else None, blob if with_values else b"", 3), False)
            assert ids_only.tolist() == ids.tolist() and weights_only.tolist() == back.tolist()
            assert no_sizes is None and no_data == b""


def test_stored_fields_are_pickled(sample_posts: Path, tmp_path: Path) -> None:
    """Stored fields are written pickled, without Whoosh's zlib, and read back as written."""
    import pickle

    from searchsvc.engine.codec.perdoc import load_stored
    from searchsvc.engine.read.searcher import SearchIndex

    update_index(sample_posts, tmp_path / "ix")
    with SearchIndex(tmp_path / "ix") as index:
        searcher = index.searcher()
        sub = searcher.reader()
        column = sub._perdoc.stored_reader()
        for docnum in range(sub.doc_count_all()):
            raw = column[docnum]
            assert raw[:1] == b"\x80"  # a pickle, not a zlib stream
            stored = searcher.stored_fields(docnum)
            assert stored["id"] and stored["title"] and stored == pickle.loads(raw)
            assert load_stored(raw) == stored
    assert load_stored(b"") == {}


def test_a_full_build_retires_all_but_the_new_generation_and_the_one_it_replaced() -> None:
    from searchsvc.ingest.scan import retired

    # A killed build can leave a newer folder than the one serving: it goes, the replaced one stays.
    names = ["gen-1", "gen-2", "gen-3-killed", "gen-4"]
    assert retired(names, "gen-4", "gen-2") == ["gen-1", "gen-3-killed"]
    assert retired(["posts_1"], "posts_1", None) == []


def test_a_reader_of_a_segment_merged_away_raises_instead_of_reading_nothing(sample_posts: Path, tmp_path: Path) -> None:
    """An incremental reindex deletes the files of the segments it merged away. A segment reader
    opened just before (its term and posting files open, its columns not yet) once read no stored
    fields from there, and a search failed on the hit's missing id (CI, `watch`): it must raise
    FileNotFoundError, on which SearchIndex opens the newer commit."""
    index = tmp_path / "index"
    update_index(sample_posts, index)
    post = sample_posts / "2026" / "merged.md"
    post.write_text("---\ntitle: 合并前\n---\n合并之前的正文。\n", encoding="utf-8")
    update_index(sample_posts, index, changed={"2026/merged.md"})
    ix, _ = open_index(index)
    early = ix.reader()  # as SearchIndex opens one: segment readers, columns opened on first use
    try:
        segments = [sub._segment for sub, _ in _leaves(early)]
        for n in range(25):  # commits until every segment the early reader holds is merged away
            post.write_text(f"---\ntitle: 第{n}稿\n---\n版本号{n:02d}的正文。\n", encoding="utf-8")
            update_index(sample_posts, index, changed={"2026/merged.md"})
            if not any((current_generation(index) / s.make_filename(".trm")).exists() for s in segments):
                break
        else:
            pytest.fail("the segments were never merged away")
        for sub, _ in _leaves(early):
            with pytest.raises(FileNotFoundError):
                sub.stored_fields(0)
    finally:
        early.close()
    with SearchIndex(index) as opened:  # the newest commit reads whole
        hits = run_query(opened, make_request({"q": ["版本号"], "per_page": ["100"]})).hits
        assert [h.id for h in hits] == ["2026/merged.md"]


def _leaves(reader: object) -> list[tuple[object, int]]:
    subs = getattr(reader, "readers", None)
    return list(zip(subs, reader.doc_offsets)) if subs else [(reader, 0)]  # type: ignore[attr-defined]


def test_term_infos_are_kept_per_segment_and_bounded(sample_posts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from searchsvc.engine.codec import terms as terms_module
    from searchsvc.engine.codec.terms import term_info

    update_index(sample_posts, tmp_path / "ix")
    monkeypatch.setattr(terms_module, "MAX_CACHED_INFOS", 50)
    with SearchIndex(tmp_path / "ix") as index:
        reader = index.searcher().reader()
        words = [t for t in reader.lexicon("body_sub")][:120]
        for _ in range(2):  # looked up, then (the first 50 at a time) from what is kept
            for btext in words:
                info = term_info(reader, "body_sub", btext)
                assert (info.doc_frequency(), info.extent() if not info.is_inlined() else None) == \
                       (reader.doc_frequency("body_sub", btext),
                        reader.term_info("body_sub", btext).extent() if not info.is_inlined() else None)
            assert term_info(reader, "body_sub", "不存在的词".encode()) is None
            assert len(reader._terms.__dict__["_searchsvc_infos"]) <= 50
