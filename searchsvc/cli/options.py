"""Edge: the `searchsvc` command — what commands share: the backend's and the posts' options, reports."""

from __future__ import annotations

import dataclasses
import functools
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import click

from searchsvc.backends.base import BackendUnavailable, Searcher
from searchsvc.backends.config import BACKENDS, BackendConfig, backend_config, open_searcher
from searchsvc.ingest.keepback import KeepBack, parse_keep_out
from searchsvc.ingest.scan import ReindexReport
from searchsvc.ingest.settings import IndexSettings
from searchsvc.ingest.sites.detect import Site, SiteError, detect_site
from searchsvc.ingest.sites.permalinks import DEFAULT_PERMALINK, UrlRules
from searchsvc.search.errors import IndexMissing
from searchsvc.watch import WatchedSource, watch_index

DEFAULT_INDEX = "index"
SHOWN_PER_WARNING = 3


def index_option(help: str) -> Any:
    """--index (env SEARCHSVC_INDEX), the index folder, as `index_dir`."""
    return click.option("--index", "index_dir", envvar="SEARCHSVC_INDEX", default=DEFAULT_INDEX, show_default=True,
                        type=click.Path(file_okay=False, path_type=Path), help=help)


def backend_options(f: Any) -> Any:
    """--index, or --backend typesense and its cluster: passed on as one BackendConfig, `backend`."""
    @functools.wraps(f)
    def command(index_dir: Path, backend_kind: str, nodes: str | None, key_file: Path | None, collection: str,
                synonyms: Path | None, **kwargs: Any) -> Any:
        config = _backend(index_dir, backend_kind, nodes, key_file, collection)
        return f(backend=dataclasses.replace(config, synonyms=synonyms), **kwargs)

    options = [
        index_option("Index directory (env SEARCHSVC_INDEX); with Typesense, where the reindex lock lives."),
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


class _ListedInEnv(click.ParamType):
    """A repeatable option whose environment variable lists its values as PATH does (globs and
    front-matter values may hold spaces, which click's default splitting breaks on)."""

    name = "text"
    envvar_list_splitter = os.pathsep


def source_options(f: Any) -> Any:
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


def make_source(posts_dir: Path | None, site_dir: Path | None, permalink: str | None, userdict: str | None,
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
        site = detect_or_fail(site_dir)
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


def detect_or_fail(site_dir: Path) -> Site:
    try:
        return detect_site(site_dir)
    except SiteError as exc:
        raise click.ClickException(str(exc)) from exc


def echo_report(report: ReindexReport, verbose: bool) -> None:
    for path, reason in report.skipped:
        click.echo(f"skipped {path}: {reason}", err=True)
    for path, reason in report.kept_back:
        click.echo(f"kept back {path}: {reason}", err=True)
    echo_warnings(report.warnings, verbose)
    click.echo(report.summary())


def echo_warnings(warnings: list[tuple[str, str]], verbose: bool) -> None:
    kinds: Counter[str] = Counter()
    for path, message in warnings:
        kind = message.split(" (")[0].split(" '")[0]
        kinds[kind] += 1
        if verbose or kinds[kind] <= SHOWN_PER_WARNING:
            click.echo(f"warning {path}: {message}", err=True)
    for kind, count in kinds.items():
        if count > SHOWN_PER_WARNING and not verbose:
            click.echo(f"warning: {count - SHOWN_PER_WARNING} more posts with: {kind} (use -v to list them)", err=True)


def watch_and_report(source: WatchedSource, backend: BackendConfig, verbose: bool) -> None:
    def on_report(report: ReindexReport | Exception) -> None:
        stamp = time.strftime("%H:%M:%S")
        if isinstance(report, Exception):
            click.echo(f"{stamp} reindex failed, will rescan: {type(report).__name__}: {report}", err=True)
        elif report.full or report.indexed or report.deleted or report.skipped or report.kept_back:
            click.echo(f"{stamp} ", nl=False)
            echo_report(report, verbose)

    def on_ready() -> None:
        click.echo(f"watching {source.posts_dir} for changes (Ctrl-C stops)", err=True)

    signal.signal(signal.SIGTERM, _interrupt)
    watch_index(source, backend, on_report=on_report, on_ready=on_ready)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # watch_index stops at it like at Ctrl-C


def open_or_fail(backend: BackendConfig, cache_size: int = 0) -> Searcher:
    try:
        return open_searcher(backend, cache_size)
    except IndexMissing as exc:
        raise click.ClickException(f"{exc.reason} Run `searchsvc reindex --posts DIR` first.") from exc
    except BackendUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
