"""In-process query latency with snippets: searchsvc next to jieba's ChineseAnalyzer + Whoosh.

    python bench/bench_query.py --posts-count 10000 [--rounds 3]

Both indexes hold the same scaled posts (bench/corpus.py). searchsvc answers the full request
(ranking, total, facets, top 10 with snippets); the naive side parses with MultifieldParser and
highlights the top 10 with Whoosh's highlighter, as hobby projects do.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from common import (
    CACHE,
    current_rss_mb,
    machine_ms,
    machine_report,
    ours_index,
    percentiles,
    query_mix,
    save,
    scaled_corpus,
)
from naive import NaiveSearch, build_naive

from searchsvc.engine.read.searcher import SearchIndex
from searchsvc.engine.run import run_query
from searchsvc.ingest.posts import iter_post_files, load_post
from searchsvc.search.model import make_request

COLD_START = """
import sys, time
t = time.perf_counter()
from pathlib import Path
from searchsvc.engine.read.searcher import SearchIndex
from searchsvc.engine.run import run_query
from searchsvc.search.model import SearchRequest
index = SearchIndex(Path(sys.argv[1]))
run_query(index, SearchRequest(q="数据"))
print(time.perf_counter() - t)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts-count", type=int, default=10000)
    parser.add_argument("--index", type=Path, help="a searchsvc index of those posts (default: build one in the cache)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-naive", action="store_true")
    args = parser.parse_args()
    machine_before = machine_ms()

    posts = scaled_corpus(args.posts_count)
    index_dir = args.index or ours_index(posts, CACHE / f"index-{args.posts_count}")
    naive_dir = CACHE / f"naive-{args.posts_count}"
    if not args.no_naive and not (naive_dir / "_MAIN_1.toc").exists() and not list(naive_dir.glob("_MAIN_*.toc")):
        build_naive([load_post(p, posts) for p in iter_post_files(posts)], naive_dir)
    mix = query_mix(posts)

    cold = float(subprocess.run([sys.executable, "-c", COLD_START, str(index_dir)], capture_output=True, text=True,
                                check=True).stdout.strip())
    index = SearchIndex(index_dir)
    ours: dict[str, list[float]] = defaultdict(list)
    for _, params in mix:  # warm-up: first touch of every term's postings
        run_query(index, make_request({k: [v] for k, v in params.items()}))
    for _ in range(args.rounds):
        for kind, params in mix:
            t = time.perf_counter()
            run_query(index, make_request({k: [v] for k, v in params.items()}))
            ours[kind].append((time.perf_counter() - t) * 1000)
    rss = current_rss_mb()

    naive: dict[str, list[float]] = defaultdict(list)
    if not args.no_naive:
        search = NaiveSearch(naive_dir)
        for _, params in mix:
            search.search_with_snippets(params["q"])
        for _ in range(max(1, args.rounds // 3)):
            for kind, params in mix:
                t = time.perf_counter()
                search.search_with_snippets(params["q"])
                naive[kind].append((time.perf_counter() - t) * 1000)

    rows = {}
    print(f"{args.posts_count} posts, {len(mix)} queries x {args.rounds} rounds; searchsvc cold start to first answer {cold:.2f} s, RSS {rss} MB")
    print(f"{'type':<10} {'searchsvc p50':>13} {'p95':>7} {'p99':>7}   {'naive p50':>9} {'p95':>7}")
    for kind in list(dict.fromkeys(k for k, _ in mix)) + ["all"]:
        mine = [x for k, v in ours.items() for x in v] if kind == "all" else ours[kind]
        theirs = [x for k, v in naive.items() for x in v] if kind == "all" else naive[kind]
        a = percentiles(mine)
        b = percentiles(theirs) if theirs else {"p50": float("nan"), "p95": float("nan")}
        rows[kind] = {"searchsvc": a, "naive": b}
        print(f"{kind:<10} {a['p50']:>13.2f} {a['p95']:>7.2f} {a['p99']:>7.2f}   {b['p50']:>9.2f} {b['p95']:>7.2f}")
    total_ms = sum(x for v in ours.values() for x in v)
    qps = round(sum(len(v) for v in ours.values()) / (total_ms / 1000), 1)
    print(f"searchsvc single-thread throughput: {qps} queries/s")
    machine = machine_report(machine_before)
    print("saved", save(f"query-{args.posts_count}", {"posts": args.posts_count, "cold_start_s": cold, "rss_mb": rss,
                                                      "qps_single_thread": qps, "latency_ms": rows, "machine_ms": machine}))


if __name__ == "__main__":
    main()
