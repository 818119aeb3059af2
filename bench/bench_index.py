"""Indexing figures: full build, 1% incremental, index size — next to jieba's ChineseAnalyzer + Whoosh.

    python bench/bench_index.py                     # the shared corpus (5,911 real posts)
    python bench/bench_index.py --posts-count 10000 # a scaled corpus of 6 KB posts
    python bench/bench_index.py --posts DIR         # any folder

Prints docs/s, MB/s, index size against the UTF-8 size of the indexed text, the 1% incremental
reindex against the full build, the skipped files with their reasons, and the naive baseline
built from the same posts in the same run. Works on copies outside the repository.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import time
from collections import Counter
from pathlib import Path

from common import (
    CACHE,
    dir_size_mb,
    machine_ms,
    machine_report,
    rss_mb,
    save,
    scaled_corpus,
)
from corpus import shared_corpus
from naive import build_naive

from searchsvc.engine.write.reindex import update_index
from searchsvc.ingest.posts import PostError, iter_post_files, load_post


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=Path)
    parser.add_argument("--posts-count", type=int)
    parser.add_argument("--no-naive", action="store_true")
    args = parser.parse_args()
    machine_before = machine_ms()
    source = args.posts or (scaled_corpus(args.posts_count) if args.posts_count else shared_corpus())
    name = source.name
    work = CACHE / f"bench-index-{name}"
    shutil.rmtree(work, ignore_errors=True)
    posts_dir = work / "posts"
    shutil.copytree(source, posts_dir)
    os.sync()  # the copy's writeback must not land inside the timed build

    # Build before this process loads every post: the writer processes are forked from it, and
    # their resident memory would count the parent's pages they share.
    t = time.perf_counter()
    report = update_index(posts_dir, work / "ours", full=True)
    full_s = time.perf_counter() - t
    ours_mb = dir_size_mb(work / "ours")
    writer_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    posts, skipped = [], []
    for path in iter_post_files(posts_dir):
        try:
            posts.append(load_post(path, posts_dir))
        except PostError as exc:
            skipped.append((exc.path, exc.reason))
    text_mb = sum(len((p.title + p.body).encode("utf-8")) for p in posts) / 1e6
    source_mb = sum(p.stat().st_size for p in iter_post_files(posts_dir)) / 1e6

    rng = random.Random(5)
    changed = rng.sample(sorted(iter_post_files(posts_dir)), max(1, len(posts) // 100))
    for path in changed:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write("\n\n补记：本文于今日更新。\n")
    t = time.perf_counter()
    incremental = update_index(posts_dir, work / "ours")
    incr_s = time.perf_counter() - t

    naive_s = naive_mb = float("nan")
    if not args.no_naive:
        naive_s = build_naive(posts, work / "naive")
        naive_mb = dir_size_mb(work / "naive")

    n = len(posts)
    print(f"corpus {source}: {n} posts indexed, {len(report.skipped)} skipped; source {source_mb:.1f} MB, indexed text {text_mb:.1f} MB UTF-8")
    print(f"{'':<26} {'searchsvc':>12} {'naive':>12}")
    print(f"{'full build, s':<26} {full_s:>12.1f} {naive_s:>12.1f}")
    print(f"{'docs/s':<26} {n / full_s:>12.1f} {n / naive_s:>12.1f}")
    print(f"{'MB/s (indexed text)':<26} {text_mb / full_s:>12.2f} {text_mb / naive_s:>12.2f}")
    print(f"{'index size, MB':<26} {ours_mb:>12.1f} {naive_mb:>12.1f}")
    print(f"{'index / text':<26} {ours_mb / text_mb:>12.1f} {naive_mb / text_mb:>12.1f}")
    print(f"incremental after changing {len(changed)} posts (1%): {incr_s:.1f} s = {incr_s / full_s:.3f} of the full build "
          f"({incremental.updated} updated, {incremental.unchanged} unchanged)")
    print(f"peak RSS of this process: {rss_mb()} MB; of the largest writer process: {writer_mb:.0f} MB")
    reasons = Counter(reason for _, reason in report.skipped)
    for skipped_path, reason in report.skipped:
        print(f"  skipped {skipped_path}: {reason}")
    warnings = Counter(w.split(" (")[0].split(" '")[0] for _, w in report.warnings)
    for kind, count in warnings.most_common():
        print(f"  warning x{count}: {kind}")
    machine = machine_report(machine_before)
    print("saved", save(f"index-{name}", {
        "machine_ms": machine,
        "corpus": str(source), "posts": n, "skipped": report.skipped, "skip_reasons": dict(reasons),
        "warnings": dict(warnings), "text_mb": text_mb, "full_s": full_s, "docs_per_s": n / full_s,
        "index_mb": ours_mb, "incremental_s": incr_s, "incremental_changed": len(changed),
        "naive_s": naive_s, "naive_mb": naive_mb, "peak_rss_mb": rss_mb(), "writer_peak_rss_mb": writer_mb,
    }))


if __name__ == "__main__":
    main()
