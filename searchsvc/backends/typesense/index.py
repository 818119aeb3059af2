"""Backends, Typesense: writing — posts in, pre-segmented; generations as collections behind
an alias, swapped when a full build is done."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import httpx
import typesense
from typesense import exceptions as ts_errors

from searchsvc.analysis.normalize import normalize, normalize_spaced
from searchsvc.analysis.units import cjk_chars, substring_units
from searchsvc.backends.base import BackendUnavailable
from searchsvc.ingest.lexicon import LEXICON, LexiconWriter, remove_lexicon
from searchsvc.ingest.posts import Post, iter_post_files
from searchsvc.ingest.scan import (
    FolderChanges,
    Progress,
    ReindexReport,
    read_posts,
    reindex_lock,
    retired,
)
from searchsvc.ingest.settings import IndexSettings
from searchsvc.search.errors import IndexMissing

SCHEMA_VERSION = 3  # 2: encrypted posts indexed by their abstract only; 3: the lexicon beside it
# What the client raises when a node or the cluster cannot answer.
CLIENT_ERRORS = (ts_errors.TypesenseClientError, httpx.HTTPError, OSError)
META = "searchsvc_meta"  # one document per generation: the settings it was built with
BATCH = 200


@dataclass(frozen=True)
class TypesenseConfig:
    """Where the cluster is and how to reach it. The key stays out of repr, logs and errors."""

    nodes: tuple[str, ...]
    api_key: str = field(repr=False)
    collection: str = "searchsvc"
    timeout: float = 2.0
    retry_seconds: float = 10.0  # how long a search keeps trying while the cluster elects a leader

    def client(self, timeout: float | None = None) -> Any:  # typesense.Client; its TypedDicts are stricter than JSON
        nodes: list[Any] = []
        for url in self.nodes:
            scheme, _, rest = url.partition("://")
            host, _, port = rest.rstrip("/").rpartition(":")
            nodes.append({"host": host, "port": int(port), "protocol": scheme})
        return typesense.Client({
            "nodes": nodes, "api_key": self.api_key, "connection_timeout_seconds": timeout or self.timeout,
            "num_retries": 2 * len(nodes) + 1, "retry_interval_seconds": 0.1, "healthcheck_interval_seconds": 1,
        })

    def scrub(self, text: str) -> str:
        return text.replace(self.api_key, "***") if self.api_key else text


def close_client(client: Any) -> None:
    client.api_call.close()  # the client's pooled HTTP connections


def unavailable(config: TypesenseConfig, exc: Exception) -> BackendUnavailable:
    return BackendUnavailable(config.scrub(f"the Typesense cluster did not answer: {type(exc).__name__}: {exc}"))


# ---- documents


def doc_id(post_id: str) -> str:
    """Typesense ids go into URL paths: a hash of the post id, which is kept in `path`."""
    return hashlib.blake2b(post_id.encode("utf-8"), digest_size=16).hexdigest()


def substring_text(text: str) -> str:
    """The substring representation (CJK bigrams, run-final characters, other words) as
    space-separated tokens: any substring of the text is a phrase of consecutive tokens."""
    return " ".join(u for u, _, _ in substring_units(normalize(text)))


def char_text(text: str) -> str:
    return " ".join(c for c, _, _ in cjk_chars(normalize(text)))


def post_document(post: Post) -> dict[str, Any]:
    return {
        "id": doc_id(post.id), "path": post.id, "hash": post.content_hash, "url": post.url, "image": post.image,
        "title": post.title, "title_exact": normalize_spaced(post.title), "text": post.body,
        "title_sub": substring_text(post.title), "title_chr": char_text(post.title),
        "body_sub": substring_text(post.body), "body_chr": char_text(post.body),
        "date": int(post.date.timestamp()), "categories": list(post.categories), "tags": list(post.tags),
        "authors": list(post.authors),
    }


def collection_schema(name: str) -> dict[str, Any]:
    def text(name: str) -> dict[str, Any]:
        return {"name": name, "type": "string"}

    def stored(name: str, kind: str = "string") -> dict[str, Any]:
        return {"name": name, "type": kind, "index": False, "optional": True}

    return {
        "name": name,
        "fields": [
            text("title_sub"), text("title_chr"), text("body_sub"), text("body_chr"),
            {"name": "path", "type": "string"}, {"name": "title_exact", "type": "string"},
            {"name": "date", "type": "int64"},
            {"name": "categories", "type": "string[]", "facet": True},
            {"name": "tags", "type": "string[]", "facet": True},
            {"name": "authors", "type": "string[]", "facet": True},
            stored("hash"), stored("url"), stored("image"), stored("title"), stored("text"),
        ],
        "default_sorting_field": "date",
        "token_separators": [],
        "symbols_to_index": [],
    }


# ---- generations: collections behind an alias


def current_collection(client: Any, alias: str) -> str | None:
    try:
        return str(client.aliases[alias].retrieve()["collection_name"])
    except ts_errors.ObjectNotFound:
        return None


def read_meta(client: Any, collection: str) -> IndexSettings | None:
    try:
        data = json.loads(client.collections[META].documents[collection].retrieve()["settings"])
    except ts_errors.ObjectNotFound:
        return None
    if data.get("schema_version") != SCHEMA_VERSION:
        return IndexSettings(schema_version=-1)
    # IndexSettings carries the Whoosh schema version; ours was checked above.
    return IndexSettings.from_dict({**data, "schema_version": IndexSettings().schema_version})


def _write_meta(client: Any, collection: str, settings: IndexSettings) -> None:
    try:
        client.collections.create({"name": META, "fields": [{"name": "settings", "type": "string", "index": False,
                                                              "optional": True}, {"name": "built", "type": "int64"}]})
    except ts_errors.ObjectAlreadyExists:
        pass
    data = {**asdict(settings), "schema_version": SCHEMA_VERSION}
    client.collections[META].documents.upsert({"id": collection, "settings": json.dumps(data), "built": int(time.time())})


def typesense_reindex(
    config: TypesenseConfig, lock_dir: Path, posts_dir: Path, settings: IndexSettings, *,
    full: bool = False, changed: Iterable[str] | None = None, progress: Progress | None = None,
) -> ReindexReport:
    """As update_index, on the cluster: a full build fills a new collection and then points the
    alias at it (searches never see a half-built one); incremental runs upsert and delete."""
    started = time.perf_counter()
    client = config.client(timeout=60)
    with reindex_lock(lock_dir), contextlib.closing(client.api_call):
        try:
            current = current_collection(client, config.collection)
            if current is not None and not full:
                full = read_meta(client, current) != settings
            report = ReindexReport(full=full or current is None)
            if report.full:
                _full_build(client, config, lock_dir, posts_dir, settings, report, progress, current)
                expected = report.added
            else:
                assert current is not None
                expected = _incremental(client, current, lock_dir, posts_dir, settings, report, progress, changed)
            _converge(config, report, expected)
        except CLIENT_ERRORS as exc:
            if isinstance(exc, ts_errors.RequestMalformed):
                raise RuntimeError(config.scrub(str(exc))) from None
            raise unavailable(config, exc) from None
    report.seconds = time.perf_counter() - started
    return report


def lexicon_path(folder: Path, collection: str) -> Path:
    """A collection's lexicon lives on the machine that reindexes, beside the reindex lock."""
    return folder / f"{collection}.{LEXICON}"


