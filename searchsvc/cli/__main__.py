"""Edge: `python -m searchsvc.cli`, the same as the installed `searchsvc` command."""

from searchsvc.cli import main

main(prog_name="searchsvc")
