"""Edge: the `searchsvc` command — serve."""

from __future__ import annotations

import gc
import os
import socket
from pathlib import Path
from typing import Any

import click

from searchsvc.analysis.normalize import load_tables
from searchsvc.analysis.pinyin import syllables
from searchsvc.backends.base import BackendUnavailable
from searchsvc.backends.config import BackendConfig, has_index
from searchsvc.backends.config import reindex as run_reindex
from searchsvc.cli.options import backend_options, echo_report, make_source, open_or_fail, source_options, watch_and_report
from searchsvc.search.model import SearchRequest
from searchsvc.serving import cpu_count, fork, limit_malloc_arenas, serve_forever, stop


@click.command()
@backend_options
@click.option("--host", envvar="SEARCHSVC_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="SEARCHSVC_PORT", default=5000, show_default=True, type=int)
@click.option("--threads", envvar="SEARCHSVC_THREADS", default=4, show_default=True, type=int,
              help="Threads per worker process.")
@click.option("--workers", envvar="SEARCHSVC_WORKERS", default=lambda: cpu_count(), show_default="one per CPU",
              type=click.IntRange(min=1), help="Worker processes sharing the port: one Python process uses one core.")
@click.option("--pin/--no-pin", envvar="SEARCHSVC_PIN", default=True, show_default=True,
              help="Keep each of 2 or more workers on a CPU of its own, when there is one for each.")
@click.option("--cache", envvar="SEARCHSVC_RESULT_CACHE", default=256, show_default=True, type=int,
              help="Recent results kept per index generation (0 turns the cache off).")
@click.option("--allow-origin", "origins", multiple=True, metavar="ORIGIN",
              help="A site whose pages may call the API (the widget): https://blog.example.com, or * for any. "
                   "Repeatable; env SEARCHSVC_CORS_ORIGINS (comma-separated).")
@click.option("--stats", "stats_path", envvar="SEARCHSVC_STATS", type=click.Path(dir_okay=False, path_type=Path),
              help="The query log (SQLite): what readers search and click, no IP or cookie  [default: INDEX/stats.sqlite]")
@click.option("--no-stats", is_flag=True, help="Log no searches.")
@click.option("--stats-days", envvar="SEARCHSVC_STATS_DAYS", default=90, show_default=True, type=click.IntRange(min=1),
              help="Days the query log keeps.")
@click.option("--popular-blocklist", envvar="SEARCHSVC_POPULAR_BLOCKLIST", type=click.Path(dir_okay=False, path_type=Path),
              help="Queries never shown as 热门搜索, one per line.")
@click.option("--watch", "watching", is_flag=True,
              help="Also follow --posts or --site and reindex what changes (as `searchsvc watch`).")
@source_options
def serve(backend: BackendConfig, host: str, port: int, threads: int, workers: int, pin: bool, cache: int,
          origins: tuple[str, ...], stats_path: Path | None, no_stats: bool, stats_days: int,
          popular_blocklist: Path | None, watching: bool,
          posts_dir: Path | None, site_dir: Path | None, permalink: str | None, userdict: str | None,
          exclude: tuple[str, ...], keep_out: tuple[str, ...]) -> None:
    """Serve the search page and the JSON API with waitress."""
    if not watching and (posts_dir or site_dir or permalink or userdict or exclude or keep_out):
        raise click.UsageError("--posts, --site, --permalink, --userdict, --exclude and --keep-out go with --watch.")
    source = make_source(posts_dir, site_dir, permalink, userdict, exclude, keep_out) if watching else None
    # Workers read queries character by character: pypinyin's phrase dictionary, and the copy it
    # makes of its dictionaries, would cost each 58 MB (a watcher loads the phrases it indexes with).
    os.environ.setdefault("PYPINYIN_NO_PHRASES", "1")
    os.environ.setdefault("PYPINYIN_NO_DICT_COPY", "1")
    limit_malloc_arenas()  # before the warm-up below, whose memory the workers inherit
    try:
        if source and not has_index(backend):  # build it now, so there is something to serve
            echo_report(run_reindex(backend, source.posts_dir, source.make_settings()), False)
        searcher = open_or_fail(backend)  # fail now with a clear message, not on the first request
        searcher.run(SearchRequest(q="预热 warm"))  # load jieba's dictionary once, before any fork
        load_tables()  # and the folding array, and pinyin's syllables
        syllables()
        searcher.close()
        del searcher  # its index arrays would live on in every worker
        gc.collect()
    except BackendUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    watcher = fork(lambda: watch_and_report(source, backend, verbose=False)) if source else None
    listener = socket.create_server((host, port), backlog=1024)
    config: dict[str, Any] = {"INDEX_DIR": str(backend.index_dir), "BACKEND": backend, "RESULT_CACHE": cache,
                              "STATS": False if no_stats else stats_path, "STATS_DAYS": stats_days,
                              "POPULAR_BLOCKLIST": popular_blocklist}
    if origins:
        config["CORS_ORIGINS"] = [o.rstrip("/") for o in origins]
    click.echo(f"searchsvc serving {backend.describe()} on http://{host}:{port}/ with {workers} worker(s) "
               f"(pid {os.getpid()})", err=True)
    try:
        serve_forever(listener, config, threads, workers, pin)
    finally:
        if watcher:
            stop(watcher)
    click.echo("searchsvc stopped", err=True)
