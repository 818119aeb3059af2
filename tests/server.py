"""A real `searchsvc serve` process on a free loopback port, for tests that need HTTP on the wire."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, index_dir: Path, threads: int = 4, extra: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stats: Path | None = None  # the query log, when a test chose where
        args = [sys.executable, "-m", "searchsvc.cli", "serve", "--index", str(index_dir),
                "--port", str(self.port), "--threads", str(threads), *extra]
        self.started = time.monotonic()
        # A file, not a pipe: nobody reads a pipe while the server runs, and once its buffer is
        # full the server's next log line (waitress warns of every deep task queue) blocks it.
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ))
        self.first_answer = self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"searchsvc serve exited with {self.proc.returncode}: {self.output()}")
            try:
                self.get("/healthz")
                return time.monotonic() - self.started
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("searchsvc serve did not answer in time")

    def get(self, path: str, timeout: float = 10) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def json(self, path: str) -> dict:  # type: ignore[type-arg]
        status, body = self.get(path)
        assert status == 200, (path, status, body[:200])
        return json.loads(body)  # type: ignore[no-any-return]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def output(self) -> str:
        """What the server printed so far (read without moving the offset it writes at)."""
        fd = self.log.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
