"""Backends: which engine serves, and where: Whoosh in this process (the default), or a
Typesense cluster. Posts, analysis, the query language and snippets are shared; each backend
indexes and answers queries its own way."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from searchsvc.backends.base import Searcher
from searchsvc.backends.corrected import Corrected
from searchsvc.backends.whoosh import WhooshSearcher
from searchsvc.engine.generations import current_generation
from searchsvc.engine.write.reindex import update_index
from searchsvc.ingest.scan import Progress, ReindexReport
from searchsvc.ingest.settings import IndexSettings
from searchsvc.search.synonyms import Synonyms

if TYPE_CHECKING:  # the Typesense client is imported only when that backend is used
    from searchsvc.backends.typesense.index import TypesenseConfig

BACKENDS = ("whoosh", "typesense")


@dataclass(frozen=True)
class BackendConfig:
    """Which engine, and where. `index_dir` is Whoosh's index; with Typesense it only holds the
    lock that keeps reindexes on this machine one at a time."""

    kind: str = "whoosh"
    index_dir: Path = Path("index")
    typesense: TypesenseConfig | None = None
    synonyms: Path | None = None  # the owner's synonyms file (Solr's format), read at query time

    def __post_init__(self) -> None:
        if self.kind not in BACKENDS:
            raise ValueError(f"unknown backend {self.kind!r}; use one of {', '.join(BACKENDS)}")
        if self.kind == "typesense" and not self.typesense:
            raise ValueError("the typesense backend needs its nodes and API key")

    def describe(self) -> str:
        if self.typesense:
            return f"Typesense collection '{self.typesense.collection}' on {', '.join(self.typesense.nodes)}"
        return f"{self.index_dir}/"


def backend_config(index_dir: Path, kind: str, nodes: str | None, key: str, collection: str) -> BackendConfig:
    """A BackendConfig from the command line's options; ValueError says what is missing or wrong."""
    if kind == "whoosh":
        return BackendConfig(index_dir=index_dir)
    try:
        from searchsvc.backends.typesense.index import TypesenseConfig
    except ImportError as exc:
        raise ValueError("the typesense backend needs its client: pip install 'searchsvc[typesense]'") from exc
    urls = tuple(n.strip() for n in (nodes or "").split(",") if n.strip())
    if not urls or not key:
        raise ValueError("--backend typesense needs --typesense-nodes and an API key "
                         "(--typesense-key-file or SEARCHSVC_TYPESENSE_API_KEY).")
    if not all(u.startswith(("http://", "https://")) and u.rsplit(":", 1)[-1].rstrip("/").isdigit() for u in urls):
        raise ValueError("--typesense-nodes: give each node as http(s)://host:port")
    return BackendConfig(kind="typesense", index_dir=index_dir, typesense=TypesenseConfig(urls, key, collection))


def open_searcher(config: BackendConfig, cache_size: int = 0) -> Searcher:
    """Raises IndexMissing when there is nothing to search yet (and, for Typesense,
    BackendUnavailable when no node answers)."""
    synonyms = Synonyms(config.synonyms) if config.synonyms else None
    inner: Searcher
    if config.typesense:
        from searchsvc.backends.typesense.search import TypesenseSearch

        inner = TypesenseSearch(config.typesense, config.index_dir, synonyms)
    else:
        inner = WhooshSearcher(config.index_dir, cache_size, synonyms)
    return Corrected(inner)


def reindex(
    config: BackendConfig, posts_dir: Path, settings: IndexSettings, *, full: bool = False,
    changed: Iterable[str] | None = None, progress: Progress | None = None,
) -> ReindexReport:
    if config.typesense:
        from searchsvc.backends.typesense.index import typesense_reindex

        return typesense_reindex(config.typesense, config.index_dir, posts_dir, settings, full=full, changed=changed,
                                 progress=progress)
    return update_index(posts_dir, config.index_dir, full=full, settings=settings, changed=changed, progress=progress)


def has_index(config: BackendConfig) -> bool:
    if config.typesense:
        from searchsvc.backends.typesense.index import (
            CLIENT_ERRORS,
            close_client,
            current_collection,
            unavailable,
        )

        client = config.typesense.client()
        try:
            return current_collection(client, config.typesense.collection) is not None
        except CLIENT_ERRORS as exc:
            raise unavailable(config.typesense, exc) from None
        finally:
            close_client(client)
    return current_generation(config.index_dir) is not None