def _full_build(
    client: Any, config: TypesenseConfig, folder: Path, posts_dir: Path, settings: IndexSettings,
    report: ReindexReport, progress: Progress | None, previous: str | None,
) -> None:
    name = f"{config.collection}_{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S%f}"
    client.collections.create(collection_schema(name))
    lexicon = LexiconWriter(lexicon_path(folder, name), settings.analysis)
    try:
        paths = iter_post_files(posts_dir, settings.urls.posts_folder_name)
        for batch in _batches(read_posts(posts_dir, paths, settings, report, progress, None)):
            _import(client, name, [post_document(p) for p in batch], "create")
            for post in batch:
                lexicon.add(post)
            report.added += len(batch)
        lexicon.close()
        _write_meta(client, name, settings)
    except BaseException:
        lexicon.close(commit=False)
        remove_lexicon(lexicon_path(folder, name))
        client.collections[name].delete()
        raise
    client.aliases.upsert(config.collection, {"collection_name": name})
    report.generation = name
    _remove_old_collections(client, config.collection, folder, name, previous)


def _remove_old_collections(client: Any, alias: str, folder: Path, keep: str, previous: str | None) -> None:
    ours = [c["name"] for c in client.collections.retrieve() if c["name"].startswith(alias + "_")
            and c["name"][len(alias) + 1:][:1].isdigit()]
    for name in retired(ours, keep, previous):
        remove_lexicon(lexicon_path(folder, name))
        client.collections[name].delete()
        try:
            client.collections[META].documents[name].delete()
        except ts_errors.ObjectNotFound:
            pass


