"""Ingest stage: reading a posts folder for a reindex — which files to read, the report of what
was added, skipped and kept back, and the lock that keeps reindexes one at a time. Shared by
every backend."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from searchsvc.ingest.posts import (
    ENCRYPTED_MARK,
    KeptBack,
    NotPublished,
    Post,
    PostError,
    content_hash,
    is_post_path,
    iter_post_files,
    load_post,
)
from searchsvc.ingest.settings import IndexSettings

Progress = Callable[[str], None]
LOCK = ".reindex.lock"
ENCRYPTED = "encrypted (password): only its title, categories, tags, date and abstract are searchable"


@dataclass
class ReindexReport:
    full: bool = False
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    kept_back: list[tuple[str, str]] = field(default_factory=list)  # path and reason, never text
    warnings: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    generation: str = ""

    @property
    def indexed(self) -> int:
        return self.added + self.updated

    def summary(self) -> str:
        rate = self.indexed / self.seconds if self.seconds > 0 else 0.0
        kind = "full rebuild" if self.full else "incremental"
        return (
            f"{kind}: {self.added} added, {self.updated} updated, {self.deleted} deleted, "
            f"{self.unchanged} unchanged, {len(self.skipped)} skipped, {len(self.kept_back)} kept back "
            f"in {self.seconds:.1f} s "
            f"({rate:.0f} docs/s)"
        )


class ReindexBusy(Exception):
    """Another reindex holds the lock on this index."""


@contextlib.contextmanager
def reindex_lock(index_dir: Path, wait_seconds: float = 3.0) -> Iterator[None]:
    """One reindex at a time per index; a second waits a few seconds (a killed run's writer
    processes need a moment to die), then stops with a clear message."""
    index_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    with open(index_dir / LOCK, "a+") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise ReindexBusy(f"another reindex is running on {index_dir}; try again when it has finished") from exc
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def paths_in_scope(
    posts_dir: Path, changed: Iterable[str] | None, within: str | None,
) -> tuple[Iterable[Path], Callable[[str], bool]]:
    """The post files an incremental run reads — all of them, or those at or under the changed
    paths (relative to the posts folder) — and a test for the indexed ids it covers: whatever of
    those is no longer on disk is deleted."""
    if changed is None:
        return iter_post_files(posts_dir, within), lambda post_id: True
    changed = set(changed)
    paths: list[Path] = []
    for rel in sorted(changed):
        path = posts_dir / rel
        if path.is_dir():
            paths.extend(p for p in iter_post_files(path) if is_post_path(p.relative_to(posts_dir).as_posix(), within))
        elif path.is_file() and is_post_path(rel, within):
            paths.append(path)

    def in_scope(post_id: str) -> bool:
        return post_id in changed or any(post_id.startswith(rel + "/") for rel in changed)

    return paths, in_scope


def read_posts(
    posts_dir: Path, paths: Iterable[Path], settings: IndexSettings, report: ReindexReport,
    progress: Progress | None, incremental: tuple[dict[str, str], set[str]] | None,
) -> Iterator[Post]:
    """Posts that need (re)indexing; unchanged files are only hashed, bad files are reported."""
    now = dt.datetime.now(dt.timezone.utc)
    for path in paths:
        post_id = path.relative_to(posts_dir).as_posix()
        if progress:
            progress(post_id)
        if incremental is not None:
            existing, seen = incremental
            if post_id in existing and not settings.keep_back.excluded(post_id):
                try:
                    unchanged = content_hash(path.read_bytes()) == existing[post_id].removeprefix(ENCRYPTED_MARK)
                except OSError:
                    unchanged = False
                if unchanged:
                    seen.add(post_id)
                    report.unchanged += 1
                    continue
        try:
            post = load_post(path, posts_dir, urls=settings.urls, keep=settings.keep_back, now=now)
        except KeptBack as exc:
            report.kept_back.append((post_id, exc.reason))  # and, when it was indexed, removed
            continue
        except NotPublished as exc:
            report.skipped.append((post_id, exc.reason))  # and, when it was indexed, removed
            continue
        except PostError as exc:
            reason = exc.reason
        except Exception as exc:  # one bad file must never stop the other posts from indexing
            reason = f"could not be read: {type(exc).__name__}: {exc}"
        else:
            if incremental is not None:
                incremental[1].add(post_id)
            report.warnings.extend((post.id, w) for w in post.warnings)
            if post.encrypted:
                report.kept_back.append((post_id, ENCRYPTED))
            yield post
            continue
        if incremental is not None and post_id in incremental[0]:
            # A post that was fine before and is damaged now keeps its indexed version.
            incremental[1].add(post_id)
            reason += "; kept the version indexed before"
        report.skipped.append((post_id, reason))


class FolderChanges:
    """An incremental run's view of the folder against what an index holds (`existing`: post id ->
    content hash), for every backend: posts() yields the posts to write, counting each as added or
    updated; after it, deleted() names the indexed posts to remove (gone from the folder, or kept
    back now), counted too. `changed` limits the run to those paths (files or folders)."""

    def __init__(self, posts_dir: Path, existing: dict[str, str], settings: IndexSettings, report: ReindexReport,
                 progress: Progress | None = None, changed: Iterable[str] | None = None) -> None:
        self.posts_dir, self.existing, self.settings, self.report, self.progress = posts_dir, existing, settings, report, progress
        self._paths, self._in_scope = paths_in_scope(posts_dir, changed, settings.urls.posts_folder_name)
        self._seen: set[str] = set()

    def posts(self) -> Iterator[Post]:
        for post in read_posts(self.posts_dir, self._paths, self.settings, self.report, self.progress,
                               (self.existing, self._seen)):
            if post.id in self.existing:
                self.report.updated += 1
            else:
                self.report.added += 1
            yield post

    def deleted(self) -> list[str]:
        gone = sorted(post_id for post_id in self.existing.keys() - self._seen if self._in_scope(post_id))
        self.report.deleted += len(gone)
        return gone

    @property
    def turned_private(self) -> bool:
        """Whether a post indexed with its body is kept back now (hidden, excluded, or encrypted):
        its old text must leave the index's files, not only its live view. One indexed encrypted
        already (its hash says so) had only its abstract there."""
        return any(not self.existing.get(post_id, ENCRYPTED_MARK).startswith(ENCRYPTED_MARK)
                   for post_id, _ in self.report.kept_back)


def retired(names: Iterable[str], new: str, previous: str | None) -> list[str]:
    """The generations (Whoosh folders, Typesense collections) a full build leaves to remove: all
    but the new one and the one it replaced, which searches may still be reading."""
    return sorted(set(names) - {new, previous})
