"""Engine: index generations on disk — the CURRENT pointer, opening, swapping, retention."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh.index import Index

from searchsvc.engine.schema import build_schema
from searchsvc.ingest.settings import SCHEMA_VERSION, IndexSettings
from searchsvc.search.errors import IndexMissing

CURRENT = "CURRENT"
SETTINGS = "searchsvc.json"




def current_generation(index_dir: Path) -> Path | None:
    try:
        name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    gen = index_dir / name
    return gen if name and gen.is_dir() else None


def read_settings(gen: Path) -> IndexSettings:
    data = json.loads((gen / SETTINGS).read_text(encoding="utf-8"))
    if data.get("schema_version") != SCHEMA_VERSION:  # other fields may mean other things there
        return IndexSettings(schema_version=int(data.get("schema_version") or 0))
    return IndexSettings.from_dict(data)


def purge_deleted(writer: Any, segments: list[Any]) -> list[Any]:
    """A merge policy for commits that take posts private: every segment holding a deleted post
    is rewritten without it, so its body leaves the stored fields and postings on disk instead of
    lingering there marked deleted until some later merge."""
    from whoosh.reading import SegmentReader

    kept = []
    for segment in segments:
        if segment.has_deletions():
            reader = SegmentReader(writer.storage, writer.schema, segment)
            writer.add_reader(reader)
            reader.close()
        else:
            kept.append(segment)
    return kept


def open_index(index_dir: Path) -> tuple[Index, str]:
    """Open the current generation; returns the index and the generation's name."""
    gen = current_generation(index_dir)
    if gen is None:
        raise IndexMissing(index_dir)
    settings = read_settings(gen)
    if settings.schema_version != SCHEMA_VERSION:
        raise IndexMissing(index_dir, f"The index at {index_dir}/ was built by another version of searchsvc.")
    return whoosh_index.open_dir(str(gen), schema=build_schema(settings.analysis)), gen.name


def generation_token(index_dir: Path, ix: Index | None = None, gen_name: str | None = None) -> tuple[str, int]:
    """Changes whenever a full rebuild swaps generations or an incremental reindex commits."""
    gen = current_generation(index_dir)
    if gen is None:
        raise IndexMissing(index_dir)
    if ix is not None and gen.name == gen_name:
        return gen.name, ix.latest_generation()
    return gen.name, -1  # another generation: its commit number does not matter, its name differs


def swap_current(index_dir: Path, gen: Path) -> None:
    tmp = index_dir / (CURRENT + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(gen.name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / CURRENT)
    dir_fd = os.open(index_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def generation_names(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.glob("gen-*") if p.is_dir())


def remove_generations(index_dir: Path, names: list[str]) -> None:
    for name in names:
        shutil.rmtree(index_dir / name, ignore_errors=True)
