"""Which notifications a case event writes, and to whom (nothing is sent here)."""

from datetime import datetime, timedelta
from email.utils import parseaddr

import pytest
from django.db import transaction

from caseloop.cases.models import CaseEvent, EventKind
from caseloop.cases.services import (
    add_note,
    add_watcher,
    assign_case,
    close_case,
)
from caseloop.cases.tests.factories import make_case
from caseloop.conftest import Cast
from caseloop.notify.models import NotificationTemplate, OutboxKind, OutboxMessage
from caseloop.notify.services import notify_case_event, set_watcher_mail
from caseloop.notify.tests.conftest import notify_events_of
from caseloop.programs.models import ClosingStatus, RootCause
from caseloop.sla.services import sweep_deadlines


def emails(case_id: int, template_event: str) -> list[OutboxMessage]:
    return list(
        OutboxMessage.objects.filter(
            case_id=case_id, kind=OutboxKind.EMAIL, template_event=template_event
        )
    )


def addresses(values: list[str]) -> list[str]:
    return sorted(parseaddr(value)[1] for value in values)


def test_new_case_emails_its_owner_with_the_watchers_in_copy(cast: Cast, now: datetime) -> None:
    case = make_case(program=cast.program, unit=cast.store, now=now)
    notify_events_of(case)
    [email] = emails(case.pk, "created")
    assert addresses(email.recipients["to"]) == [cast.owner.email]
    assert addresses(email.recipients["cc"]) == [cast.manager.email]


def test_the_email_row_is_due_at_once_with_a_stable_message_id(cast: Cast, now: datetime) -> None:
    case = make_case(program=cast.program, unit=cast.store, now=now)
    notify_events_of(case)
    [email] = emails(case.pk, "created")
    assert email.next_attempt_at == now
    assert email.message_id.startswith("<") and email.message_id.endswith("@caseloop.test>")
    assert case.number in email.message_id


def test_assignment_emails_the_new_owner(cast: Cast, now: datetime) -> None:
    assign_case(cast.case, actor=cast.manager, owner=cast.member, now=now)
    notify_events_of(cast.case)
    [email] = emails(cast.case.pk, "assigned")
    assert addresses(email.recipients["to"]) == [cast.member.email]


def test_watcher_who_opted_out_gets_no_copy(cast: Cast, now: datetime) -> None:
    set_watcher_mail(cast.full_watcher, enabled=False)
    assign_case(cast.case, actor=cast.manager, owner=cast.member, now=now)
    notify_events_of(cast.case)
    [email] = emails(cast.case.pk, "assigned")
    assert cast.full_watcher.email not in addresses(email.recipients["cc"])
    assert cast.limited_watcher.email in addresses(email.recipients["cc"])


def test_the_former_owner_gets_a_copy_of_the_assignment(cast: Cast, now: datetime) -> None:
    assign_case(cast.case, actor=cast.manager, owner=cast.member, now=now)
    notify_events_of(cast.case)
    [email] = emails(cast.case.pk, "assigned")
    assert cast.owner.email in addresses(email.recipients["cc"])


def test_the_person_who_acted_is_not_mailed_about_it(cast: Cast, now: datetime) -> None:
    status = ClosingStatus.objects.get(program=cast.program, code="resolved")
    cause = RootCause.objects.get(program=cast.program, code="staff")
    close_case(
        cast.case,
        actor=cast.owner,
        closing_status_id=status.pk,
        root_cause_ids=[cause.pk],
        final_note="Apologised and refunded.",
        now=now,
    )
    notify_events_of(cast.case)
    [email] = emails(cast.case.pk, "closed")
    everyone = addresses(email.recipients["to"] + email.recipients["cc"])
    assert cast.owner.email not in everyone
    assert cast.full_watcher.email in everyone


def test_an_added_watcher_is_mailed_alone(cast: Cast, now: datetime) -> None:
    add_watcher(cast.case, actor=cast.owner, user=cast.member, now=now)
    notify_events_of(cast.case)
    email = OutboxMessage.objects.get(event__kind="watcher_added", event__data__user=cast.member.pk)
    assert addresses(email.recipients["to"]) == [cast.member.email]
    assert email.recipients["cc"] == []


def test_escalation_is_addressed_to_the_designee_with_the_owner_in_copy(
    cast: Cast, now: datetime
) -> None:
    sweep_deadlines(now=now + timedelta(days=30))
    notify_events_of(cast.case)
    first = min(emails(cast.case.pk, "escalated"), key=lambda e: e.pk)
    assert addresses(first.recipients["to"]) == [cast.manager.email]
    assert cast.owner.email in addresses(first.recipients["cc"])


def test_a_late_case_mails_its_owner_that_it_is_overdue(cast: Cast, now: datetime) -> None:
    sweep_deadlines(now=now + timedelta(days=30))
    notify_events_of(cast.case)
    [email] = emails(cast.case.pk, "overdue")
    assert addresses(email.recipients["to"]) == [cast.owner.email]


def test_the_same_event_notified_twice_writes_one_row(cast: Cast, now: datetime) -> None:
    assign_case(cast.case, actor=cast.manager, owner=cast.member, now=now)
    event = CaseEvent.objects.get(case=cast.case, kind=EventKind.ASSIGNED)
    notify_case_event(event)
    notify_case_event(event)
    assert len(emails(cast.case.pk, "assigned")) == 1


def test_a_note_mails_nobody(cast: Cast, now: datetime) -> None:
    add_note(cast.case, actor=cast.owner, body="Called the customer.", now=now)
    event = CaseEvent.objects.get(case=cast.case, kind=EventKind.NOTE_ADDED)
    notify_case_event(event)
    assert not OutboxMessage.objects.filter(event=event).exists()


def test_a_program_can_turn_an_email_off(cast: Cast, now: datetime) -> None:
    NotificationTemplate.objects.create(
        program=cast.program, event="assigned", subject="x", body_text="x", is_active=False
    )
    assign_case(cast.case, actor=cast.manager, owner=cast.member, now=now)
    notify_events_of(cast.case)
    assert emails(cast.case.pk, "assigned") == []


def test_case_service_writes_its_notifications_in_its_own_transaction(
    cast: Cast, now: datetime
) -> None:
    """End to end: the case service itself calls ``notify_case_event``. The row exists inside
    the service's transaction and disappears with its rollback."""
    with pytest.raises(RuntimeError), transaction.atomic():
        assign_case(cast.case, actor=cast.manager, owner=cast.member, now=now)
        assert len(emails(cast.case.pk, "assigned")) == 1
        raise RuntimeError("the caller's transaction fails after the service call")
    assert emails(cast.case.pk, "assigned") == []
