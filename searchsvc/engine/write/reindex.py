"""Engine, writing: full and incremental reindex of a posts folder into Whoosh generations.

A full build writes a new generation beside the current one, in up to `procs` processes that each
write one Whoosh segment, and swaps it in atomically. An incremental run hashes every file and
touches only what was added, changed or deleted, in one writer and one commit.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import shutil
import signal
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable

from whoosh import index as whoosh_index
from whoosh.filedb.filestore import FileStorage
from whoosh.index import TOC, Index

from searchsvc.engine.generations import (
    SETTINGS,
    current_generation,
    generation_names,
    purge_deleted,
    read_settings,
    remove_generations,
    swap_current,
)
from searchsvc.engine.schema import build_schema, post_fields
from searchsvc.engine.write.segment import memory_writer
from searchsvc.ingest.lexicon import LEXICON, LexiconWriter, remove_lexicon
from searchsvc.ingest.posts import iter_post_files
from searchsvc.ingest.scan import (
    FolderChanges,
    Progress,
    ReindexReport,
    read_posts,
    reindex_lock,
    retired,
)
from searchsvc.ingest.settings import IndexSettings

# Below this many posts a second writer process costs more than it saves.
MIN_POSTS_PER_PROCESS = 200


def update_index(
    posts_dir: Path,
    index_dir: Path,
    *,
    full: bool = False,
    settings: IndexSettings | None = None,
    progress: Progress | None = None,
    limitmb: int = 128,
    procs: int | None = None,
    changed: Iterable[str] | None = None,
) -> ReindexReport:
    """Bring the index in line with the folder. Full rebuilds build a new generation and swap it in.
    `changed` (paths relative to the folder, files or folders) limits an incremental run to them."""
    posts_dir = Path(posts_dir)
    index_dir = Path(index_dir)
    if not posts_dir.is_dir():
        raise FileNotFoundError(f"posts folder {posts_dir} does not exist")
    settings = settings or IndexSettings.create()
    started = time.perf_counter()
    with reindex_lock(index_dir):
        gen = current_generation(index_dir)
        if gen is not None and not full:
            try:
                full = read_settings(gen) != settings
            except (OSError, ValueError, TypeError):
                full = True
        report = ReindexReport(full=full or gen is None)
        if report.full:
            procs = procs if procs is not None else min(2, os.cpu_count() or 1)
            _full_build(posts_dir, index_dir, settings, report, progress, limitmb, procs)
        else:
            assert gen is not None
            _incremental(posts_dir, gen, settings, report, progress, limitmb, changed)
    report.seconds = time.perf_counter() - started
    return report


def _writer(ix: Index, limitmb: int) -> Any:
    return memory_writer(ix, limitmb)


def _full_build(
    posts_dir: Path, index_dir: Path, settings: IndexSettings, report: ReindexReport,
    progress: Progress | None, limitmb: int, procs: int,
) -> None:
    previous = current_generation(index_dir)
    gen = index_dir / f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6:06d}"
    gen.mkdir(parents=True)
    try:
        paths = list(iter_post_files(posts_dir, settings.urls.posts_folder_name))
        procs = max(1, min(procs, len(paths) // MIN_POSTS_PER_PROCESS))
        if procs == 1:
            _build_part(posts_dir, paths, gen, settings, report, progress, limitmb)
        else:
            _build_in_processes(posts_dir, paths, gen, settings, report, progress, limitmb, procs)
        (gen / SETTINGS).write_text(json.dumps(asdict(settings)), encoding="utf-8")
    except BaseException:
        shutil.rmtree(gen, ignore_errors=True)
        raise
    swap_current(index_dir, gen)
    report.generation = gen.name
    remove_generations(index_dir, retired(generation_names(index_dir), gen.name, previous.name if previous else None))


def _build_part(
    posts_dir: Path, paths: Iterable[Path], target: Path, settings: IndexSettings, report: ReindexReport,
    progress: Progress | None, limitmb: int,
) -> None:
    """Index the given files into a new index at target, in this process."""
    ix = whoosh_index.create_in(str(target), build_schema(settings.analysis))
    writer = _writer(ix, limitmb)
    lexicon = LexiconWriter(target / LEXICON, settings.analysis)
    try:
        for post in read_posts(posts_dir, paths, settings, report, progress, None):
            writer.add_document(**post_fields(post))
            lexicon.add(post)
            report.added += 1
    except BaseException:
        writer.cancel()
        lexicon.close(commit=False)
        raise
    writer.commit()
    lexicon.close()


def _part_worker(posts_dir: Path, paths: list[Path], target: Path, settings: IndexSettings, limitmb: int,
                 messages: Any) -> None:
    """A writer process: its share of the posts into its own index; progress and report by queue."""
    die_with_parent()
    report = ReindexReport(full=True)
    try:
        _build_part(posts_dir, paths, target, settings, report, lambda _: messages.put(("progress", 1)), limitmb)
    except BaseException as exc:  # the parent re-raises; a worker must never die silently
        messages.put(("failed", f"{type(exc).__name__}: {exc}"))
        raise
    messages.put(("done", report.added, report.skipped, report.kept_back, report.warnings))


def die_with_parent() -> None:
    """A killed reindex must not leave writers behind: they hold the reindex lock (it is inherited)."""
    parent = os.getppid()
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the parent's finally block still terminates the workers
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _build_in_processes(
    posts_dir: Path, paths: list[Path], gen: Path, settings: IndexSettings, report: ReindexReport,
    progress: Progress | None, limitmb: int, procs: int,
) -> None:
    """Each process writes one segment of its share; the segments then join one generation."""
    context = multiprocessing.get_context("fork")
    messages = context.Queue()
    parts = [gen / f"part-{i}" for i in range(procs)]
    workers = []
    for i, part in enumerate(parts):
        part.mkdir()
        worker = context.Process(target=_part_worker, args=(posts_dir, paths[i::procs], part, settings, limitmb, messages))
        worker.start()
        workers.append(worker)
    try:
        _collect(workers, messages, report, progress, procs)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()
    lexicon = LexiconWriter(gen / LEXICON, settings.analysis)
    try:
        for part in parts:
            lexicon.merge(part / LEXICON)
            remove_lexicon(part / LEXICON)
    except BaseException:
        lexicon.close(commit=False)
        raise
    lexicon.close()
    _join_segments(gen, parts, settings)


def _collect(workers: list[Any], messages: Any, report: ReindexReport, progress: Progress | None, procs: int) -> None:
    done = 0
    while done < procs:
        try:
            message = messages.get(timeout=1.0)
        except queue.Empty:
            dead = [w for w in workers if w.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"a writer process died with exit code {dead[0].exitcode}") from None
            continue
        if message[0] == "progress":
            if progress:
                progress("")
        elif message[0] == "failed":
            raise RuntimeError(f"a writer process failed: {message[1]}")
        else:
            _, added, skipped, kept_back, warnings = message
            report.added += added
            report.skipped.extend(skipped)
            report.kept_back.extend(kept_back)
            report.warnings.extend(warnings)
            done += 1


def _join_segments(gen: Path, parts: list[Path], settings: IndexSettings) -> None:
    """Move each part's segment files into the generation and write one table of contents."""
    schema = build_schema(settings.analysis)
    segments = []
    for part in parts:
        part_ix = whoosh_index.open_dir(str(part), schema=schema)
        segments.extend(part_ix._read_toc().segments)
        for name in os.listdir(part):
            if not name.startswith("_MAIN_") and not name.endswith(".lock") and "WRITELOCK" not in name:
                os.replace(part / name, gen / name)
        shutil.rmtree(part)
    storage = FileStorage(str(gen))
    TOC(schema, segments, 1).write(storage, "MAIN")


