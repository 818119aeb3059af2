"""`searchsvc serve` on the wire: fast start, reindex while serving, clean shutdown."""

from __future__ import annotations

import threading
import urllib.parse
from pathlib import Path

import pytest
from server import Server

from searchsvc.engine.write.reindex import update_index


def test_first_answer_fast_and_clean_sigterm(sample_index_dir: Path) -> None:
    server = Server(sample_index_dir)
    try:
        assert server.first_answer < 10  # generous for a loaded CI machine; bench/ prints the real figure
        assert server.json("/healthz") == {"status": "ok", "documents": 41}
        q = urllib.parse.quote("火锅")
        assert server.json(f"/api/search?q={q}")["total"] == 1
        status, body = server.get("/api/search?page=0&q=x")
        assert status == 400 and b'"bad_request"' in body
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_reindex_while_serving_fails_no_request(sample_posts: Path, tmp_path: Path, workers: int) -> None:
    index_dir = tmp_path / "ix"
    update_index(sample_posts, index_dir)
    failures: list[str] = []
    answered = [0]
    stop = threading.Event()
    q = urllib.parse.quote("雪豹")

    with Server(index_dir, extra=("--workers", str(workers))) as server:
        def hammer() -> None:
            while not stop.is_set():
                status, body = server.get(f"/api/search?q={q}")
                answered[0] += 1
                if status != 200:
                    failures.append(f"{status} {body[:120]!r}")

        hammers = [threading.Thread(target=hammer) for _ in range(3)]
        for w in hammers:
            w.start()
        try:
            assert server.json(f"/api/search?q={q}")["total"] == 0
            (sample_posts / "2026/snow-leopard.md").write_text(
                "---\ntitle: 雪豹\ndate: 2026-05-05\n---\n雪豹出现在山谷。\n", encoding="utf-8")
            update_index(sample_posts, index_dir)  # incremental: a new commit in the same generation
            _eventually(lambda: server.json(f"/api/search?q={q}")["total"] == 1)
            (sample_posts / "2026/snow-leopard-2.md").write_text(
                "---\ntitle: 又见雪豹\ndate: 2026-05-06\n---\n雪豹又出现了。\n", encoding="utf-8")
            update_index(sample_posts, index_dir, full=True)  # a new generation swapped in
            _eventually(lambda: server.json(f"/api/search?q={q}")["total"] == 2)
            update_index(sample_posts, index_dir, full=True)  # and another: the first is removed from disk
            _eventually(lambda: server.json("/healthz")["documents"] == 43)
        finally:
            stop.set()
            for w in hammers:
                w.join()
        assert server.stop() == 0
    assert failures == []
    assert answered[0] > 20


def _eventually(check: object, timeout: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize("pin", [True, False])
def test_workers_each_keep_a_cpu_of_their_own(sample_index_dir: Path, pin: bool) -> None:
    """With a CPU for each, every forked worker runs on its own (`--no-pin`: wherever the
    server may); with fewer CPUs than workers, none is pinned."""
    import os

    from searchsvc.serving import worker_cpus

    allowed = sorted(os.sched_getaffinity(0))
    expected = sorted([{c} if c is not None else set(allowed) for c in worker_cpus(2)] if pin else [set(allowed)] * 2,
                      key=sorted)
    with Server(sample_index_dir, extra=("--workers", "2") + (() if pin else ("--no-pin",))) as server:
        pid = server.proc.pid
        workers = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        assert len(workers) == 2
        got = sorted((os.sched_getaffinity(w) for w in workers), key=sorted)
        assert got == expected
        if pin and len(allowed) >= 2:
            assert got[0] != got[1] and all(len(s) == 1 for s in got)
        assert server.json("/healthz")["status"] == "ok"


def test_serve_starts_one_worker_per_cpu_by_default(sample_index_dir: Path) -> None:
    from searchsvc.serving import cpu_count

    with Server(sample_index_dir) as server:
        pid = server.proc.pid
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        assert len(children) == (cpu_count() if cpu_count() > 1 else 0)
        assert server.json("/api/search?" + urllib.parse.urlencode({"q": "西湖"}))["total"] >= 1
