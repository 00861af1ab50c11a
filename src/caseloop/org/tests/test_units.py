"""The unit tree: subtree paths follow every move, and a unit cannot sit below itself."""

import pytest

from caseloop.errors import InvalidInput
from caseloop.org.models import Role, Unit
from caseloop.org.queries import designated_owner, manager_chain, roles_on, units_reachable_by
from caseloop.org.services import grant_role, save_unit
from caseloop.org.tests.factories import make_membership, make_unit, make_user

pytestmark = pytest.mark.django_db


def test_path_lists_ids_from_the_root() -> None:
    root = make_unit()
    child = make_unit(parent=root)
    grandchild = make_unit(parent=child)
    assert grandchild.path == f"/{root.pk}/{child.pk}/{grandchild.pk}/"
    assert (root.depth, child.depth, grandchild.depth) == (0, 1, 2)


def test_moving_a_unit_moves_its_subtree() -> None:
    north, south = make_unit(), make_unit()
    store = make_unit(parent=north)
    shelf = make_unit(parent=store)
    store.parent = south
    save_unit(store)
    shelf.refresh_from_db()
    assert shelf.path == f"/{south.pk}/{store.pk}/{shelf.pk}/"


def test_unit_cannot_be_placed_below_itself() -> None:
    top = make_unit()
    below = make_unit(parent=top)
    top.parent = below
    with pytest.raises(InvalidInput):
        save_unit(top)
    assert Unit.objects.get(pk=top.pk).parent_id is None


def test_role_on_a_unit_reaches_its_subtree_only() -> None:
    region, other = make_unit(), make_unit()
    store = make_unit(parent=region)
    user = make_user()
    make_membership(user, region, Role.MANAGER)
    assert set(units_reachable_by(user)) == {region, store}
    assert roles_on(user, store) == {Role.MANAGER}
    assert roles_on(user, other) == set()


def test_granting_a_role_again_replaces_it() -> None:
    unit, user = make_unit(), make_user()
    grant_role(user=user, unit=unit, role=Role.AGENT)
    grant_role(user=user, unit=unit, role=Role.MANAGER)
    assert list(user.memberships.values_list("role", flat=True)) == [Role.MANAGER]


def test_unknown_role_is_refused() -> None:
    with pytest.raises(InvalidInput):
        grant_role(user=make_user(), unit=make_unit(), role="emperor")


def test_manager_chain_runs_upwards_without_repeats() -> None:
    boss, regional = make_user(), make_user()
    corporate = make_unit(manager=boss)
    region = make_unit(parent=corporate, manager=regional)
    store = make_unit(parent=region, manager=regional)
    assert manager_chain(store) == [regional, boss]


def test_designated_owner_falls_back_to_ancestors() -> None:
    owner = make_user()
    region = make_unit(owner=owner)
    store = make_unit(parent=region)
    assert designated_owner(store) == owner
    assert designated_owner(make_unit()) is None
