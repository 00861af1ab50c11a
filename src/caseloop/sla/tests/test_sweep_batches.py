"""The sweep handles its due cases in batches of one transaction: every kind of due case in one
batch, cases changed by someone else in the meantime left alone, a bad case isolated, and a
number of queries per batch that does not grow with the cases in it."""

import gc
import logging
from datetime import datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from caseloop.cases import services
from caseloop.cases.models import Case, CaseEvent, EventKind, Status
from caseloop.cases.tests.factories import close_as_resolved, make_case
from caseloop.conftest import Cast
from caseloop.notify.models import OutboxMessage
from caseloop.notify.telling import tell_untold_events
from caseloop.org.tests.factories import make_unit, make_user
from caseloop.programs.models import EscalationAction
from caseloop.programs.tests.factories import make_program
from caseloop.sla import services as sla_services
from caseloop.sla.models import DeadlineKind, Escalation, UnitCalendar
from caseloop.sla.services import due_cases, sweep_deadlines, sweep_listed_cases

pytestmark = pytest.mark.django_db

# Cases opened on Monday 09:00 are due to start on Tuesday 09:00 and to be resolved on
# Thursday 09:00; the second escalation step falls one business day later.
TUESDAY = timedelta(days=1)
THURSDAY = timedelta(days=3)


def steps(case: Case) -> list[tuple[str, int]]:
    return [(e.deadline, e.level) for e in Escalation.objects.filter(case=case).order_by("id")]


def listed(at: datetime) -> list[tuple[int, datetime]]:
    return list(due_cases(at).values_list("pk", "next_deadline_at"))


def test_one_batch_handles_every_kind_of_due_case(cast: Cast, now: datetime) -> None:
    new = make_case(program=cast.program, unit=cast.store, now=now)
    started = make_case(program=cast.program, unit=cast.store, now=now)
    services.add_note(started, actor=cast.owner, body="Called", now=now)
    late = make_case(program=cast.program, unit=cast.store, now=now - timedelta(days=5))
    services.add_note(late, actor=cast.owner, body="Called", now=now - timedelta(days=5))
    at = now + TUESDAY
    result = sweep_deadlines(now=at, batch_size=50)
    assert steps(new) == [(DeadlineKind.START, 1)]
    assert steps(started) == []  # started in time: only its next deadline moves on
    # Opened the Wednesday before: resolve by Monday, so one step per business day since.
    assert steps(late) == [(DeadlineKind.RESOLVE, 1), (DeadlineKind.RESOLVE, 2)]
    assert CaseEvent.objects.filter(case=late, kind=EventKind.OVERDUE).count() == 1
    assert result.cases_examined == 4  # with the cast's own case, New like ``new``
    assert (result.escalations, result.cases_marked_overdue) == (4, 1)
    assert Case.objects.get(pk=started.pk).next_deadline_at == started.resolve_due_at
    assert not due_cases(at).exists()


def test_a_case_swept_by_another_worker_after_listing_is_left_alone(
    cast: Cast, now: datetime
) -> None:
    at = now + TUESDAY
    other = make_case(program=cast.program, unit=cast.store, now=now)
    stale = listed(at)
    sweep_listed_cases([(other.pk, other.next_deadline_at)], now=at)  # the other worker
    result = sweep_listed_cases(stale, now=at)
    assert result.cases_examined == 1
    assert steps(other) == [(DeadlineKind.START, 1)]
    assert CaseEvent.objects.filter(case=other, kind=EventKind.ESCALATED).count() == 1


def test_a_case_closed_after_listing_is_not_escalated(cast: Cast, now: datetime) -> None:
    at = now + TUESDAY
    stale = listed(at)
    close_as_resolved(
        cast.case, actor=cast.owner, now=at - timedelta(minutes=1), final_note="Solved on the phone"
    )
    result = sweep_listed_cases(stale, now=at)
    assert result.cases_examined == 0
    assert steps(cast.case) == []


def test_a_case_started_after_listing_is_judged_as_it_is_now(cast: Cast, now: datetime) -> None:
    at = now + TUESDAY
    stale = listed(at)
    services.add_note(cast.case, actor=cast.owner, body="Called", now=at - timedelta(minutes=1))
    result = sweep_listed_cases(stale, now=at)
    assert result.cases_examined == 1
    assert steps(cast.case) == []
    assert Case.objects.get(pk=cast.case.pk).status == Status.IN_PROGRESS


