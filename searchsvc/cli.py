"""Edge: the `searchsvc` command — reindex, serve, search."""

from __future__ import annotations

import dataclasses
import functools
import gc
import json
import os
import signal
import socket
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import click

from searchsvc.analysis.normalize import load_tables
from searchsvc.analysis.pinyin import syllables
from searchsvc.backends.base import BackendUnavailable, Searcher
from searchsvc.backends.config import BACKENDS, BackendConfig, backend_config, has_index, open_searcher
from searchsvc.backends.config import reindex as run_reindex
from searchsvc.ingest.keepback import KeepBack, parse_keep_out
from searchsvc.ingest.posts import PostError, iter_post_files
from searchsvc.ingest.scan import ReindexBusy, ReindexReport
from searchsvc.ingest.settings import IndexSettings
from searchsvc.ingest.sites.detect import Site, SiteError, detect_site
from searchsvc.ingest.sites.permalinks import DEFAULT_PERMALINK, UrlRules
from searchsvc.search.errors import IndexMissing
from searchsvc.search.model import SearchRequest, make_request
from searchsvc.search.parse import QueryError
from searchsvc.serving import cpu_count, fork, limit_malloc_arenas, serve_forever, stop
from searchsvc.watch import WatchedSource, watch_index

DEFAULT_INDEX = "index"
SHOWN_PER_WARNING = 3


