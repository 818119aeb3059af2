"""How soon a saved post is searchable under `searchsvc watch`, on a folder of N posts.

    python bench/bench_watch.py --posts-count 10000 [--saves 20]

Copies the scaled corpus and its index to a scratch folder, starts `searchsvc watch` on it, then
saves posts one at a time the way editors do (a temporary file renamed over the post, new posts and
edits of existing ones) and times each until an in-process search finds its new text. Prints
p50/p95/max seconds; nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

from common import CACHE, ours_index, percentiles, save, scaled_corpus

from searchsvc.engine.read.searcher import SearchIndex
from searchsvc.engine.run import run_query
from searchsvc.search.model import make_request

WORDS = "甲乙丙丁戊己庚辛壬癸"


def marker(n: int) -> str:
    """A text no post holds: 观测 plus the digits of n spelled with the heavenly stems."""
    return "观测" + "".join(WORDS[int(d)] for d in f"{n:04d}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts-count", type=int, default=10000)
    parser.add_argument("--saves", type=int, default=20)
    args = parser.parse_args()
    posts = scaled_corpus(args.posts_count)
    index = ours_index(posts, CACHE / f"index-{args.posts_count}")
    work = CACHE / f"watch-{args.posts_count}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(posts, work / "posts")
    shutil.copytree(index, work / "index")
    proc = subprocess.Popen([sys.executable, "-m", "searchsvc.cli", "watch", "--posts", str(work / "posts"),
                             "--index", str(work / "index")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout
    for line in proc.stdout:
        if line.startswith("watching"):
            break
    existing = sorted((work / "posts").rglob("*.md"))
    latencies = []
    with SearchIndex(work / "index") as opened:
        for n in range(args.saves):
            target = existing[n * 7 % len(existing)] if n % 2 else work / "posts" / f"new-{n}.md"
            text = target.read_text(encoding="utf-8") if target.exists() else "---\ntitle: 新文章\n---\n"
            temp = target.with_name(f".{target.name}.tmp")
            temp.write_text(text + f"\n新增一句：{marker(n)}。\n", encoding="utf-8")
            started = time.monotonic()
            os.replace(temp, target)
            while not run_query(opened, make_request({"q": [marker(n)]})).total:
                time.sleep(0.01)
            latencies.append(time.monotonic() - started)
            time.sleep(0.3)
    proc.terminate()
    proc.wait()
    figures = percentiles([s * 1000 for s in latencies])
    print(f"{args.posts_count} posts, {args.saves} saves (half new posts, half edits): save -> searchable "
          f"p50 {figures['p50'] / 1000:.2f} s, p95 {figures['p95'] / 1000:.2f} s, max {max(latencies):.2f} s")
    print("saved", save(f"watch-{args.posts_count}", {"posts": args.posts_count, "latency_ms": figures,
                                                       "max_s": max(latencies)}))


if __name__ == "__main__":
    main()
