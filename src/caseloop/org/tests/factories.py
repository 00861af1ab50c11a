"""Builders for users, units and memberships with sensible defaults."""

import itertools

from caseloop.org.models import Membership, Role, Unit, User
from caseloop.org.services import create_unit, grant_role

_sequence = itertools.count(1)


def make_user(**overrides: object) -> User:
    n = next(_sequence)
    fields: dict[str, object] = {
        "username": f"user{n}",
        "email": f"user{n}@example.test",
        "first_name": "User",
        "last_name": str(n),
    }
    fields.update(overrides)
    password = fields.pop("password", "correct horse battery staple")
    user = User(**fields)
    user.set_password(str(password))
    user.save()
    return user


def make_unit(**overrides: object) -> Unit:
    n = next(_sequence)
    fields: dict[str, object] = {"code": f"unit-{n}", "name": f"Unit {n}", "kind": "store"}
    fields.update(overrides)
    return create_unit(**fields)  # type: ignore[arg-type]


def make_membership(user: User, unit: Unit, role: str = Role.AGENT) -> Membership:
    return grant_role(user=user, unit=unit, role=role)
