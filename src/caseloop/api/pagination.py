"""Cursors of the keyset pagination over the inbox order (resolve_due_at, id).

An offset would make page 2000 read 100,000 rows and would skip or repeat rows while cases
change; a keyset page (``cases.queries.inbox_page(after=…)``) reads only its own rows from the
(owner|unit, resolve_due_at, id) index. The cursor is the last row's key, base64-encoded so
that clients treat it as opaque.
"""

import base64
import binascii
import json
from datetime import datetime

from caseloop.cases.models import Case
from caseloop.errors import InvalidInput

Key = tuple[datetime | None, int]


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
