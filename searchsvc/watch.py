"""Edge: watch — follow a posts folder and reindex what changes, as it changes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import watchfiles

from searchsvc.backends.config import BackendConfig, reindex
from searchsvc.ingest.posts import is_post_path
from searchsvc.ingest.scan import ReindexBusy, ReindexReport
from searchsvc.ingest.settings import IndexSettings

STEP_MS = 50  # a save is indexed once the folder has been quiet this long...
DEBOUNCE_MS = 1000  # ...or after this long at the most while files keep changing
RETRY_SECONDS = 1.0  # while another reindex holds the lock
RETRY_AFTER_FAILURE = 30.0  # after a failed run, unless something changes first


@dataclass(frozen=True)
class WatchedSource:
    """What to follow: the posts folder, and the site configuration files whose change means
    re-reading the settings (a full rebuild when they change how posts are indexed)."""

    posts_dir: Path
    make_settings: Callable[[], IndexSettings]
    config_files: tuple[Path, ...] = ()

    @property
    def roots(self) -> list[Path]:
        """Folders to watch, none inside another (a site's root holds its posts folder)."""
        folders = sorted({self.posts_dir.resolve(), *(f.resolve().parent for f in self.config_files)})
        return [f for f in folders if not any(f != g and f.is_relative_to(g) for g in folders)]


def watch_index(
    source: WatchedSource, backend: BackendConfig, *, on_report: Callable[[ReindexReport | Exception], None],
    stop_event: Any = None, catch_up: bool = True, on_ready: Callable[[], None] | None = None,
) -> None:
    """Reindex changed posts within about a tenth of a second of a save, one reindex at a time.

    A batch of changes becomes one incremental run over just those paths; a changed site
    configuration re-reads the settings; after a failure the next run rescans the whole folder,
    so nothing is missed. Runs until `stop_event` is set (or the process is interrupted).
    """
    posts = source.posts_dir.resolve()
    configs = {f.resolve() for f in source.config_files}
    settings = source.make_settings()
    pending: set[str] = set()
    reread = False
    rescan = catch_up  # done once the watch is in place, so no save falls between the two
    changes_seen = watchfiles.watch(
        *source.roots, watch_filter=_Filter(posts, configs, settings.urls.posts_folder_name), debounce=DEBOUNCE_MS,
        step=STEP_MS, stop_event=stop_event, rust_timeout=int(RETRY_SECONDS * 1000), yield_on_timeout=True,
        raise_interrupt=False,
    )
    retry_at = 0.0 if rescan else float("inf")
    for changes in changes_seen:
        paths = [Path(p) for _, p in changes]
        reread = reread or any(p in configs for p in paths)
        pending.update(p.relative_to(posts).as_posix() for p in paths if p.is_relative_to(posts) and p != posts)
        if (changes or time.monotonic() >= retry_at) and (pending or reread or rescan):
            whole = rescan or reread
            settings, outcome = _run(source, backend, settings, None if whole else pending, on_report, reread)
            if outcome == "done":
                pending.clear()
                rescan = reread = False
                retry_at = float("inf")
            else:  # busy: try again in a second; failed: rescan the folder on the next change or in a while
                rescan = rescan or outcome == "failed"
                retry_at = time.monotonic() + (RETRY_SECONDS if outcome == "busy" else RETRY_AFTER_FAILURE)
        if on_ready:  # the first round comes within a second of the watch starting
            on_ready()
            on_ready = None


def _run(
    source: WatchedSource, backend: BackendConfig, settings: IndexSettings, changed: Iterable[str] | None,
    on_report: Callable[[ReindexReport | Exception], None], reread: bool,
) -> tuple[IndexSettings, str]:
    """One reindex; returns the settings in force and "done", "busy" or "failed"."""
    try:
        if reread:
            settings = source.make_settings()
        on_report(reindex(backend, source.posts_dir, settings, changed=changed))
        return settings, "done"
    except ReindexBusy:
        return settings, "busy"
    except Exception as exc:  # a watcher must outlive one failed run; the next run rescans
        on_report(exc)
        return settings, "failed"


class _Filter:
    """Changes that can matter: post files, folders that may hold posts (or did, if deleted),
    and the site's configuration files. Editors' swap, backup and temporary files do not."""

    def __init__(self, posts: Path, configs: set[Path], within: str | None) -> None:
        self.posts = posts
        self.configs = configs
        self.within = within

    def __call__(self, change: watchfiles.Change, raw: str) -> bool:
        path = Path(raw)
        if path in self.configs:
            return True
        if not path.is_relative_to(self.posts) or path == self.posts:
            return False
        rel = path.relative_to(self.posts).as_posix()
        if is_post_path(rel, self.within):
            return True
        maybe_folder = path.is_dir() or change == watchfiles.Change.deleted  # a deleted one may have been
        return maybe_folder and is_post_path(rel + "/x.md", None)
