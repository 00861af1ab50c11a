"""Keyset ("cursor") pagination over the inbox order (resolve_due_at, id).

An offset would make page 2000 read 100,000 rows and would skip or repeat rows while cases
change; a keyset page reads only its own rows from the (owner|unit, resolve_due_at, id) index.
The cursor is the last row's key, base64-encoded so that clients treat it as opaque.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from django.db import connections
from django.db.models import Q, QuerySet

from caseloop.cases.models import Case
from caseloop.errors import InvalidInput

Key = tuple[datetime | None, int]


@dataclass(frozen=True)
class Page:
    items: list[Case]
    next_cursor: str | None


def encode_cursor(case: Case) -> str:
    due = case.resolve_due_at.isoformat() if case.resolve_due_at else None
    raw = json.dumps([due, case.pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Key:
    """The key a cursor stands for; anything we did not issue is a 422, never a 500."""
    bad = InvalidInput("The cursor is not valid; start again without one.", field="cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        due_text, pk = json.loads(raw)
        due = None if due_text is None else datetime.fromisoformat(due_text)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise bad from None
    if type(pk) is not int or not 0 < pk < 2**63 or (due is not None and due.tzinfo is None):
        raise bad
    return due, pk


def _after(cases: QuerySet[Case], key: Key) -> QuerySet[Case]:
    """Rows strictly after ``key`` in (resolve_due_at, id) order.

    Where NULL deadlines sort differs by database (last on PostgreSQL, first on SQLite), and
    the inbox keeps each database's native order so that its indexes serve it.
    """
    due, pk = key
    nulls_last = connections[cases.db].features.nulls_order_largest
    if due is None:
        later = Q(resolve_due_at__isnull=True, pk__gt=pk)
        return cases.filter(later if nulls_last else later | Q(resolve_due_at__isnull=False))
    later = Q(resolve_due_at__gt=due) | Q(resolve_due_at=due, pk__gt=pk)
    return cases.filter(later | Q(resolve_due_at__isnull=True) if nulls_last else later)


def paginate(cases: QuerySet[Case], cursor: str | None, limit: int) -> Page:
    """One page of ``cases`` (already ordered by resolve_due_at, id) after ``cursor``, in one
    query: one row more than asked tells whether another page follows."""
    if cursor:
        cases = _after(cases, decode_cursor(cursor))
    rows = list(cases[: limit + 1])
    if len(rows) <= limit:
        return Page(items=rows, next_cursor=None)
    items = rows[:limit]
    return Page(items=items, next_cursor=encode_cursor(items[-1]))
