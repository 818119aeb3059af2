"""Ingest stage: what an index is built with — URL rules, what is kept back, the segmenter;
a change to any of it means a full rebuild."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from searchsvc.analysis.segment import AnalysisSettings
from searchsvc.ingest.keepback import KeepBack
from searchsvc.ingest.sites.permalinks import UrlRules

SCHEMA_VERSION = 6  # 5: what the owner keeps back (encrypted bodies were indexed before); 6: the lexicon


@dataclass(frozen=True)
class IndexSettings:
    """What a generation was built with; a change to any of it needs a full rebuild."""

    urls: UrlRules = field(default_factory=UrlRules)
    engine: str = "auto"
    userdict: str | None = None
    userdict_hash: str = ""
    keep_back: KeepBack = field(default_factory=KeepBack)
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def create(cls, urls: UrlRules | None = None, engine: str = "auto", userdict: str | None = None,
               keep_back: KeepBack | None = None) -> IndexSettings:
        digest = hashlib.sha1(Path(userdict).read_bytes()).hexdigest() if userdict else ""
        path = str(Path(userdict).resolve()) if userdict else None
        return cls(urls=urls or UrlRules(), engine=engine, userdict=path, userdict_hash=digest,
                   keep_back=keep_back or KeepBack())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexSettings:
        """The inverse of dataclasses.asdict, as the settings are saved."""
        return cls(**{**data, "urls": UrlRules(**data.get("urls", {})),
                      "keep_back": KeepBack.from_dict(data.get("keep_back", {}))})

    @property
    def analysis(self) -> AnalysisSettings:
        return AnalysisSettings(engine=self.engine, userdict=self.userdict)
