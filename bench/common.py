"""Shared pieces of the benchmarks: corpora, indexes, the query mix, figures."""

from __future__ import annotations

import json
import random
import re
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from corpus import CACHE, scale, shared_corpus  # noqa: E402

RESULTS = HERE / "results"


def scaled_corpus(count: int) -> Path:
    target = CACHE / f"posts-{count}"
    if not target.is_dir():
        scale(shared_corpus(), target, count)
    return target


def ours_index(posts: Path, index_dir: Path) -> Path:
    """A searchsvc index of the posts, built when missing or made by another schema version."""
    from searchsvc.engine.generations import open_index
    from searchsvc.search.errors import IndexMissing
    from searchsvc.engine.write.reindex import update_index

    try:
        open_index(index_dir)[0].close()
    except IndexMissing:
        update_index(posts, index_dir, full=True)
    return index_dir


def query_mix(posts: Path, per_type: int = 20, seed: int = 3) -> list[tuple[str, dict[str, Any]]]:
    """(type, request parameters) pairs: 2-word, phrase, single character, filter, sort by date."""
    from searchsvc.analysis.segment import segment
    from searchsvc.ingest.posts import iter_post_files, load_post

    rng = random.Random(seed)
    paths = sorted(iter_post_files(posts))
    sample = [load_post(p, posts) for p in rng.sample(paths, min(200, len(paths)))]
    words = [w for p in sample for w, *_ in segment(p.body[:600], False) if re.fullmatch(r"[\u4e00-\u9fff]{2,4}", w)]
    runs = [r for p in sample for r in re.findall(r"[\u4e00-\u9fff]{6,}", p.body)]
    chars = [c for p in sample for c in re.findall(r"[\u4e00-\u9fff]", p.body[:300])]
    categories = sorted({c for p in sample for c in p.categories})
    mix: list[tuple[str, dict[str, Any]]] = []
    for _ in range(per_type):
        mix.append(("2-word", {"q": f"{rng.choice(words)} {rng.choice(words)}"}))
        run = rng.choice(runs)
        start = rng.randrange(len(run) - 3)
        mix.append(("phrase", {"q": f'"{run[start:start + 4]}"'}))
        mix.append(("1-char", {"q": rng.choice(chars)}))
        mix.append(("filter", {"q": rng.choice(words), "category": rng.choice(categories)}))
        mix.append(("sort-date", {"q": rng.choice(words), "sort": "newest"}))
    return mix


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)

    return {"p50": round(statistics.median(ordered), 2), "p95": pct(95), "p99": pct(99), "n": len(ordered)}


def rss_mb() -> float:
    """Peak resident set size of this process, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def current_rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def current_pss_mb(pid: int | str = "self") -> float:
    """Proportional set size: pages shared with other processes (forked workers share the jieba
    dictionary and the code loaded before the fork) counted by share."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def dir_size_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6, 1)


def machine_ms() -> float:
    """How long a fixed pure-Python loop (3 million additions) takes now, before and after a run:
    this machine's speed varies with its neighbours (the same additions at module level took
    274-558 ms within one hour), so timing figures are printed beside it."""
    started = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i
    return round((time.perf_counter() - started) * 1000, 1)


def machine_report(before: float) -> tuple[float, float]:
    """Prints the machine's speed before a run (machine_ms) and now; returns both."""
    machine = (before, machine_ms())
    print(f"machine speed (bench/common.machine_ms, lower is faster): {machine[0]} ms before, {machine[1]} ms after")
    return machine


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


_FULL_WIDTH = {c: chr(ord(c) + 0xFEE0) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}
_RUN = re.compile(r"[\u4e00-\u9fff]{12,}")
_MIXED = re.compile(r"(?<![0-9A-Za-z])[\u4e00-\u9fff0-9A-Za-z]{6,12}(?![0-9A-Za-z])")  # whole Latin and digit runs: the engine matches them whole
READER_CLASSES = ("title", "sentence", "passage", "paste-2000", "fragment", "fragment-trad", "fragment-fullwidth",
                  "rare-words", "quoted", "1-char", "filter", "newest")


def reader_mix(posts: Path, per_class: int = 20, seed: int = 5) -> list[tuple[str, dict[str, Any]]]:
    """(class, request parameters) pairs of what readers type, drawn from the posts themselves: a
    pasted title; a pasted sentence of 20-60 characters and a passage of 200-400; a paste near
    the 2,000-character cap; a 6-12 character fragment, also in traditional characters and with
    its digits and letters full-width; two or three of a post's rarest words; a quoted fragment;
    one character; a word within a category; a word, newest first. Every query draws its own post
    (not a fragment shared by four classes, whose leaves the first left in the cache)."""
    import opencc

    from searchsvc.analysis.segment import segment
    from searchsvc.ingest.posts import iter_post_files, load_post

    s2t = opencc.OpenCC("s2t")
    rng = random.Random(seed)
    paths = sorted(iter_post_files(posts))
    sample = [load_post(p, posts) for p in rng.sample(paths, min(300, len(paths)))]
    words_of = {p.id: {w for w, *_ in segment(p.body, False) if re.fullmatch(r"[\u4e00-\u9fff]{2,}", w)} for p in sample}
    df: dict[str, int] = {}
    for words in words_of.values():
        for w in words:
            df[w] = df.get(w, 0) + 1
    mixed = [m for p in sample for m in _MIXED.findall(p.body) if re.search(r"[0-9A-Za-z]", m) and re.search(r"[\u4e00-\u9fff]", m)]
    categories = sorted({c for p in sample for c in p.categories})

    def stretch(text: str, low: int, high: int) -> str:
        size = min(len(text), rng.randint(low, high))
        start = rng.randrange(len(text) - size + 1)
        return text[start:start + size].strip()

    long_posts = [p for p in sample if len(p.body) > 2200]

    def post() -> Any:
        return rng.choice(long_posts)

    def body() -> str:
        return " ".join(post().body.split())

    def fragment() -> str:
        p = post()
        return stretch(rng.choice(_RUN.findall(p.body) or [p.title]), 6, 12)

    def common(p: Any) -> str:
        return rng.choice(sorted(words_of[p.id], key=lambda w: -df[w])[:30])

    def rare(p: Any) -> str:
        return " ".join(sorted(words_of[p.id], key=lambda w: (df[w], w))[:rng.randint(2, 3)])

    mix: list[tuple[str, dict[str, Any]]] = []
    for _ in range(per_class):
        mix += [
            ("title", {"q": post().title}),
            ("sentence", {"q": stretch(body(), 20, 60)}),
            ("passage", {"q": stretch(body(), 200, 400)}),
            ("paste-2000", {"q": stretch(body(), 1900, 2000)}),
            ("fragment", {"q": fragment()}),
            ("fragment-trad", {"q": s2t.convert(fragment())}),
            ("fragment-fullwidth", {"q": "".join(_FULL_WIDTH.get(c, c) for c in rng.choice(mixed))} if mixed
             else {"q": fragment()}),
            ("rare-words", {"q": rare(post())}),
            ("quoted", {"q": f'"{fragment()}"'}),
            ("1-char", {"q": rng.choice(fragment())}),
            ("filter", {"q": common(post()), "category": rng.choice(categories)}),
            ("newest", {"q": common(post()), "sort": "newest"}),
        ]
    return mix
