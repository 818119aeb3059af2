"""Engine, on disk: per-document columns — stored fields (pickled, without Whoosh's zlib) and field
lengths (decoded once per field, writing and reading)."""

from __future__ import annotations

import pickle
from typing import Any

from whoosh.codec.whoosh3 import (
    LENGTHS_COLUMN,
    W3Codec,
    W3PerDocReader,
    W3PerDocWriter,
    _lenfield,
)
from whoosh.columns import PickleColumn, VarBytesColumn
from whoosh.util.numeric import byte_to_length

# Each post's stored fields, pickled; Whoosh's W3 also compresses each with zlib, which cost
# 20-44 us a hit (half of reading its fields) for 40% of the stored bytes (100k posts: ~270 MB).
STORED_PICKLED = PickleColumn(VarBytesColumn())
_STORED_BYTES = VarBytesColumn()


def load_stored(data: bytes) -> dict[str, Any]:
    """A post's stored fields from their bytes (a pickle)."""
    return pickle.loads(data) if data else {}  # type: ignore[no-any-return]


class _PerDocWriter(W3PerDocWriter):  # type: ignore[misc]
    """Whoosh's per-document writer with stored fields pickled but not compressed."""

    def _create_column(self, fieldname: str, column: Any) -> None:
        super()._create_column(fieldname, STORED_PICKLED if fieldname == "_stored" else column)


class _PerDocReader(W3PerDocReader):  # type: ignore[misc]
    """Stored fields as pickles (load_stored), and field lengths decoded once per field into
    memory: BM25 asks for one per scored posting, and Whoosh answers each with a seek and a
    one-byte read of the length column."""

    def has_column(self, fieldname: str) -> bool:
        """Whoosh's, except that a column missing because its whole segment is gone raises
        FileNotFoundError: an incremental reindex deletes the files of the segments it merged
        away, and Whoosh would read no stored fields, default lengths and dates for a segment a
        searcher opened a moment before (which SearchIndex then opens again, newer)."""
        if super().has_column(fieldname):
            return True
        if not self._storage.file_exists(self._segment.make_filename(W3Codec.TERMS_EXT)):
            raise FileNotFoundError(f"segment {self._segment.segment_id()} was merged away")
        return False

    def stored_reader(self) -> Any:
        """The stored-fields column's bytes per document (None for a segment without any)."""
        return self._cached_reader("_stored", _STORED_BYTES)

    def stored_fields(self, docnum: int) -> dict[str, Any]:
        reader = self.stored_reader()
        return load_stored(reader[docnum]) if reader is not None else {}

    def doc_field_length(self, docnum: int, fieldname: str, default: int = 0) -> int | None:
        lengths = self.__dict__.setdefault("_lengths", {})
        table = lengths.get(fieldname)
        if table is None:
            column = self._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN)
            if column is None:
                return default
            table = lengths[fieldname] = [byte_to_length(b) if b else None for b in column]
        return table[docnum]  # type: ignore[no-any-return]


class _LengthCache:
    """Field lengths read once per field, not once per posting (Whoosh reads a column each time)."""

    def __init__(self, lengths: Any) -> None:
        self._lengths = lengths
        self._fields: dict[str, list[int]] = {}

    def doc_field_length(self, docnum: int, fieldname: str, default: int = 0) -> int:
        return self.field_table(fieldname, default)[docnum]

    def field_table(self, fieldname: str, default: int = 0) -> list[int]:
        table = self._fields.get(fieldname)
        if table is None:
            count = self._lengths.doc_count_all()
            table = [self._lengths.doc_field_length(d, fieldname, default) for d in range(count)]
            self._fields[fieldname] = table
        return table

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lengths, name)


def _length_cache(lengths: Any) -> _LengthCache | None:
    """A _LengthCache over a per-document reader (the one given, if it is one already)."""
    if not lengths or isinstance(lengths, _LengthCache):
        return lengths  # type: ignore[no-any-return]
    return _LengthCache(lengths)
