"""Every write to the organisation tree and its memberships."""

from django.db import transaction

from caseloop.errors import InvalidInput
from caseloop.org.models import Membership, Role, Unit, User


def _path_for(unit: Unit) -> str:
    parent_path = unit.parent.path if unit.parent_id else "/"
    return f"{parent_path}{unit.pk}/"


@transaction.atomic
def save_unit(unit: Unit) -> Unit:
    """Create or update a unit and keep the subtree paths of it and its descendants right.

    A unit may not become its own ancestor; moving a unit moves its whole subtree with it.
    """
    if unit.parent_id is not None:
        parent = Unit.objects.get(pk=unit.parent_id)
        if unit.pk is not None and f"/{unit.pk}/" in parent.path:
            raise InvalidInput("A unit cannot be placed below itself.", field="parent")
        unit.parent = parent
    old_path = unit.path if unit.pk else ""
    if unit.pk is None:
        unit.save()
    unit.path = _path_for(unit)
    unit.depth = unit.path.count("/") - 2
    unit.save()
    if old_path and old_path != unit.path:
        for child in Unit.objects.filter(path__startswith=old_path).exclude(pk=unit.pk):
            child.path = unit.path + child.path[len(old_path) :]
            child.depth = child.path.count("/") - 2
            child.save(update_fields=["path", "depth"])
    return unit


def create_unit(
    *,
    code: str,
    name: str,
    kind: str = "store",
    parent: Unit | None = None,
    owner: User | None = None,
    manager: User | None = None,
) -> Unit:
    """Add a unit below ``parent`` (or as a root) with its designated owner and manager."""
    return save_unit(
        Unit(code=code, name=name, kind=kind, parent=parent, owner=owner, manager=manager)
    )


def grant_role(*, user: User, unit: Unit, role: Role | str) -> Membership:
    """Give ``user`` a role on ``unit`` and its subtree, replacing any role they had there."""
    if role not in Role.values:
        raise InvalidInput(f"Unknown role {role!r}.", field="role")
    membership, _ = Membership.objects.update_or_create(
        user=user, unit=unit, defaults={"role": role}
    )
    return membership
