"""Moving a case to another unit: new owner, deadlines restarted only when the program says so."""

from datetime import datetime, timedelta

import pytest

from caseloop.cases import services
from caseloop.cases.models import Case, CaseEvent, EventKind
from caseloop.cases.tests.factories import close_as_resolved
from caseloop.conftest import Cast
from caseloop.errors import Forbidden, IllegalTransition, InvalidInput
from caseloop.org.tests.factories import make_unit, make_user

pytestmark = pytest.mark.django_db


def test_transfer_goes_to_the_new_units_designated_owner(cast: Cast, now: datetime) -> None:
    new_owner = make_user()
    shop = make_unit(parent=cast.region, owner=new_owner)
    services.transfer_case(cast.case, actor=cast.manager, unit=shop, now=now)
    case = Case.objects.get(pk=cast.case.pk)
    assert (case.unit, case.owner) == (shop, new_owner)
    event = CaseEvent.objects.get(case=case, kind=EventKind.TRANSFERRED)
    assert event.data["previous_owner"] == cast.owner.pk


def test_transfer_keeps_deadlines_by_default(cast: Cast, now: datetime) -> None:
    shop = make_unit(parent=cast.region)
    before = cast.case.resolve_due_at
    services.transfer_case(cast.case, actor=cast.manager, unit=shop, now=now + timedelta(days=1))
    assert Case.objects.get(pk=cast.case.pk).resolve_due_at == before


def test_transfer_restarts_deadlines_when_the_program_says_so(cast: Cast, now: datetime) -> None:
    cast.program.recompute_deadlines_on_transfer = True
    cast.program.save()
    shop = make_unit(parent=cast.region)
    services.transfer_case(cast.case, actor=cast.manager, unit=shop, now=now + timedelta(days=1))
    case = Case.objects.get(pk=cast.case.pk)
    # Tuesday 09:00 + 3 business days = Friday 09:00.
    assert case.resolve_due_at == now + timedelta(days=4)
    assert case.next_deadline_at == now + timedelta(days=2)


def test_transfer_of_a_started_case_watches_only_its_new_resolve_deadline(
    cast: Cast, now: datetime
) -> None:
    cast.program.recompute_deadlines_on_transfer = True
    cast.program.save()
    services.add_note(cast.case, actor=cast.owner, body="Called", now=now)
    shop = make_unit(parent=cast.region)
    services.transfer_case(cast.case, actor=cast.manager, unit=shop, now=now + timedelta(days=1))
    case = Case.objects.get(pk=cast.case.pk)
    assert case.next_deadline_at == case.resolve_due_at == now + timedelta(days=4)


def test_transfer_into_a_unit_beyond_ones_reach_is_refused(cast: Cast, now: datetime) -> None:
    with pytest.raises(Forbidden):
        services.transfer_case(cast.case, actor=cast.manager, unit=cast.other_store, now=now)
    assert Case.objects.get(pk=cast.case.pk).unit == cast.store


def test_transfer_to_the_same_unit_is_refused(cast: Cast, now: datetime) -> None:
    with pytest.raises(InvalidInput):
        services.transfer_case(cast.case, actor=cast.manager, unit=cast.store, now=now)


def test_closed_case_cannot_be_transferred(cast: Cast, now: datetime) -> None:
    close_as_resolved(cast.case, actor=cast.owner, now=now)
    with pytest.raises(IllegalTransition):
        services.transfer_case(
            cast.case, actor=cast.admin, unit=make_unit(parent=cast.region), now=now
        )
