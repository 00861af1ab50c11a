"""Events queued to be told later (``UntoldEvent``): the sweep queues them in its own
transaction, the worker's telling writes exactly what telling at once would have written, to
the people of that moment, and each event is told once however often telling runs or fails."""

from datetime import datetime, timedelta

import pytest
from django.db import connection

from caseloop.cases.models import Case, CaseEvent, CaseWatcher, EventKind
from caseloop.conftest import Cast
from caseloop.notify import telling
from caseloop.notify.models import InAppNotification, OutboxMessage, UntoldEvent
from caseloop.notify.services import notify_case_event
from caseloop.notify.telling import queue_untold_events, tell_untold_events
from caseloop.notify.tests.factories import written
from caseloop.sla.services import sweep_deadlines

pytestmark = pytest.mark.django_db

# The cast's case was opened on Monday 09:00: due to start on Tuesday 09:00.
AFTER_START_DEADLINE = timedelta(days=1, hours=1)


def escalated_event(case: Case, designee: int, at: datetime) -> CaseEvent:
    data = {"deadline": "start", "level": 1, "designee": designee, "action": "watch"}
    return CaseEvent.objects.create(case=case, kind=EventKind.ESCALATED, data=data, created_at=at)


def watcher_ids(case: Case) -> list[int]:
    return list(CaseWatcher.objects.filter(case=case).values_list("user_id", flat=True))


def test_the_sweep_queues_its_events_and_telling_them_writes_the_notifications(
    cast: Cast, now: datetime
) -> None:
    sweep_deadlines(now=now + AFTER_START_DEADLINE)
    events = list(CaseEvent.objects.filter(case=cast.case, kind=EventKind.ESCALATED))
    assert len(events) == 1
    queued = UntoldEvent.objects.get()
    assert queued.event_id == events[0].pk
    assert queued.owner_id == cast.owner.pk
    assert queued.watcher_ids == sorted(watcher_ids(cast.case))
    assert not OutboxMessage.objects.filter(event=events[0]).exists()

    result = tell_untold_events()

    assert (result.events_told, result.batches) == (1, 1)
    assert OutboxMessage.objects.filter(event=events[0], template_event="escalated").exists()
    assert InAppNotification.objects.filter(event=events[0], user=cast.owner).exists()
    assert not UntoldEvent.objects.exists()


def test_telling_a_queued_event_writes_what_telling_it_at_once_writes(
    cast: Cast, now: datetime
) -> None:
    at_once, later = (escalated_event(cast.case, cast.manager.pk, now) for _ in range(2))
    notify_case_event(at_once)
    queue_untold_events([(later.pk, cast.case.owner_id, watcher_ids(cast.case))])

    tell_untold_events()

    assert written(later) == written(at_once)
    outbox, in_app = written(later)
    assert outbox and len(in_app) >= 2


def test_the_people_told_are_those_of_the_moment_the_event_happened(
    cast: Cast, now: datetime
) -> None:
    event = escalated_event(cast.case, cast.manager.pk, now)
    # Queued when only the full watcher watched and the member owned the case; since then the
    # owner and the other watchers took over.
    queue_untold_events([(event.pk, cast.member.pk, [cast.full_watcher.pk])])

    tell_untold_events()

    told = set(InAppNotification.objects.filter(event=event).values_list("user_id", flat=True))
    assert cast.member.pk in told and cast.full_watcher.pk in told
    assert cast.owner.pk not in told, "today's owner was not the owner then"
    assert cast.limited_watcher.pk not in told, "a watcher added since is not told"
    assert Case.objects.get(pk=cast.case.pk).owner == cast.owner, "the case is left as it is"


def test_telling_again_tells_nothing_twice(cast: Cast, now: datetime) -> None:
    sweep_deadlines(now=now + AFTER_START_DEADLINE)
    tell_untold_events()
    rows = (OutboxMessage.objects.count(), InAppNotification.objects.count())

    assert tell_untold_events().events_told == 0
    assert (OutboxMessage.objects.count(), InAppNotification.objects.count()) == rows


def test_a_telling_that_fails_half_way_leaves_its_events_queued_and_the_next_tells_them_once(
    cast: Cast, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = [escalated_event(cast.case, cast.manager.pk, now) for _ in range(3)]
    queue_untold_events([(e.pk, cast.owner.pk, watcher_ids(cast.case)) for e in events])
    real_delete = telling.delete_in

    def crash_after_writing(*args: object, **kwargs: object) -> None:
        raise ConnectionError("the database went away")

    monkeypatch.setattr(telling, "delete_in", crash_after_writing)
    with pytest.raises(ConnectionError):
        tell_untold_events(batch_size=2)
    assert UntoldEvent.objects.count() == 3
    assert not OutboxMessage.objects.filter(event__in=events).exists(), "rolled back"

    monkeypatch.setattr(telling, "delete_in", real_delete)
    result = tell_untold_events(batch_size=2)

    assert (result.events_told, result.batches) == (3, 2)
    emails = OutboxMessage.objects.filter(event__in=events, template_event="escalated")
    assert sorted(emails.values_list("event_id", flat=True)) == sorted(e.pk for e in events)


def test_events_are_told_oldest_first_in_batches(cast: Cast, now: datetime) -> None:
    events = [escalated_event(cast.case, cast.manager.pk, now) for _ in range(5)]
    queue_untold_events([(e.pk, cast.owner.pk, []) for e in reversed(events)])

    first = telling._tell_batch(2)

    assert first == 2
    assert sorted(UntoldEvent.objects.values_list("event_id", flat=True)) == [
        e.pk for e in events[2:]
    ]


@pytest.mark.django_db(transaction=True)
def test_a_teller_passes_over_the_events_another_is_telling(cast: Cast, now: datetime) -> None:
    """PostgreSQL: rows another worker holds are skipped, not waited for nor told twice.
    SQLite has one writer at a time, so the second teller can only come after the first."""
    from django.db import connections

    events = [escalated_event(cast.case, cast.manager.pk, now) for _ in range(4)]
    queue_untold_events([(e.pk, cast.owner.pk, []) for e in events])
    if connection.vendor != "postgresql":
        tell_untold_events()
        tell_untold_events()
    else:
        other = connections.create_connection("default")
        try:
            other.set_autocommit(False)
            with other.cursor() as cursor:
                table = UntoldEvent._meta.db_table
                cursor.execute(
                    f"SELECT event_id FROM {table} WHERE event_id IN (%s, %s) FOR UPDATE",  # noqa: S608
                    [events[0].pk, events[1].pk],
                )
            assert tell_untold_events().events_told == 2
            assert sorted(UntoldEvent.objects.values_list("event_id", flat=True)) == [
                events[0].pk,
                events[1].pk,
            ]
            other.rollback()
        finally:
            other.close()
        assert tell_untold_events().events_told == 2
    emails = OutboxMessage.objects.filter(event__in=events, template_event="escalated")
    assert sorted(emails.values_list("event_id", flat=True)) == [e.pk for e in events]
    assert not UntoldEvent.objects.exists()
