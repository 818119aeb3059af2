"""Over HTTP: `searchsvc serve` under wrk (Debian's package), a mix of query types, on loopback.

    python bench/bench_http.py --posts-count 10000 [--seconds 15] [--connections 8]

Prints latency p50/p90/p99 and queries/s for the search mix, the same for /healthz on the same
server (the ratio shows what a search costs over the HTTP floor), worker RSS and time to the first
answer. Every request goes to 127.0.0.1 only; each wrk run stops after --seconds.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from common import (
    CACHE,
    current_pss_mb,
    current_rss_mb,
    machine_ms,
    machine_report,
    ours_index,
    query_mix,
    save,
    scaled_corpus,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from server import Server  # noqa: E402

LUA = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  io.write(string.format("p95 latency: %%dus\\n", latency:percentile(95)))
end
"""


def wrk(url: str, paths: list[str], seconds: int, connections: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "paths.txt"
        listing.write_text("\n".join(paths) + "\n", encoding="utf-8")
        script = Path(tmp) / "mix.lua"
        script.write_text(LUA % listing, encoding="utf-8")
        run = subprocess.run(
            ["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", str(script), url],
            capture_output=True, text=True, check=True, timeout=seconds + 30,
        )
    if run.stderr.strip():  # a script error makes wrk fetch "/" instead, silently
        raise SystemExit(f"wrk: {run.stderr.strip()}")
    out = run.stdout
    figures: dict[str, float] = {}
    for label in ("50%", "90%", "99%"):
        found = re.search(rf"^\s*{re.escape(label)}\s+([\d.]+)(us|ms|s)", out, re.MULTILINE)
        if found:
            value, unit = float(found.group(1)), found.group(2)
            figures["p" + label[:-1]] = round(value / 1000 if unit == "us" else value * 1000 if unit == "s" else value, 2)
    p95 = re.search(r"^p95 latency: (\d+)us", out, re.MULTILINE)  # wrk's --latency table has no 95%
    if p95:
        figures["p95"] = round(int(p95.group(1)) / 1000, 2)
    figures["qps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["non_2xx"] = float(errors.group(1)) if errors else 0.0
    socket_errors = re.search(r"Socket errors: (.*)", out)
    figures["socket_errors"] = socket_errors.group(1) if socket_errors else "none"  # type: ignore[assignment]
    return figures


def _worker_memory(pid: int) -> tuple[float, float]:
    """The largest RSS and the largest PSS among the server process and its worker processes."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [pid] + [int(c) for c in children.read_text().split()] if children.exists() else [pid]
    return max(current_rss_mb(p) for p in pids), max(current_pss_mb(p) for p in pids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts-count", type=int, default=10000)
    parser.add_argument("--index", type=Path, help="a searchsvc index of those posts (default: build one in the cache)")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cache", type=int, default=0, help="server result cache size (default 0: every query runs)")
    args = parser.parse_args()
    machine_before = machine_ms()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")
    posts = scaled_corpus(args.posts_count)
    index_dir = args.index or ours_index(posts, CACHE / f"index-{args.posts_count}")
    paths = ["/api/search?" + urllib.parse.urlencode(params) for _, params in query_mix(posts)]

    with Server(index_dir, threads=args.threads, extra=("--cache", str(args.cache), "--workers", str(args.workers))) as server:
        first = server.first_answer
        for path in paths:  # warm every term once, as a running server would be
            server.get(path)
        search = wrk(server.url, paths, args.seconds, args.connections)
        health = wrk(server.url, ["/healthz"], max(5, args.seconds // 3), args.connections)
        rss, pss = _worker_memory(server.proc.pid)
    print(f"{args.posts_count} posts, {len(paths)}-query mix, {args.connections} connections, {args.threads} server threads, "
          f"{args.workers} worker(s), result cache {args.cache}, 2 cores shared with wrk")
    print(f"{'':<10} {'p50 ms':>8} {'p90 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>8} {'non-2xx':>8}")
    for name, f in (("search", search), ("healthz", health)):
        print(f"{name:<10} {f.get('p50', 0):>8.2f} {f.get('p90', 0):>8.2f} {f.get('p95', 0):>8.2f} {f.get('p99', 0):>8.2f} "
              f"{f['qps']:>8.1f} {f['non_2xx']:>8.0f}")
    ratio = search["qps"] / health["qps"] if health["qps"] else 0
    print(f"search QPS / healthz QPS = {ratio:.3f}; largest worker RSS {rss} MB (PSS {pss} MB); first answer {first:.2f} s after start")
    machine = machine_report(machine_before)
    print("saved", save(f"http-{args.posts_count}", {"posts": args.posts_count, "workers": args.workers, "threads": args.threads, "cache": args.cache, "search": search, "healthz": health,
                                                     "ratio": ratio, "rss_mb": rss, "pss_mb": pss, "first_answer_s": first, "machine_ms": machine}))


if __name__ == "__main__":
    main()
