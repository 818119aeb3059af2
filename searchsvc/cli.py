"""The `searchsvc` command: reindex, serve, search."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from searchsvc.documents import PostError, iter_post_files
from searchsvc.permalinks import DEFAULT_PERMALINK, UrlRules
from searchsvc.sites import SiteError, detect_site
from searchsvc.index import IndexMissing, IndexSettings, ReindexBusy
from searchsvc.reindex import update_index
from searchsvc.query import QueryError, build_plan, parse_query
from searchsvc.search import SearchIndex, SearchRequest, make_request, run_query

DEFAULT_INDEX = "index"
SHOWN_PER_WARNING = 3


def _index_option(f: Any) -> Any:
    return click.option(
        "--index", "index_dir", envvar="SEARCHSVC_INDEX", default=DEFAULT_INDEX, show_default=True,
        type=click.Path(file_okay=False, path_type=Path), help="Index directory (env SEARCHSVC_INDEX).",
    )(f)


@click.group()
@click.version_option(package_name="searchsvc")
def main() -> None:
    """Full-text search for folders of Chinese posts."""


@main.command()
@click.option("--posts", "posts_dir", envvar="SEARCHSVC_POSTS", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of posts (env SEARCHSVC_POSTS)  [default: source/_posts]")
@click.option("--site", "site_dir", envvar="SEARCHSVC_SITE", type=click.Path(file_okay=False, path_type=Path),
              help="A Hexo, Hugo or Jekyll site: finds its posts and gives each the URL the site gives it "
                   "(env SEARCHSVC_SITE).")
@_index_option
@click.option("--full", is_flag=True, help="Rebuild from scratch into a new generation, then swap it in.")
@click.option("--permalink", envvar="SEARCHSVC_PERMALINK",
              help=f"URL pattern of a plain folder: :year :month :day :i_month :i_day :title :name :slug  "
                   f"[default: {DEFAULT_PERMALINK}]")
@click.option("--userdict", envvar="SEARCHSVC_USERDICT", type=click.Path(dir_okay=False, exists=True),
              help="jieba user dictionary (word [freq] [tag] per line).")
@click.option("--verbose", "-v", is_flag=True, help="List every warning, not only the first of each kind.")
def reindex(posts_dir: Path | None, site_dir: Path | None, index_dir: Path, full: bool, permalink: str | None,
            userdict: str | None, verbose: bool) -> None:
    """Bring the index in line with the posts folder (or the site's posts)."""
    posts_dir, urls = _posts_and_urls(posts_dir, site_dir, permalink)
    settings = IndexSettings.create(urls=urls, userdict=userdict)
    total = sum(1 for _ in iter_post_files(posts_dir, urls.posts_folder_name)) if sys.stderr.isatty() else 0
    try:
        if total:
            with click.progressbar(length=total, label="indexing", file=sys.stderr) as bar:
                report = update_index(posts_dir, index_dir, full=full, settings=settings, progress=lambda _: bar.update(1))
        else:
            report = update_index(posts_dir, index_dir, full=full, settings=settings)
    except ReindexBusy as exc:
        raise click.ClickException(str(exc)) from exc
    except (OSError, PostError, RuntimeError) as exc:
        raise click.ClickException(f"reindex stopped, the previous index is still in place: {exc}") from exc
    for path, reason in report.skipped:
        click.echo(f"skipped {path}: {reason}", err=True)
    _echo_warnings(report.warnings, verbose)
    click.echo(report.summary())


def _posts_and_urls(posts_dir: Path | None, site_dir: Path | None, permalink: str | None) -> tuple[Path, UrlRules]:
    if site_dir is not None:
        if posts_dir is not None or permalink is not None:
            raise click.UsageError("--site finds the posts and their URLs itself; leave out --posts and --permalink.")
        try:
            site = detect_site(site_dir)
        except SiteError as exc:
            raise click.ClickException(str(exc)) from exc
        if not site.posts_dir.is_dir():
            raise click.ClickException(f"{site.describe()}; but {site.posts_dir} does not exist.")
        click.echo(site.describe(), err=True)
        return site.posts_dir, site.urls
    posts_dir = posts_dir or Path("source/_posts")
    if not posts_dir.is_dir():
        raise click.ClickException(f"No posts folder at {posts_dir}. Pass --posts DIR or --site DIR, or set SEARCHSVC_POSTS.")
    try:
        return posts_dir, UrlRules(permalink=permalink or DEFAULT_PERMALINK)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


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


def open_index_or_fail(index_dir: Path) -> SearchIndex:
    try:
        return SearchIndex(index_dir)
    except IndexMissing as exc:
        raise click.ClickException(f"{exc.reason} Run `searchsvc reindex --posts DIR` first.") from exc


@main.command()
@click.argument("query")
@_index_option
@click.option("--json", "as_json", is_flag=True, help="Print the same JSON as /api/search.")
@click.option("--explain", is_flag=True, help="Print the parsed query and the Whoosh query it becomes.")
@click.option("--page", default="1", show_default=True)
@click.option("--per-page", default="10", show_default=True)
@click.option("--sort", default="relevance", show_default=True)
@click.option("--category", multiple=True)
@click.option("--tag", multiple=True)
@click.option("--author", multiple=True)
def search(query: str, index_dir: Path, as_json: bool, explain: bool, page: str, per_page: str, sort: str,
           category: tuple[str, ...], tag: tuple[str, ...], author: tuple[str, ...]) -> None:
    """Search from the terminal."""
    params = {"q": [query], "page": [page], "per_page": [per_page], "sort": [sort],
              "category": list(category), "tag": list(tag), "author": list(author)}
    try:
        request = make_request(params)
    except QueryError as exc:
        raise click.UsageError(str(exc)) from exc
    with open_index_or_fail(index_dir) as index:
        _print_search(index, query, request, as_json, explain)


def _print_search(index: SearchIndex, query: str, request: SearchRequest, as_json: bool, explain: bool) -> None:
    if explain:
        parsed = parse_query(query, index.analysis)
        click.echo(f"parsed: {parsed}")
        click.echo(f"whoosh: {build_plan(parsed, request.filters)}")
    result = run_query(index, request)
    if as_json:
        from searchsvc.render import result_json

        click.echo(json.dumps(result_json(result), ensure_ascii=False, indent=2))
        return
    click.echo(f"{result.total} results ({result.took_ms} ms)" + (f"; try: {result.suggestion}" if result.suggestion else ""))
    for n, hit in enumerate(result.hits, start=(request.page - 1) * request.per_page + 1):
        click.echo(f"{n:>3}. {hit.title}  [{hit.id}]  {hit.date:%Y-%m-%d}  score {hit.score}")
        click.echo("     " + _terminal_marks(hit.snippet_html))


def _terminal_marks(snippet_html: str) -> str:
    import html

    bold, plain = ("\x1b[1;33m", "\x1b[0m") if sys.stdout.isatty() else ("[", "]")
    return html.unescape(snippet_html.replace("<mark>", bold).replace("</mark>", plain))


@main.command()
@_index_option
@click.option("--host", envvar="SEARCHSVC_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="SEARCHSVC_PORT", default=5000, show_default=True, type=int)
@click.option("--threads", envvar="SEARCHSVC_THREADS", default=4, show_default=True, type=int,
              help="Threads per worker process.")
@click.option("--workers", envvar="SEARCHSVC_WORKERS", default=1, show_default=True, type=int,
              help="Worker processes sharing the port: one Python process uses one core.")
@click.option("--cache", envvar="SEARCHSVC_RESULT_CACHE", default=256, show_default=True, type=int,
              help="Recent results kept per index generation (0 turns the cache off).")
def serve(index_dir: Path, host: str, port: int, threads: int, workers: int, cache: int) -> None:
    """Serve the search page and the JSON API with waitress."""
    with open_index_or_fail(index_dir) as index:  # fail now with a clear message, not on the first request
        run_query(index, SearchRequest(q="预热 warm"))  # load jieba's dictionary once, before any fork
    listener = socket.create_server((host, port), backlog=1024)
    click.echo(f"searchsvc serving {index_dir}/ on http://{host}:{port}/ with {workers} worker(s) (pid {os.getpid()})", err=True)
    if workers <= 1:
        _serve_worker(listener, index_dir, threads, cache)
        return
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # a worker opens its own index: Whoosh file handles must not be shared
            code = 0
            try:
                _serve_worker(listener, index_dir, threads, cache)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        children.append(pid)

    def forward(signum: int, frame: Any) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        os.waitpid(child, 0)
    click.echo("searchsvc stopped", err=True)


def _serve_worker(listener: socket.socket, index_dir: Path, threads: int, cache: int) -> None:
    import waitress

    from searchsvc.web import create_app

    app = create_app({"INDEX_DIR": str(index_dir), "RESULT_CACHE": cache})
    app.extensions["searchsvc.index"] = SearchIndex(index_dir, cache)
    server = waitress.create_server(app, sockets=[listener], threads=threads, ident="searchsvc")

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        server.run()
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()
