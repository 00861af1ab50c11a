"""The database itself refuses rows that break the case rules, whatever code writes them."""

from datetime import datetime

import pytest
from django.db import IntegrityError, transaction

from caseloop.cases.models import Case, CaseWatcher, Status, WatcherAccess
from caseloop.conftest import Cast
from caseloop.org.models import Membership

pytestmark = pytest.mark.django_db


def test_closed_case_must_have_closed_at(cast: Cast) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Case.objects.filter(pk=cast.case.pk).update(status=Status.CLOSED, closed_at=None)


def test_open_case_cannot_carry_a_closing_status(cast: Cast) -> None:
    status = cast.program.closing_statuses.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Case.objects.filter(pk=cast.case.pk).update(closing_status=status)


def test_external_reference_is_unique(cast: Cast) -> None:
    Case.objects.filter(pk=cast.case.pk).update(external_source="survey", external_id="r1")
    duplicate = Case.objects.get(pk=cast.case.pk)
    duplicate.pk = None
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


def test_cases_without_external_reference_do_not_collide(cast: Cast) -> None:
    copy = Case.objects.get(pk=cast.case.pk)
    copy.pk = None
    copy.save()
    assert Case.objects.filter(external_id="").count() == 2


def test_user_watches_a_case_once(cast: Cast, now: datetime) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        CaseWatcher.objects.create(
            case=cast.case, user=cast.full_watcher, access=WatcherAccess.LIMITED, added_at=now
        )


def test_one_membership_per_user_and_unit(cast: Cast) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=cast.owner, unit=cast.store, role="manager")
