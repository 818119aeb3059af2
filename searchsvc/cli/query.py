"""Edge: the `searchsvc` command — search from the terminal, and what readers searched (stats)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from searchsvc.backends.base import BackendUnavailable, Searcher
from searchsvc.backends.config import BackendConfig
from searchsvc.cli.options import backend_options, index_option, open_or_fail
from searchsvc.search.model import SearchRequest, make_request
from searchsvc.search.parse import QueryError
from searchsvc.stats.log import log_path
from searchsvc.stats.report import read_report, report_json, report_lines


@click.command()
@click.argument("query")
@backend_options
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


@click.command()
@index_option("Index directory; the log is beside it.")
@click.option("--stats", "stats_path", envvar="SEARCHSVC_STATS", type=click.Path(dir_okay=False, path_type=Path),
              help="The query log  [default: INDEX/stats.sqlite]")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 3660), help="Days to report, today included.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 50), help="Queries per list.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def stats(index_dir: Path, stats_path: Path | None, days: int, limit: int, as_json: bool) -> None:
    """What readers searched: searches per day, top and zero-result queries, click-through."""
    path = log_path(index_dir, stats_path)
    if not path.exists():
        raise click.ClickException(f"No query log at {path}: `searchsvc serve` writes it as readers search.")
    report = read_report(path, days=days, limit=limit)
    if as_json:
        click.echo(json.dumps(report_json(report), ensure_ascii=False, indent=2))
    else:
        click.echo("\n".join(report_lines(report)))
