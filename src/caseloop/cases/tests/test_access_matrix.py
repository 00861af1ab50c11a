"""Every case service × every role: who may act, who may only read, who cannot see the case."""

from collections.abc import Callable
from datetime import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from caseloop.cases import services
from caseloop.cases.models import Case, CaseEvent, ContactOutcome, Status, WatcherAccess
from caseloop.cases.queries import visible_cases
from caseloop.conftest import Cast
from caseloop.errors import Forbidden, NotFound
from caseloop.org.models import User
from caseloop.org.tests.factories import make_user

pytestmark = pytest.mark.django_db

Action = Callable[[Cast, User, datetime], object]


def _close(cast: Cast, actor: User, now: datetime) -> object:
    return services.close_case(
        cast.case,
        actor=actor,
        closing_status_id=cast.program.closing_statuses.get(code="resolved").pk,
        root_cause_ids=[cast.program.root_causes.first().pk],
        final_note="Refunded",
        now=now,
    )


def _reopen(cast: Cast, actor: User, now: datetime) -> object:
    return services.reopen_case(cast.case, actor=actor, reason="Customer called back", now=now)


ACTIONS: dict[str, Action] = {
    "add_note": lambda c, a, n: services.add_note(c.case, actor=a, body="Called", now=n),
    "attach_file": lambda c, a, n: services.attach_file(
        c.case,
        actor=a,
        upload=SimpleUploadedFile("r.pdf", b"%PDF-1.4", content_type="application/pdf"),
        now=n,
    ),
    "log_contact_attempt": lambda c, a, n: services.log_contact_attempt(
        c.case, actor=a, outcome=ContactOutcome.NO_ANSWER, now=n
    ),
    "complete_task": lambda c, a, n: services.complete_task(
        c.case, actor=a, task_id=c.case.tasks.first().pk, now=n
    ),
    "assign_case": lambda c, a, n: services.assign_case(c.case, actor=a, owner=make_user(), now=n),
    "add_watcher": lambda c, a, n: services.add_watcher(
        c.case, actor=a, user=make_user(), access=WatcherAccess.LIMITED, now=n
    ),
    "remove_watcher": lambda c, a, n: services.remove_watcher(
        c.case, actor=a, user=c.limited_watcher, now=n
    ),
    "close_case": _close,
    "reopen_case": _reopen,
}

# What must be true before the action makes sense, done by the owner.
PRECONDITIONS: dict[str, Action] = {"reopen_case": _close}


def arrange(cast: Cast, action: str, now: datetime) -> None:
    if action in PRECONDITIONS:
        PRECONDITIONS[action](cast, cast.owner, now)


WRITERS = ["owner", "full_watcher", "manager", "admin"]
READERS = ["limited_watcher", "viewer", "member"]
STRANGERS = ["outsider"]


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", WRITERS)
def test_writers_may_act(cast: Cast, now: datetime, role: str, action: str) -> None:
    arrange(cast, action, now)
    before = CaseEvent.objects.filter(case=cast.case).count()
    ACTIONS[action](cast, cast.user(role), now)
    assert CaseEvent.objects.filter(case=cast.case).count() > before


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", READERS)
def test_readers_are_refused_and_nothing_changes(
    cast: Cast, now: datetime, role: str, action: str
) -> None:
    arrange(cast, action, now)
    before = CaseEvent.objects.filter(case=cast.case).count()
    version = Case.objects.get(pk=cast.case.pk).version
    with pytest.raises(Forbidden):
        ACTIONS[action](cast, cast.user(role), now)
    assert CaseEvent.objects.filter(case=cast.case).count() == before
    assert Case.objects.get(pk=cast.case.pk).version == version


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", STRANGERS)
def test_strangers_get_not_found(cast: Cast, now: datetime, role: str, action: str) -> None:
    arrange(cast, action, now)
    before = CaseEvent.objects.filter(case=cast.case).count()
    with pytest.raises(NotFound):
        ACTIONS[action](cast, cast.user(role), now)
    assert CaseEvent.objects.filter(case=cast.case).count() == before


@pytest.mark.parametrize("role", [*WRITERS, *READERS])
def test_everyone_with_a_role_sees_the_case(cast: Cast, role: str) -> None:
    assert visible_cases(cast.user(role)).filter(pk=cast.case.pk).exists()


def test_outsider_does_not_see_the_case(cast: Cast) -> None:
    assert not visible_cases(cast.outsider).filter(pk=cast.case.pk).exists()


def test_inactive_owner_loses_access(cast: Cast, now: datetime) -> None:
    cast.owner.is_active = False
    cast.owner.save()
    with pytest.raises(NotFound):
        services.add_note(cast.case, actor=cast.owner, body="x", now=now)
    assert Case.objects.get(pk=cast.case.pk).status == Status.NEW
