"""Search stage: the errors every backend raises and every edge translates."""

from __future__ import annotations

from pathlib import Path


class IndexMissing(Exception):
    """There is no usable index at the given path (none yet, or one from another schema)."""

    def __init__(self, path: Path, reason: str = "") -> None:
        self.path = path
        self.reason = reason or f"No index at {path}/."
        super().__init__(self.reason)