def _incremental(
    client: Any, collection: str, folder: Path, posts_dir: Path, settings: IndexSettings, report: ReindexReport,
    progress: Progress | None, changed: Iterable[str] | None,
) -> int:
    """Upserts and deletes; returns how many posts the collection holds now."""
    exported = client.collections[collection].documents.export({"include_fields": "path,hash"})
    existing = {d["path"]: d["hash"] for d in map(json.loads, filter(None, exported.split("\n")))}
    changes = FolderChanges(posts_dir, existing, settings, report, progress, changed)
    lexicon = LexiconWriter(lexicon_path(folder, collection), settings.analysis)
    try:
        for batch in _batches(changes.posts()):
            _import(client, collection, [post_document(p) for p in batch], "upsert")
            lexicon.remove([p.id for p in batch if p.id in existing])
            for post in batch:
                lexicon.add(post)
        deleted = changes.deleted()
        for post_id in deleted:
            try:
                client.collections[collection].documents[doc_id(post_id)].delete()
            except ts_errors.ObjectNotFound:
                pass
        lexicon.remove(deleted)
    except BaseException:
        lexicon.close(commit=False)
        raise
    lexicon.close()
    report.generation = collection
    return len(existing) + report.added - report.deleted


def _converge(config: TypesenseConfig, report: ReindexReport, expected: int, timeout: float = 30.0) -> None:
    """Wait until every node that answers serves what was written: followers apply the Raft log
    a little after the leader, and a reindex is done when a search on any node sees it."""
    deadline = time.monotonic() + timeout
    for url in config.nodes:
        node = TypesenseConfig((url,), config.api_key, config.collection, timeout=1.0).client()
        _wait_for_node(node, url, config, report, expected, deadline, timeout)
        close_client(node)


def _wait_for_node(
    node: Any, url: str, config: TypesenseConfig, report: ReindexReport, expected: int, deadline: float, timeout: float,
) -> None:
    while True:
        try:
            if current_collection(node, config.collection) == report.generation and \
                    node.collections[report.generation].retrieve()["num_documents"] == expected:
                return
        except CLIENT_ERRORS:
            if time.monotonic() > deadline - timeout / 2:  # a node that stays down is reported, not awaited
                report.warnings.append((url, "this Typesense node did not answer; it catches up when it is back"))
                return
        if time.monotonic() > deadline:
            report.warnings.append((url, f"this Typesense node did not show the reindex within {timeout:.0f} s"))
            return
        time.sleep(0.05)


def _import(client: Any, collection: str, documents: list[dict[str, Any]], action: str) -> None:
    results = client.collections[collection].documents.import_(documents, {"action": action})
    failed = [r for r in results if not r.get("success")]
    if failed:
        raise RuntimeError(f"Typesense refused {len(failed)} of {len(documents)} posts: {failed[0].get('error')}")


def _batches(posts: Iterator[Post]) -> Iterator[list[Post]]:
    batch: list[Post] = []
    for post in posts:
        batch.append(post)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def open_collection(config: TypesenseConfig) -> tuple[Any, str, IndexSettings]:
    """The client, the collection the alias points at, and its settings; IndexMissing when none."""
    client = config.client()
    try:
        current = current_collection(client, config.collection)
        settings = read_meta(client, current) if current else None
    except CLIENT_ERRORS as exc:
        close_client(client)
        raise unavailable(config, exc) from None
    if current is None or settings is None or settings.schema_version == -1:
        close_client(client)
    if current is None or settings is None:
        raise IndexMissing(Path(config.collection), f"No collection '{config.collection}' on the Typesense cluster.")
    if settings.schema_version == -1:
        raise IndexMissing(Path(config.collection), "The Typesense collection was built by another version of searchsvc.")
    return client, current, settings
