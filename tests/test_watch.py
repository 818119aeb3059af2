"""`searchsvc watch` and `serve --watch` as real processes on a real folder: saves made the ways
editors make them are searchable within 2 s; deletes, renames and bad saves are followed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import quote

import pytest
from generators import copy_site
from server import Server

from searchsvc.engine.read.searcher import SearchIndex
from searchsvc.engine.run import run_query
from searchsvc.search.model import make_request

SAVE_DEADLINE = 2.0  # issue 6: a saved post is searchable within 2 s
POST = "---\ntitle: {title}\ndate: 2026-11-20\n---\n{body}\n"


class Watcher:
    """A `searchsvc watch` process; its output is collected as it comes."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "searchsvc.cli", "watch", *args], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, env=dict(os.environ),
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait_for_output("watching ")

    def _read(self) -> None:
        assert self.proc.stdout
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_output(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.lines if text in line]
            if found:
                return found[-1]
            assert self.proc.poll() is None, "\n".join(self.lines)
            time.sleep(0.02)
        raise AssertionError(f"no {text!r} in the watcher's output:\n" + "\n".join(self.lines))

    def stop(self) -> int:
        self.proc.terminate()
        code = self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        if self.proc.stdout:
            self.proc.stdout.close()
        return code


@pytest.fixture
def watched(sample_posts: Path, tmp_path: Path) -> Iterator[tuple[Path, Path, Watcher]]:
    index = tmp_path / "index"
    watcher = Watcher("--posts", str(sample_posts), "--index", str(index))
    yield sample_posts, index, watcher
    assert watcher.stop() == 0, "\n".join(watcher.lines)


def search_ids(index: Path, q: str) -> set[str]:
    with SearchIndex(index) as opened:
        return {h.id for h in run_query(opened, make_request({"q": [q], "per_page": ["100"]})).hits}


