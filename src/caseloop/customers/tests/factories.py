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
        # London's numbers for drama (020 7946 0000-0999): the US ones for fiction, 555-0100
        # to 0199, are what tests write by hand, and a built customer must never share one.
        "phone": f"+44 20 7946 0{n % 1000:03d}",
    }
    fields.update(overrides)
    return create_customer(**fields)  # type: ignore[arg-type]
