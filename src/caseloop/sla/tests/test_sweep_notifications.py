"""The sweep tells people in bulk (``notify_case_events``): exactly what one
``notify_case_event`` per event would write, and nothing twice."""

from datetime import datetime

import pytest

from caseloop.cases.models import CaseEvent, EventKind
from caseloop.conftest import Cast
from caseloop.notify.models import InAppNotification, OutboxMessage, WebhookSubscription
from caseloop.notify.services import notify_case_event, notify_case_events, set_watcher_mail
from caseloop.notify.tests.factories import written

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(cast: Cast, now: datetime) -> list[CaseEvent]:
    """Two of each kind the sweep writes, on a case whose people include a watcher who opted
    out of watcher mail and an inactive one, in a program with a webhook subscription."""
    set_watcher_mail(cast.full_watcher, enabled=False)
    cast.limited_watcher.is_active = False
    cast.limited_watcher.save()
    WebhookSubscription.objects.create(
        program=cast.program, name="BI", url="https://bi.example.com/hook", events=[]
    )
    escalated = {"deadline": "start", "level": 1, "designee": cast.manager.pk, "action": "watch"}
    overdue = {"resolve_due_at": now.isoformat()}
    return [
        CaseEvent.objects.create(case=cast.case, kind=kind, data=data, created_at=now)
        for kind, data in [
            (EventKind.ESCALATED, escalated),
            (EventKind.OVERDUE, overdue),
            (EventKind.ESCALATED, escalated),
            (EventKind.OVERDUE, overdue),
        ]
    ]


def test_bulk_notification_writes_what_one_call_per_event_writes(
    events: list[CaseEvent],
) -> None:
    one_by_one, in_bulk = events[:2], events[2:]
    for event in one_by_one:
        notify_case_event(event)
    notify_case_events(in_bulk)
    for single, bulk in zip(one_by_one, in_bulk, strict=True):
        assert written(bulk) == written(single)
        outbox, in_app = written(bulk)
        assert len(outbox) == 2 and in_app  # an email, a webhook delivery, in-app lines


def test_bulk_notification_of_events_already_told_writes_nothing(
    events: list[CaseEvent],
) -> None:
    notify_case_event(events[0])
    notify_case_events(events)
    rows = (OutboxMessage.objects.count(), InAppNotification.objects.count())
    notify_case_events(events)
    assert (OutboxMessage.objects.count(), InAppNotification.objects.count()) == rows
    assert written(events[2]) == written(events[0])