def wait_until(check: Callable[[], object], timeout: float = 10, explain: list[str] | None = None) -> float:
    """Seconds until check() is true (polling every 20 ms); fails after `timeout`, showing `explain`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"still not true after {timeout} s\n" + "\n".join(explain or []))


def save_like_an_editor(path: Path, text: str) -> None:
    """Write a temporary file beside the post, then rename it over the post (atomic save)."""
    temp = path.parent / f".{path.name}.tmp{os.getpid()}"
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def test_a_saved_post_is_searchable_within_2_seconds(watched: tuple[Path, Path, Watcher]) -> None:
    posts, index, watcher = watched
    assert search_ids(index, "人工智能")  # the catch-up run built the index
    save_like_an_editor(posts / "2026" / "fresh.md", POST.format(title="新鲜出炉", body="刚保存的文章讲蝴蝶效应。"))
    took = wait_until(lambda: search_ids(index, "蝴蝶效应") == {"2026/fresh.md"})
    assert took < SAVE_DEADLINE, f"searchable after {took:.2f} s"
    watcher.wait_for_output("incremental: 1 added")


def test_editors_saves_deletes_and_renames(watched: tuple[Path, Path, Watcher]) -> None:
    posts, index, watcher = watched
    target = posts / "2026" / "edited.md"
    target.write_text(POST.format(title="初稿", body="第一版写的是潮汐发电。"), encoding="utf-8")
    wait_until(lambda: search_ids(index, "潮汐发电") == {"2026/edited.md"})

    # vim: rename the original to a backup, write the new text under the old name, drop the backup
    backup = target.with_name("edited.md~")
    os.rename(target, backup)
    target.write_text(POST.format(title="二稿", body="第二版改成了风力发电。"), encoding="utf-8")
    backup.unlink()
    wait_until(lambda: search_ids(index, "风力发电") == {"2026/edited.md"} and not search_ids(index, "潮汐发电"))

    # in place, in several writes, many times in a row: the last text wins
    for n in range(15):
        with target.open("w", encoding="utf-8") as f:
            f.write(POST.format(title=f"第{n}稿", body=""))
            f.flush()
            f.write(f"版本号{n:02d}的正文。\n")
    wait_until(lambda: search_ids(index, "版本号14") == {"2026/edited.md"} and not search_ids(index, "版本号13"))

    # a rename moves the post to its new id; a deleted folder takes its posts along
    os.rename(target, posts / "2026" / "renamed.md")
    wait_until(lambda: search_ids(index, "版本号14") == {"2026/renamed.md"})
    before = search_ids(index, "的")
    shutil.rmtree(posts / "2019")
    wait_until(lambda: search_ids(index, "的") and not any(i.startswith("2019/") for i in search_ids(index, "的")),
               explain=watcher.lines)
    assert any(i.startswith("2019/") for i in before)

    # a folder renamed into place brings its posts
    (posts / "incoming").mkdir()
    (posts / "incoming" / "a.md").write_text(POST.format(title="搬家", body="整个目录搬进来，关键词是鹦鹉螺。"), encoding="utf-8")
    os.rename(posts / "incoming", posts / "moved")
    wait_until(lambda: search_ids(index, "鹦鹉螺") == {"moved/a.md"})


def test_a_bad_save_keeps_the_indexed_version(watched: tuple[Path, Path, Watcher]) -> None:
    posts, index, watcher = watched
    target = posts / "2026" / "fragile.md"
    save_like_an_editor(target, POST.format(title="完好", body="完好的版本提到珊瑚礁。"))
    wait_until(lambda: search_ids(index, "珊瑚礁") == {"2026/fragile.md"})
    target.write_bytes(b"")  # an editor that truncates first and crashes
    watcher.wait_for_output("skipped 2026/fragile.md: empty file; kept the version indexed before")
    assert search_ids(index, "珊瑚礁") == {"2026/fragile.md"}
    save_like_an_editor(target, POST.format(title="修好", body="修好的版本提到海星。"))
    wait_until(lambda: search_ids(index, "海星") == {"2026/fragile.md"} and not search_ids(index, "珊瑚礁"))


def test_watch_a_site_follows_its_configuration(tmp_path: Path) -> None:
    site = copy_site("hugo", tmp_path)
    index = tmp_path / "index"
    watcher = Watcher("--site", str(site), "--index", str(index))
    try:
        with SearchIndex(index) as opened:
            urls = {h.url for h in run_query(opened, make_request({"q": ["页面包"]})).hits}
        assert urls == {"/site/posts/bundle-post/"}
        config = site / "hugo.toml"
        save_like_an_editor(config, config.read_text(encoding="utf-8").replace("/site/", "/docs/"))

        def moved() -> bool:
            with SearchIndex(index) as opened:
                return {h.url for h in run_query(opened, make_request({"q": ["页面包"]})).hits} == {"/docs/posts/bundle-post/"}

        wait_until(moved)
        watcher.wait_for_output("full rebuild")
    finally:
        assert watcher.stop() == 0


def test_serve_watch(sample_posts: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"  # none yet: serve --watch builds it before serving
    with Server(index, extra=("--watch", "--posts", str(sample_posts), "--workers", "1")) as server:  # the watcher: its one child
        assert server.json("/api/search?q=" + quote("人工智能"))["total"] == 2
        save_like_an_editor(sample_posts / "served.md", POST.format(title="在线", body="服务中保存的文章写到极光。"))
        took = wait_until(lambda: server.json("/api/search?q=" + quote("极光"))["total"] == 1)
        assert took < SAVE_DEADLINE, f"searchable over HTTP after {took:.2f} s"
        watcher_pids = subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True).stdout.split()
        assert len(watcher_pids) == 1
    assert not Path(f"/proc/{watcher_pids[0]}").exists() or "Z" in Path(f"/proc/{watcher_pids[0]}/stat").read_text().split()[2]


def test_a_post_saved_as_hidden_or_encrypted_leaves_the_index(watched: tuple[Path, Path, Watcher]) -> None:
    posts, index, watcher = watched
    target = posts / "2026" / "turning.md"
    save_like_an_editor(target, POST.format(title="转为私密", body="公开时写的是萤火虫。"))
    wait_until(lambda: search_ids(index, "萤火虫") == {"2026/turning.md"})
    save_like_an_editor(target, "---\ntitle: 转为私密\ndate: 2026-11-20\nhidden: true\n---\n公开时写的是萤火虫。\n")
    wait_until(lambda: not search_ids(index, "转为私密"), explain=watcher.lines)
    watcher.wait_for_output("kept back 2026/turning.md: hidden (hidden: true)")
    save_like_an_editor(target, "---\ntitle: 转为私密\ndate: 2026-11-20\npassword: pw\n---\n公开时写的是萤火虫。\n")
    wait_until(lambda: search_ids(index, "转为私密") == {"2026/turning.md"}, explain=watcher.lines)
    assert search_ids(index, "萤火虫") == set()
