"""Edge: the `searchsvc` command — reindex and watch."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from searchsvc.backends.base import BackendUnavailable
from searchsvc.backends.config import BackendConfig
from searchsvc.backends.config import reindex as run_reindex
from searchsvc.cli.options import backend_options, echo_report, make_source, source_options, watch_and_report
from searchsvc.ingest.posts import PostError, iter_post_files
from searchsvc.ingest.scan import ReindexBusy


@click.command()
@source_options
@backend_options
@click.option("--full", is_flag=True, help="Rebuild from scratch into a new generation, then swap it in.")
@click.option("--verbose", "-v", is_flag=True, help="List every warning, not only the first of each kind.")
def reindex(posts_dir: Path | None, site_dir: Path | None, permalink: str | None, userdict: str | None,
            exclude: tuple[str, ...], keep_out: tuple[str, ...], backend: BackendConfig, full: bool,
            verbose: bool) -> None:
    """Bring the index in line with the posts folder (or the site's posts)."""
    source = make_source(posts_dir, site_dir, permalink, userdict, exclude, keep_out)
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
    echo_report(report, verbose)


@click.command()
@source_options
@backend_options
@click.option("--verbose", "-v", is_flag=True, help="List every warning, not only the first of each kind.")
def watch(posts_dir: Path | None, site_dir: Path | None, permalink: str | None, userdict: str | None,
          exclude: tuple[str, ...], keep_out: tuple[str, ...], backend: BackendConfig, verbose: bool) -> None:
    """Follow the posts folder and reindex each saved, added or deleted post (until Ctrl-C)."""
    source = make_source(posts_dir, site_dir, permalink, userdict, exclude, keep_out)
    watch_and_report(source, backend, verbose)