def _existing_hashes(ix: Index) -> dict[str, str]:
    with ix.reader() as reader:
        if reader.doc_count_all() == 0:  # no segment yet: Whoosh's empty reader has no columns
            return {}
        ids = reader.column_reader("id")
        hashes = reader.column_reader("hash")
        return {ids[n]: hashes[n] for n in reader.all_doc_ids()}


def _incremental(
    posts_dir: Path, gen: Path, settings: IndexSettings, report: ReindexReport,
    progress: Progress | None, limitmb: int, changed: Iterable[str] | None = None,
) -> None:
    ix = whoosh_index.open_dir(str(gen), schema=build_schema(settings.analysis))
    changes = FolderChanges(posts_dir, _existing_hashes(ix), settings, report, progress, changed)
    writer = _writer(ix, limitmb)
    lexicon = LexiconWriter(gen / LEXICON, settings.analysis)
    try:
        for post in changes.posts():
            if post.id in changes.existing:
                writer.update_document(**post_fields(post))
                lexicon.remove([post.id])
            else:
                writer.add_document(**post_fields(post))
            lexicon.add(post)
        deleted = changes.deleted()
        for post_id in deleted:
            writer.delete_by_term("id", post_id)
        lexicon.remove(deleted)
    except BaseException:
        writer.cancel()
        lexicon.close(commit=False)
        raise
    if report.indexed or report.deleted:
        # The lexicon first: a search that sees the new posts finds their names (a name left over
        # from a crash between the two commits only finds nothing).
        lexicon.close()
        writer.commit(mergetype=purge_deleted if changes.turned_private else None)
    else:
        lexicon.close(commit=False)
        writer.cancel()
    report.generation = gen.name
