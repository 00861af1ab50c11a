"""Reads about the organisation shared by the other apps."""

from collections.abc import Iterable, Mapping

from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.functions import Length, Substr

from caseloop.org.models import Membership, Unit, User


def subtree(unit: Unit) -> QuerySet[Unit]:
    """The unit and every unit below it."""
    return Unit.objects.filter(path__startswith=unit.path)


def units_reachable_by(user: User, roles: Iterable[str] | None = None) -> QuerySet[Unit]:
    """Units in the subtree of any unit where ``user`` holds one of ``roles`` (any if None).

    One query when evaluated, none when used as a subquery: a unit is reachable when the path
    of a unit the user holds a role on is a prefix of its own path.
    """
    memberships = Membership.objects.filter(
        user=user,
        unit__path=Substr(OuterRef("path"), 1, Length("unit__path")),
    )
    if roles is not None:
        memberships = memberships.filter(role__in=list(roles))
    return Unit.objects.filter(Exists(memberships))


def roles_on(user: User, unit: Unit) -> set[str]:
    """The roles ``user`` holds on ``unit`` through it or any of its ancestors."""
    return set(
        Membership.objects.filter(user=user, unit_id__in=unit.ancestor_ids).values_list(
            "role", flat=True
        )
    )


def cover_standing_in(user: User) -> User | None:
    """Who takes new work for ``user`` while they are away: their cover, when set, active and
    not away as well."""
    cover = user.cover
    return cover if cover is not None and cover.is_active and not cover.is_away else None


def manager_chain(unit: Unit) -> list[User]:
    """Managers from the unit upwards, nearest first, each once."""
    ancestors = Unit.objects.select_related("manager").in_bulk(unit.ancestor_ids)
    return managers_upwards(unit, ancestors)


def managers_upwards(unit: Unit, ancestors: Mapping[int, Unit]) -> list[User]:
    """``manager_chain`` of ``unit`` from its ancestors read already (with their managers), for
    callers that read the ancestors of many units in one query."""
    chain: list[User] = []
    for unit_id in reversed(unit.ancestor_ids):
        ancestor = ancestors.get(unit_id)
        if ancestor and ancestor.manager and ancestor.manager not in chain:
            chain.append(ancestor.manager)
    return chain


def designated_owner(unit: Unit) -> User | None:
    """The nearest designated owner from the unit upwards."""
    ancestors = {
        u.pk: u
        for u in Unit.objects.select_related("owner__cover").filter(pk__in=unit.ancestor_ids)
    }
    for unit_id in reversed(unit.ancestor_ids):
        ancestor = ancestors.get(unit_id)
        if ancestor and ancestor.owner:
            return ancestor.owner
    return None
