"""Edge: serving — waitress workers sharing one socket, and the child processes beside them."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import socket
from typing import Any, Callable

from searchsvc.engine.write.reindex import die_with_parent


def limit_malloc_arenas() -> None:
    """glibc gives each thread its own malloc arena, and raises its threshold for returning large
    blocks to the system after the first one is freed, so every server thread keeps the peak of
    its numpy arrays. Measured at 100k posts, 2 workers x 8 threads after the query mix: 211 MB
    a worker (PSS 150 MB) as glibc starts; 142 MB (PSS 83 MB) with two arenas and blocks of 1 MB
    or more always returned. A 256 KB threshold saved 5 MB more but made each query's
    100,000-document score arrays fresh mappings (HTTP p50 +3 ms), so it is 1 MB.

    Setting that threshold also fixes glibc's threshold for giving back the top of the heap at
    128 KB: every query's freed arrays went back to the system and the next query faulted them in
    again, 320-420 page faults and 1.6 ms of system time a query at 100k. Keeping 4 MB: 60 faults
    and 0.4 ms, for 4 MB more resident (8 MB kept: 32 faults, 9 MB more). A no-op where the C
    library has no mallopt."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(-8, 2)  # M_ARENA_MAX
    mallopt(-3, 1024 * 1024)  # M_MMAP_THRESHOLD, which also stops its adjustment
    mallopt(-1, 4 * 1024 * 1024)  # M_TRIM_THRESHOLD


def cpu_count() -> int:
    """The CPUs this process may run on (a container or taskset may allow fewer than the machine has)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def serve_forever(listener: socket.socket, config: dict[str, Any], threads: int, workers: int,
                  pin: bool = True) -> None:
    """Serve the app built from `config` in this process, or in `workers` forked processes, each
    kept on a CPU of its own when `pin` and there is one for each (see worker_cpus)."""
    if workers <= 1:
        _serve_worker(listener, config, threads)
        return
    cpus = worker_cpus(workers) if pin else [None] * workers
    # Each worker opens its own index (forked file positions would be shared between processes).
    children = [fork(functools.partial(_serve_worker, listener, config, threads, cpu)) for cpu in cpus]

    def forward(signum: int, frame: Any) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        os.waitpid(child, 0)


def fork(run: Callable[[], None]) -> int:
    """A child process running `run`, which dies with this one."""
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        die_with_parent()
        run()
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def stop(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def worker_cpus(workers: int) -> list[int | None]:
    """A CPU for each worker among those this process may run on, or None for each when there
    are fewer CPUs than workers (or the system cannot pin processes).

    A worker runs Python on one core at a time anyway (the GIL); kept on one, its index tables
    and arrays stay in that core's caches from one request to the next, whichever of its threads
    serves it. Measured at 100k posts, 2 workers x 8 threads, one connection, nine paired runs:
    HTTP p50 0.9 ms lower on average (-1.9 to +0.5 ms), 8 runs of 9 lower; at 10k with 8
    connections, 381 against 366 req/s, p95 34 against 44 ms."""
    if not hasattr(os, "sched_getaffinity"):
        return [None] * workers
    cpus = sorted(os.sched_getaffinity(0))
    return list(cpus[:workers]) if len(cpus) >= workers else [None] * workers


def _serve_worker(listener: socket.socket, config: dict[str, Any], threads: int, cpu: int | None = None) -> None:
    import waitress

    if cpu is not None:
        os.sched_setaffinity(0, {cpu})

    from searchsvc.web import close_index, create_app, open_app_searcher

    app = create_app(config)
    open_app_searcher(app)
    server = waitress.create_server(app, sockets=[listener], threads=threads, ident="searchsvc")

    def exit_now(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, exit_now)
    try:
        server.run()
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        server.close()
        close_index(app)  # and write what the query log still holds