def test_a_case_whose_deadlines_cannot_be_computed_does_not_block_the_others(
    cast: Cast, now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    broken_store = make_unit(parent=cast.region)
    broken = make_case(program=cast.program, unit=broken_store, now=now)
    # Stored calendars are not validated when read; this one fails in the arithmetic.
    UnitCalendar.objects.create(unit=broken_store, time_zone="Mars/Olympus_Mons")
    at = now + THURSDAY
    with caplog.at_level(logging.ERROR, logger="caseloop.sla.services"):
        result = sweep_deadlines(now=at)
    assert result.failed_case_ids == [broken.pk]
    assert steps(cast.case) == [(DeadlineKind.START, 1), (DeadlineKind.RESOLVE, 1)]
    assert steps(broken) == []
    assert Case.objects.get(pk=broken.pk).next_deadline_at == broken.next_deadline_at
    assert f"case {broken.pk}" in caplog.text


def test_a_batch_the_database_refuses_is_retried_case_by_case(cast: Cast, now: datetime) -> None:
    others = [make_case(program=cast.program, unit=cast.store, now=now) for _ in range(3)]
    # A resolve escalation already on record while the case says level 0 (a restored backup,
    # say): the unique key refuses the second one, and with it the whole batch.
    Escalation.objects.create(
        case=cast.case,
        deadline=DeadlineKind.RESOLVE,
        deadline_at=cast.case.resolve_due_at,
        level=1,
        designee=cast.manager,
        created_at=now,
    )
    result = sweep_deadlines(now=now + THURSDAY)
    assert result.failed_case_ids == [cast.case.pk]
    assert Escalation.objects.filter(case=cast.case).count() == 1
    assert not CaseEvent.objects.filter(case=cast.case, kind=EventKind.OVERDUE).exists()
    for case in others:
        assert steps(case) == [(DeadlineKind.START, 1), (DeadlineKind.RESOLVE, 1)]


def test_queries_per_batch_do_not_grow_with_the_cases_in_it(
    now: datetime, django_assert_max_num_queries: object
) -> None:
    owner, manager = make_user(), make_user()
    store = make_unit(owner=owner, manager=manager)
    program = make_program(escalation_levels=1)
    counts = []
    for week, due in enumerate((2, 12)):
        opened = now + timedelta(weeks=week)
        for _ in range(due):
            make_case(program=program, unit=store, now=opened)
        with CaptureQueriesContext(connection) as queries:
            result = sweep_deadlines(now=opened + THURSDAY)
        assert result.escalations == 2 * due  # start and resolve
        counts.append(len(queries))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(counts[1]):  # type: ignore[operator]
        sweep_deadlines(now=now + timedelta(weeks=5))


def test_everyone_is_told_under_the_owner_of_the_moment_when_a_step_reassigns(
    now: datetime,
) -> None:
    owner, manager = make_user(username="owen"), make_user(username="mona")
    store = make_unit(owner=owner, manager=manager)
    program = make_program(escalation_action=EscalationAction.REASSIGN)
    case = make_case(program=program, unit=store, now=now)
    services.add_note(case, actor=owner, body="Called", now=now)
    sweep_deadlines(now=now + THURSDAY)
    late = OutboxMessage.objects.filter(case=case, template_event__in=["overdue", "escalated"])
    assert not late.exists(), "queued for the worker"
    tell_untold_events()
    overdue = OutboxMessage.objects.get(case=case, template_event="overdue")
    escalated = OutboxMessage.objects.get(case=case, template_event="escalated")
    assert [owner.email in to for to in overdue.recipients["to"]] == [True]
    assert [manager.email in to for to in escalated.recipients["to"]] == [True]
    assert Case.objects.get(pk=case.pk).owner == manager


def test_a_sweep_gives_back_the_page_cache_the_checkpoints_and_the_collector(
    cast: Cast, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_case(program=cast.program, unit=cast.store, now=now)
    collector_on_while_planning: list[bool] = []
    plan_case = sla_services.plan_case

    def watched_plan_case(*args: object, **kwargs: object) -> int:
        collector_on_while_planning.append(gc.isenabled())
        return plan_case(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sla_services, "plan_case", watched_plan_case)

    def connection_settings() -> list[object]:
        if connection.vendor != "sqlite":
            return []
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size")
            cache = cursor.fetchone()
            cursor.execute("PRAGMA wal_autocheckpoint")
            return [cache, cursor.fetchone()]

    before = connection_settings()
    result = sweep_deadlines(now=now + THURSDAY + timedelta(hours=1))
    assert result.cases_marked_overdue == 2
    assert connection_settings() == before
    assert collector_on_while_planning == [False, False]
    assert gc.isenabled()


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("inside_a_transaction", [False, True])
def test_on_postgresql_only_the_sweeps_own_commits_do_not_wait_for_the_disk(
    now: datetime, monkeypatch: pytest.MonkeyPatch, inside_a_transaction: bool
) -> None:
    store = make_unit(owner=make_user(), manager=make_user())
    make_case(program=make_program(), unit=store, now=now)
    modes: list[str] = []
    plan_case = sla_services.plan_case

    def watched_plan_case(*args: object, **kwargs: object) -> int:
        modes.append(synchronous_commit() if connection.vendor == "postgresql" else "n/a")
        return plan_case(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sla_services, "plan_case", watched_plan_case)
    if inside_a_transaction:
        with transaction.atomic():
            sweep_deadlines(now=now + TUESDAY)
    else:
        sweep_deadlines(now=now + TUESDAY)
    if connection.vendor != "postgresql":
        # SQLite in WAL mode with synchronous=NORMAL never syncs at a commit anyway.
        assert modes == ["n/a"]
        return
    # Inside a caller's transaction, SET LOCAL would have lasted until the caller's commit.
    assert modes == (["on"] if inside_a_transaction else ["off"])
    assert synchronous_commit() == "on"
