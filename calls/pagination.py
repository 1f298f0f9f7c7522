"""Keyset pagination on (timestamp, id), newest first: no COUNT(*), no OFFSET.

A cursor is "<epoch microseconds>_<id>" of a boundary row; "older" pages start after the
last row shown, "newer" pages end before the first.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Q, QuerySet

_CURSOR = re.compile(r"^(-?\d{1,17})_(\d{1,19})$")


class BadCursor(ValueError):
    pass


def encode(moment: datetime, pk: int) -> str:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"{micros}_{pk}"


def decode(cursor: str) -> tuple[datetime, int]:
    match = _CURSOR.match(cursor or "")
    if not match:
        raise BadCursor("Not a page position")
    micros, pk = int(match[1]), int(match[2])
    try:
        moment = datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise BadCursor("Not a page position") from None
    return moment.replace(microsecond=micros % 1_000_000), pk


@dataclass
class Page:
    rows: list
    newer: str | None  # cursor for the "newer" link, None on the first page
    older: str | None  # cursor for the "older" link, None on the last page


def keyset_page(qs: QuerySet, field: str, *, before: str = "", after: str = "", size: int) -> Page:
    if after:
        moment, pk = decode(after)
        newer_side = Q(**{f"{field}__gt": moment}) | Q(**{field: moment, "pk__gt": pk})
        rows = list(qs.filter(newer_side).order_by(field, "pk")[: size + 1])
        has_newer = len(rows) > size
        rows = rows[:size][::-1]
        return Page(
            rows,
            _cursor(rows[0], field) if has_newer and rows else None,
            _cursor(rows[-1], field) if rows else after,
        )
    ordered = qs.order_by(f"-{field}", "-pk")
    if before:
        moment, pk = decode(before)
        ordered = ordered.filter(Q(**{f"{field}__lt": moment}) | Q(**{field: moment, "pk__lt": pk}))
    rows = list(ordered[: size + 1])
    has_older = len(rows) > size
    rows = rows[:size]
    newer = (_cursor(rows[0], field) if rows else before) if before else None
    return Page(rows, newer, _cursor(rows[-1], field) if has_older else None)


def _cursor(row, field: str) -> str:
    return encode(getattr(row, field), row.pk)
