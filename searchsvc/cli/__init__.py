"""Edge: the `searchsvc` command — reindex, watch, search, serve, stats; click is imported only in cli/."""

from __future__ import annotations

import click

from searchsvc.cli.index import reindex, watch
from searchsvc.cli.query import search, stats
from searchsvc.cli.serve import serve


@click.group()
@click.version_option(package_name="searchsvc")
def main() -> None:
    """Full-text search for folders of Chinese posts."""


for command in (reindex, watch, search, serve, stats):
    main.add_command(command)