def _backend_options(f: Any) -> Any:
    """--index, or --backend typesense and its cluster: passed on as one BackendConfig, `backend`."""
    @functools.wraps(f)
    def command(index_dir: Path, backend_kind: str, nodes: str | None, key_file: Path | None, collection: str,
                synonyms: Path | None, **kwargs: Any) -> Any:
        config = _backend(index_dir, backend_kind, nodes, key_file, collection)
        return f(backend=dataclasses.replace(config, synonyms=synonyms), **kwargs)

    options = [
        click.option("--index", "index_dir", envvar="SEARCHSVC_INDEX", default=DEFAULT_INDEX, show_default=True,
                     type=click.Path(file_okay=False, path_type=Path),
                     help="Index directory (env SEARCHSVC_INDEX); with Typesense, where the reindex lock lives."),
        click.option("--backend", "backend_kind", envvar="SEARCHSVC_BACKEND", default="whoosh", show_default=True,
                     type=click.Choice(BACKENDS), help="Whoosh in this process, or a Typesense cluster."),
        click.option("--typesense-nodes", "nodes", envvar="SEARCHSVC_TYPESENSE_NODES",
                     help="Typesense nodes, comma-separated: http://10.0.0.1:8108,http://10.0.0.2:8108"),
        click.option("--typesense-key-file", "key_file", envvar="SEARCHSVC_TYPESENSE_API_KEY_FILE",
                     type=click.Path(dir_okay=False, exists=True, path_type=Path),
                     help="File holding the Typesense API key (or set SEARCHSVC_TYPESENSE_API_KEY)."),
        click.option("--collection", envvar="SEARCHSVC_TYPESENSE_COLLECTION", default="searchsvc", show_default=True,
                     help="Typesense alias the posts are searched under."),
        click.option("--synonyms", envvar="SEARCHSVC_SYNONYMS", type=click.Path(dir_okay=False, path_type=Path),
                     help="Synonyms file, Solr's format (a, b, c / a => b); read again when it changes."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _backend(index_dir: Path, kind: str, nodes: str | None, key_file: Path | None, collection: str) -> BackendConfig:
    key = key_file.read_text(encoding="utf-8").strip() if key_file else os.environ.get("SEARCHSVC_TYPESENSE_API_KEY", "")
    try:
        return backend_config(index_dir, kind, nodes, key, collection)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


@click.group()
@click.version_option(package_name="searchsvc")
def main() -> None:
    """Full-text search for folders of Chinese posts."""


class _ListedInEnv(click.ParamType):
    """A repeatable option whose environment variable lists its values as PATH does (globs and
    front-matter values may hold spaces, which click's default splitting breaks on)."""

    name = "text"
    envvar_list_splitter = os.pathsep


def _source_options(f: Any) -> Any:
    """--posts or --site, and what decides how posts are indexed: shared by reindex, watch, serve."""
    options = [
        click.option("--posts", "posts_dir", envvar="SEARCHSVC_POSTS", type=click.Path(file_okay=False, path_type=Path),
                     help="Folder of posts (env SEARCHSVC_POSTS)  [default: source/_posts]"),
        click.option("--site", "site_dir", envvar="SEARCHSVC_SITE", type=click.Path(file_okay=False, path_type=Path),
                     help="A Hexo, Hugo or Jekyll site: finds its posts and gives each the URL the site gives it "
                          "(env SEARCHSVC_SITE)."),
        click.option("--permalink", envvar="SEARCHSVC_PERMALINK",
                     help="URL pattern of a plain folder: :year :month :day :i_month :i_day :title :name :slug  "
                          f"[default: {DEFAULT_PERMALINK}]"),
        click.option("--userdict", envvar="SEARCHSVC_USERDICT", type=click.Path(dir_okay=False, exists=True),
                     help="jieba user dictionary (word [freq] [tag] per line)."),
        click.option("--exclude", "exclude", multiple=True, metavar="GLOB", envvar="SEARCHSVC_EXCLUDE",
                     type=_ListedInEnv(),
                     help="Keep posts out of search by path: a glob without / matches a file or folder name "
                          "anywhere, one with / the path under the posts folder. Repeatable; env "
                          "SEARCHSVC_EXCLUDE (:-separated)."),
        click.option("--keep-out", "keep_out", multiple=True, metavar="KEY=VALUE", envvar="SEARCHSVC_KEEP_OUT",
                     type=_ListedInEnv(),
                     help="Keep posts out of search whose front matter has KEY set to VALUE (or a list holding "
                          "it): visibility=private. Repeatable; env SEARCHSVC_KEEP_OUT (:-separated)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@main.command()
@_source_options
@_backend_options
@click.option("--full", is_flag=True, help="Rebuild from scratch into a new generation, then swap it in.")
@click.option("--verbose", "-v", is_flag=True, help="List every warning, not only the first of each kind.")
def reindex(posts_dir: Path | None, site_dir: Path | None, permalink: str | None, userdict: str | None,
            exclude: tuple[str, ...], keep_out: tuple[str, ...], backend: BackendConfig, full: bool,
            verbose: bool) -> None:
    """Bring the index in line with the posts folder (or the site's posts)."""
    source = _source(posts_dir, site_dir, permalink, userdict, exclude, keep_out)
    settings = source.make_settings()
    paths = iter_post_files(source.posts_dir, settings.urls.posts_folder_name)
    total = sum(1 for _ in paths) if sys.stderr.isatty() else 0
    try:
        if total:
            with click.progressbar(length=total, label="indexing", file=sys.stderr) as bar:
                report = run_reindex(backend, source.posts_dir, settings, full=full, progress=lambda _: bar.update(1))
        else:
            report = run_reindex(backend, source.posts_dir, settings, full=full)
    except (ReindexBusy, BackendUnavailable) as exc:
        raise click.ClickException(str(exc)) from exc
    except (OSError, PostError, RuntimeError) as exc:
        raise click.ClickException(f"reindex stopped, the previous index is still in place: {exc}") from exc
    _echo_report(report, verbose)


def _echo_report(report: ReindexReport, verbose: bool) -> None:
    for path, reason in report.skipped:
        click.echo(f"skipped {path}: {reason}", err=True)
    for path, reason in report.kept_back:
        click.echo(f"kept back {path}: {reason}", err=True)
    _echo_warnings(report.warnings, verbose)
    click.echo(report.summary())


def _source(posts_dir: Path | None, site_dir: Path | None, permalink: str | None, userdict: str | None,
            exclude: tuple[str, ...] = (), keep_out: tuple[str, ...] = ()) -> WatchedSource:
    extra = (Path(userdict),) if userdict else ()
    try:
        rules = tuple(parse_keep_out(r) for r in keep_out)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    exclude = tuple(g for g in exclude if g.strip())
    if site_dir is not None:
        if posts_dir is not None or permalink is not None:
            raise click.UsageError("--site finds the posts and their URLs itself; leave out --posts and --permalink.")
        site = _detect_or_fail(site_dir)
        if not site.posts_dir.is_dir():
            raise click.ClickException(f"{site.describe()}; but {site.posts_dir} does not exist.")
        click.echo(site.describe(), err=True)
        def site_settings() -> IndexSettings:
            found = detect_site(site_dir)
            keep = KeepBack(exclude, rules, found.encrypt_tags, found.encrypt_abstract)
            return IndexSettings.create(urls=found.urls, userdict=userdict, keep_back=keep)

        return WatchedSource(site.posts_dir, site_settings, (site.config_file, *extra))
    posts_dir = posts_dir or Path("source/_posts")
    if not posts_dir.is_dir():
        raise click.ClickException(f"No posts folder at {posts_dir}. Pass --posts DIR or --site DIR, or set SEARCHSVC_POSTS.")
    try:
        urls = UrlRules(permalink=permalink or DEFAULT_PERMALINK)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    keep = KeepBack(exclude, rules)
    return WatchedSource(posts_dir, lambda: IndexSettings.create(urls=urls, userdict=userdict, keep_back=keep), extra)


def _detect_or_fail(site_dir: Path) -> Site:
    try:
        return detect_site(site_dir)
    except SiteError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@_source_options
@_backend_options
@click.option("--verbose", "-v", is_flag=True, help="List every warning, not only the first of each kind.")
def watch(posts_dir: Path | None, site_dir: Path | None, permalink: str | None, userdict: str | None,
          exclude: tuple[str, ...], keep_out: tuple[str, ...], backend: BackendConfig, verbose: bool) -> None:
    """Follow the posts folder and reindex each saved, added or deleted post (until Ctrl-C)."""
    source = _source(posts_dir, site_dir, permalink, userdict, exclude, keep_out)
    _watch(source, backend, verbose)


def _watch(source: WatchedSource, backend: BackendConfig, verbose: bool) -> None:
    def on_report(report: ReindexReport | Exception) -> None:
        stamp = time.strftime("%H:%M:%S")
        if isinstance(report, Exception):
            click.echo(f"{stamp} reindex failed, will rescan: {type(report).__name__}: {report}", err=True)
        elif report.full or report.indexed or report.deleted or report.skipped or report.kept_back:
            click.echo(f"{stamp} ", nl=False)
            _echo_report(report, verbose)

    def on_ready() -> None:
        click.echo(f"watching {source.posts_dir} for changes (Ctrl-C stops)", err=True)

    signal.signal(signal.SIGTERM, _interrupt)
    watch_index(source, backend, on_report=on_report, on_ready=on_ready)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # watch_index stops at it like at Ctrl-C


def _echo_warnings(warnings: list[tuple[str, str]], verbose: bool) -> None:
    kinds: Counter[str] = Counter()
    for path, message in warnings:
        kind = message.split(" (")[0].split(" '")[0]
        kinds[kind] += 1
        if verbose or kinds[kind] <= SHOWN_PER_WARNING:
            click.echo(f"warning {path}: {message}", err=True)
    for kind, count in kinds.items():
        if count > SHOWN_PER_WARNING and not verbose:
            click.echo(f"warning: {count - SHOWN_PER_WARNING} more posts with: {kind} (use -v to list them)", err=True)


def open_or_fail(backend: BackendConfig, cache_size: int = 0) -> Searcher:
    try:
        return open_searcher(backend, cache_size)
    except IndexMissing as exc:
        raise click.ClickException(f"{exc.reason} Run `searchsvc reindex --posts DIR` first.") from exc
    except BackendUnavailable as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.argument("query")
@_backend_options
@click.option("--json", "as_json", is_flag=True, help="Print the same JSON as /api/search.")
@click.option("--explain", is_flag=True, help="Print the parsed query and the backend's query it becomes.")
@click.option("--page", default="1", show_default=True)
@click.option("--per-page", default="10", show_default=True)
@click.option("--sort", default="relevance", show_default=True)
@click.option("--category", multiple=True)
@click.option("--tag", multiple=True)
@click.option("--author", multiple=True)
@click.option("--as-typed", is_flag=True, help="Never answer a correction instead of the query.")
def search(query: str, backend: BackendConfig, as_json: bool, explain: bool, page: str, per_page: str, sort: str,
           category: tuple[str, ...], tag: tuple[str, ...], author: tuple[str, ...], as_typed: bool) -> None:
    """Search from the terminal."""
    params = {"q": [query], "page": [page], "per_page": [per_page], "sort": [sort], "category": list(category),
              "tag": list(tag), "author": list(author), "as_typed": ["1" if as_typed else ""]}
    try:
        request = make_request(params)
    except QueryError as exc:
        raise click.UsageError(str(exc)) from exc
    searcher = open_or_fail(backend)
    try:
        _print_search(searcher, request, as_json, explain)
    except BackendUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        searcher.close()


def _print_search(searcher: Searcher, request: SearchRequest, as_json: bool, explain: bool) -> None:
    if explain:
        click.echo(searcher.explain(request))
    result = searcher.run(request)
    if as_json:
        from searchsvc.search.render import result_json

        click.echo(json.dumps(result_json(result), ensure_ascii=False, indent=2))
        return
    click.echo((f"showing results for {result.corrected}: " if result.corrected else "") + f"{result.total} results "
               f"({result.took_ms} ms)" + (f"; try: {result.suggestion}" if result.suggestion else ""))
    for n, hit in enumerate(result.hits, start=(request.page - 1) * request.per_page + 1):
        click.echo(f"{n:>3}. {hit.title}  [{hit.id}]  {hit.date:%Y-%m-%d}  score {hit.score}")
        click.echo("     " + _terminal_marks(hit.snippet_html))


def _terminal_marks(snippet_html: str) -> str:
    import html
    bold, plain = ("\x1b[1;33m", "\x1b[0m") if sys.stdout.isatty() else ("[", "]")
    return html.unescape(snippet_html.replace("<mark>", bold).replace("</mark>", plain))


@main.command()
@_backend_options
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
@click.option("--watch", "watching", is_flag=True,
              help="Also follow --posts or --site and reindex what changes (as `searchsvc watch`).")
@_source_options
def serve(backend: BackendConfig, host: str, port: int, threads: int, workers: int, pin: bool, cache: int,
          origins: tuple[str, ...],
          watching: bool,
          posts_dir: Path | None, site_dir: Path | None, permalink: str | None, userdict: str | None,
          exclude: tuple[str, ...], keep_out: tuple[str, ...]) -> None:
    """Serve the search page and the JSON API with waitress."""
    if not watching and (posts_dir or site_dir or permalink or userdict or exclude or keep_out):
        raise click.UsageError("--posts, --site, --permalink, --userdict, --exclude and --keep-out go with --watch.")
    source = _source(posts_dir, site_dir, permalink, userdict, exclude, keep_out) if watching else None
    limit_malloc_arenas()  # before the warm-up below, whose memory the workers inherit
    try:
        if source and not has_index(backend):  # build it now, so there is something to serve
            _echo_report(run_reindex(backend, source.posts_dir, source.make_settings()), False)
        searcher = open_or_fail(backend)  # fail now with a clear message, not on the first request
        searcher.run(SearchRequest(q="预热 warm"))  # load jieba's dictionary once, before any fork
        load_tables()  # and the folding array, and pinyin's syllables
        syllables()
        searcher.close()
        del searcher  # its index arrays would live on in every worker
        gc.collect()
    except BackendUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    watcher = fork(lambda: _watch(source, backend, verbose=False)) if source else None
    listener = socket.create_server((host, port), backlog=1024)
    config: dict[str, Any] = {"INDEX_DIR": str(backend.index_dir), "BACKEND": backend, "RESULT_CACHE": cache}
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


if __name__ == "__main__":
    main()
