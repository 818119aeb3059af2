"""What the query log costs: a request with the log on against the same request with it off.

    python bench/bench_stats.py [--posts-count 2000] [--rounds 5]

Two apps on one index, one logging (the default) and one with --no-stats, answer the same reader
queries in alternation through Flask's test client (the whole request: parameters, search, JSON),
so the machine's drift falls on both alike. The result cache is on: a cached answer is the cheapest
request, the one on which the log's cost shows most. Then the writer alone: how many searches a
second it writes, and the log's size per thousand searches.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from common import CACHE, machine_ms, machine_report, ours_index, percentiles, reader_mix, save, scaled_corpus

from searchsvc.stats.log import QueryLog, Search
from searchsvc.web import close_index, create_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts-count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    machine_before = machine_ms()
    posts = scaled_corpus(args.posts_count)
    index_dir = ours_index(posts, CACHE / f"index-{args.posts_count}")
    mix = [(kind, params) for kind, params in reader_mix(posts) if kind not in ("paste-2000", "passage")]
    work = Path(tempfile.mkdtemp(prefix="bench-stats-"))
    apps = {name: create_app({"INDEX_DIR": str(index_dir), "STATS": stats})
            for name, stats in (("log on", str(work / "stats.sqlite")), ("log off", False))}
    clients = {name: app.test_client() for name, app in apps.items()}
    urls = [f"/api/search?{urlencode({**params, 'sid': f's{n % 40}'}, doseq=True)}" for n, (_, params) in enumerate(mix)]
    for url in urls:  # warm both: index opened, every answer cached
        for client in clients.values():
            assert client.get(url).status_code == 200
    times: dict[str, list[float]] = {name: [] for name in clients}
    paired: list[float] = []
    for round_ in range(args.rounds):
        for url in urls:
            took = {}
            for name in (("log on", "log off") if round_ % 2 else ("log off", "log on")):
                started = time.perf_counter()
                clients[name].get(url)
                took[name] = (time.perf_counter() - started) * 1000
                times[name].append(took[name])
            paired.append(took["log on"] - took["log off"])
    apps["log on"].extensions["searchsvc.query_log"].flush()
    print(f"{len(urls)} reader queries x {args.rounds} rounds, cached answers, {args.posts_count} posts, in process")
    for name, samples in times.items():
        p = percentiles(samples)
        print(f"  {name:8} p50 {p['p50']:.3f}  p95 {p['p95']:.3f}  p99 {p['p99']:.3f} ms")
    print(f"  paired difference (on - off): median {statistics.median(paired):+.3f} ms, "
          f"mean {statistics.fmean(paired):+.3f} ms")
    for app in apps.values():
        close_index(app)

    count = 20_000
    log = QueryLog(work / "writer.sqlite")
    started = time.perf_counter()
    for n in range(count):
        log.record(Search(f"查询{n % 500}", n % 7, 1, "whoosh", f"s{n % 300}", time.time()))
    queued = time.perf_counter() - started
    log.close()
    written = time.perf_counter() - started
    size = sum(p.stat().st_size for p in work.glob("writer.sqlite*"))
    print(f"writer: {count} searches queued in {queued * 1000:.0f} ms ({queued / count * 1e6:.1f} us each), "
          f"written in {written:.2f} s ({count / written:.0f} a second), {size / count * 1000 / 1e6:.2f} MB per 1,000")
    machine = machine_report(machine_before)
    print("saved", save("stats", {"posts": args.posts_count, "on": percentiles(times["log on"]),
                                  "off": percentiles(times["log off"]), "paired_median_ms": statistics.median(paired),
                                  "paired_mean_ms": statistics.fmean(paired), "queue_us": queued / count * 1e6,
                                  "written_per_s": count / written, "machine_ms": machine}))


if __name__ == "__main__":
    main()
