"""Engine, on disk: positions — where a term occurs in a field, as each posting's value: a type
code ("H", or "I" when a gap does not fit 16 bits), then the gaps in native byte order (3 bytes
for the usual single position, where Whoosh pickles 13). Written a posting at a time (encode) or
a batch at a time (encode_many), decoded a posting at a time or a term's postings at once
(start_keys, for substring phrases)."""

from __future__ import annotations

from array import array
from itertools import accumulate

import numpy as np


def encode(poslist: list[int]) -> bytes:
    deltas = [b - a for a, b in zip([0] + poslist, poslist)]
    code = "H" if max(deltas, default=0) < 65536 else "I"
    return code.encode() + array(code, deltas).tobytes()


def decode(value: bytes) -> list[int]:
    deltas = array(chr(value[0]))
    deltas.frombytes(value[1:])
    return list(accumulate(deltas))


def count(value: bytes) -> int:
    """How many positions a value holds, without decoding them."""
    return (len(value) - 1) // array(chr(value[0])).itemsize


def encode_many(positions: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """encode for many postings at once: `positions` of every posting end to end, `starts` where
    each posting's begin; returns each posting's offset in one buffer (and the end), and the buffer."""
    count = len(positions)
    gaps = positions.copy()
    gaps[1:] -= positions[:-1]
    gaps[starts] = positions[starts]
    freq = np.diff(np.append(starts, count))
    wide = np.maximum.reduceat(gaps, starts) >= 65536 if count else np.zeros(0, dtype=bool)
    width = np.where(wide, 4, 2)
    sizes = 1 + freq * width
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    buffer = np.empty(int(offsets[-1]), dtype=np.uint8)
    buffer[offsets[:-1]] = np.where(wide, ord("I"), ord("H"))
    posting = np.repeat(np.arange(len(starts)), freq)
    rank = np.arange(count) - np.repeat(starts, freq)
    at = offsets[posting] + 1 + rank * width[posting]
    for size, code in ((2, "=u2"), (4, "=u4")):
        pick = width[posting] == size
        if pick.any():
            data = gaps[pick].astype(code).view(np.uint8).reshape(-1, size)
            buffer[at[pick][:, None] + np.arange(size)] = data
    return offsets, buffer


def start_keys(docs: np.ndarray, blob: bytes, sizes: np.ndarray, offset: int) -> np.ndarray:
    """(document << 32 | position - offset) for every position of one term, from its postings'
    packed positions (`blob`, `sizes` bytes each): where the phrase would start if this term is
    its offset-th. Sorted and unique."""
    data = np.frombuffer(blob, dtype=np.uint8)
    heads = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    if len(data) and (data[heads] == ord("H")).all():
        counts = (sizes - 1) // 2
        body = np.ones(len(data), dtype=bool)
        body[heads] = False
        gaps = data[body].view("=u2").astype(np.int64)
        positions = np.cumsum(gaps)
        before = np.concatenate([[0], np.cumsum(counts)[:-1]])
        positions -= np.repeat(positions[before] - gaps[before], counts)
    else:  # some positions needed 32 bits, decode one by one
        ends = np.cumsum(sizes).tolist()
        decoded = [decode(blob[a:b]) for a, b in zip([0, *ends], ends)]
        counts = np.fromiter(map(len, decoded), dtype=np.int64, count=len(decoded))
        positions = np.fromiter((p for ps in decoded for p in ps), dtype=np.int64, count=int(counts.sum()))
    keys = (np.repeat(docs, counts) << 32) | (positions - offset)
    return keys[positions >= offset]  # type: ignore[no-any-return]
