"""Ingest stage: the date shapes found in front matter and file names."""

from __future__ import annotations

import datetime as dt
import re
from email.utils import parsedate_to_datetime
from typing import Any

UTC = dt.timezone.utc

_DATE_RE = re.compile(
    r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
    r"(?:[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.\d+)?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?\s*$",
    re.IGNORECASE,
)
_NAME_DATE_RE = re.compile(r"(?<!\d)((?:19|20)\d{2})-?(\d{2})-?(\d{2})(?!\d)")


def parse_date(value: Any, tz: dt.tzinfo = UTC) -> dt.datetime | None:
    """Every date shape of DESIGN.md -> an aware UTC datetime, or None. Naive values are in `tz`."""
    stamp = parse_stamp(value, tz)
    return None if stamp is None else stamp.astimezone(UTC)


def parse_stamp(value: Any, tz: dt.tzinfo = UTC) -> dt.datetime | None:
    """Like parse_date, but in the zone the value was written in (site generators put that
    wall-clock date into URLs)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        stamp = value
    elif isinstance(value, dt.date):
        stamp = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if value > 10**11:  # milliseconds since the epoch
            value = value / 1000
        return dt.datetime.fromtimestamp(value, UTC)
    else:
        text = str(value).strip()
        found = _DATE_RE.match(text)
        if found:
            y, mo, d, h, mi, s, zone = found.groups()
            try:
                stamp = dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
            except ValueError:
                return None
            if zone:
                stamp = stamp.replace(tzinfo=_zone(zone))
        else:
            try:
                stamp = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=tz)
    return stamp


def _zone(text: str) -> dt.timezone:
    if text.upper() == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def date_in_name(name: str, tz: dt.tzinfo = UTC) -> dt.datetime | None:
    """A YYYY-MM-DD (or YYYYMMDD) date in a file name, at midnight in `tz`."""
    found = _NAME_DATE_RE.search(name)
    return parse_stamp("-".join(found.groups()), tz) if found else None
