"""Builders for customers."""

import itertools

from caseloop.customers.models import Customer
from caseloop.customers.services import create_customer

_sequence = itertools.count(1)


def make_customer(**overrides: object) -> Customer:
    n = next(_sequence)
    fields: dict[str, object] = {
        "name": f"Customer {n}",
        "email": f"customer{n}@example.test",
        "phone": f"+1 202 555 01{n % 100:02d}",
    }
    fields.update(overrides)
    return create_customer(**fields)  # type: ignore[arg-type]
