"""The deadline sweep: Overdue, escalation up the designee chain, once per step."""

import threading
from datetime import datetime, timedelta

import pytest
from django.db import connection

from caseloop.cases import services
from caseloop.cases.models import Case, CaseEvent, EventKind, Status, WatcherAccess
from caseloop.cases.tests.factories import close_as_resolved, make_case
from caseloop.conftest import Cast
from caseloop.org.tests.factories import make_unit, make_user
from caseloop.programs.models import EscalationAction
from caseloop.programs.tests.factories import make_program
from caseloop.sla.batch import due_cases_sql
from caseloop.sla.models import DeadlineKind, Escalation, UnitCalendar
from caseloop.sla.services import sweep_deadlines

pytestmark = pytest.mark.django_db

# The cast's case opens Monday 09:00: start by Tuesday 09:00, resolve by Thursday 09:00.
TUESDAY = timedelta(days=1)
THURSDAY = timedelta(days=3)


def escalations(case: Case) -> list[tuple[str, int, str | None]]:
    rows = Escalation.objects.filter(case=case).order_by("id")
    return [(e.deadline, e.level, e.designee.username if e.designee else None) for e in rows]


@pytest.fixture
def top_manager(cast: Cast) -> object:
    boss = make_user(username="bea")
    cast.corporate.manager = boss
    cast.corporate.save()
    return boss


def test_nothing_happens_before_a_deadline(cast: Cast, now: datetime) -> None:
    result = sweep_deadlines(now=now + TUESDAY - timedelta(minutes=1))
    assert result.cases_examined == 0
    assert escalations(cast.case) == []


def test_new_case_past_its_start_deadline_escalates_to_the_manager(
    cast: Cast, now: datetime
) -> None:
    sweep_deadlines(now=now + TUESDAY)
    assert escalations(cast.case) == [(DeadlineKind.START, 1, cast.manager.username)]
    event = CaseEvent.objects.get(case=cast.case, kind=EventKind.ESCALATED)
    assert event.data["deadline"] == "start"


def test_case_started_in_time_is_not_escalated_at_its_start_deadline(
    cast: Cast, now: datetime
) -> None:
    services.add_note(cast.case, actor=cast.owner, body="Called", now=now + timedelta(hours=1))
    result = sweep_deadlines(now=now + TUESDAY)
    assert escalations(cast.case) == []
    assert result.escalations == 0


def test_late_case_becomes_overdue_and_climbs_one_step_per_interval(
    cast: Cast, now: datetime, top_manager: object
) -> None:
    services.add_note(cast.case, actor=cast.owner, body="Called", now=now)
    sweep_deadlines(now=now + THURSDAY)
    case = Case.objects.get(pk=cast.case.pk)
    assert case.was_overdue is True
    assert case.display_status(now + THURSDAY) == "overdue"
    assert escalations(case) == [(DeadlineKind.RESOLVE, 1, cast.manager.username)]
    sweep_deadlines(now=now + THURSDAY + timedelta(days=1))
    assert escalations(case)[-1] == (DeadlineKind.RESOLVE, 2, "bea")
    assert case.watchers.get(user__username="bea").access == WatcherAccess.FULL


def test_escalation_stops_at_the_programs_number_of_levels(
    cast: Cast, now: datetime, top_manager: object
) -> None:
    services.add_note(cast.case, actor=cast.owner, body="Called", now=now)
    sweep_deadlines(now=now + timedelta(days=30))
    assert [level for _, level, _ in escalations(cast.case)] == [1, 2]
    assert Case.objects.get(pk=cast.case.pk).next_deadline_at is None


def test_repeated_sweeps_never_escalate_twice(cast: Cast, now: datetime) -> None:
    late = now + THURSDAY
    first = sweep_deadlines(now=late)
    second = sweep_deadlines(now=late)
    third = sweep_deadlines(now=late + timedelta(minutes=1))
    assert first.escalations == 2  # start (still New) and resolve level 1
    assert (second.escalations, third.escalations) == (0, 0)
    assert CaseEvent.objects.filter(case=cast.case, kind=EventKind.OVERDUE).count() == 1


def close_and_reopen(cast: Cast, at: datetime) -> None:
    close_as_resolved(cast.case, actor=cast.owner, now=at)
    services.reopen_case(cast.case, actor=cast.owner, reason="Still broken", now=at)


def overdue_marks(case: Case) -> list[str]:
    events = CaseEvent.objects.filter(case=case, kind=EventKind.OVERDUE).order_by("id")
    return [event.data["resolve_due_at"] for event in events]


def test_reopened_case_that_misses_its_new_deadline_is_marked_overdue_again(
    cast: Cast, now: datetime
) -> None:
    services.add_note(cast.case, actor=cast.owner, body="Called", now=now)
    sweep_deadlines(now=now + THURSDAY)
    close_and_reopen(cast, now + THURSDAY)
    reopened = Case.objects.get(pk=cast.case.pk)
    sweep_deadlines(now=reopened.resolve_due_at)
    sweep_deadlines(now=reopened.resolve_due_at + timedelta(minutes=1))
    assert overdue_marks(reopened) == [
        (now + THURSDAY).isoformat(),
        reopened.resolve_due_at.isoformat(),
    ]
    assert escalations(reopened)[-1] == (DeadlineKind.RESOLVE, 1, cast.manager.username)


def test_reopened_case_of_a_program_without_escalation_is_marked_overdue_again(
    cast: Cast, now: datetime
) -> None:
    cast.program.escalation_levels = 0
    cast.program.save()
    services.add_note(cast.case, actor=cast.owner, body="Called", now=now)
    sweep_deadlines(now=now + THURSDAY)
    close_and_reopen(cast, now + THURSDAY)
    reopened = Case.objects.get(pk=cast.case.pk)
    sweep_deadlines(now=reopened.resolve_due_at)
    sweep_deadlines(now=reopened.resolve_due_at + timedelta(days=1))
    assert len(overdue_marks(reopened)) == 2
    assert Case.objects.get(pk=cast.case.pk).next_deadline_at is None


def test_closed_case_is_never_escalated(cast: Cast, now: datetime) -> None:
    close_as_resolved(cast.case, actor=cast.owner, now=now)
    result = sweep_deadlines(now=now + timedelta(days=30))
    assert result.cases_examined == 0
    assert escalations(cast.case) == []


def test_reassign_program_makes_the_designee_owner_and_keeps_the_owner_watching(
    now: datetime,
) -> None:
    owner, manager = make_user(), make_user()
    store = make_unit(owner=owner, manager=manager)
    program = make_program(escalation_action=EscalationAction.REASSIGN)
    case = make_case(program=program, unit=store, now=now)
    services.add_note(case, actor=owner, body="Called", now=now)
    sweep_deadlines(now=now + THURSDAY)
    case.refresh_from_db()
    assert case.owner == manager
    assert case.watchers.get(user=owner).access == WatcherAccess.FULL
    assert not case.watchers.filter(user=manager).exists()


def test_away_designee_is_replaced_by_their_cover(cast: Cast, now: datetime) -> None:
    cover = make_user(username="carl")
    cast.manager.is_away, cast.manager.cover = True, cover
    cast.manager.save()
    sweep_deadlines(now=now + TUESDAY)
    assert escalations(cast.case) == [(DeadlineKind.START, 1, "carl")]


def test_owner_is_skipped_in_the_designee_chain(now: datetime) -> None:
    boss = make_user(username="boss")
    region = make_unit(manager=boss)
    manager_owner = make_user()
    store = make_unit(parent=region, owner=manager_owner, manager=manager_owner)
    case = make_case(unit=store, now=now)
    sweep_deadlines(now=now + TUESDAY)
    assert escalations(case) == [(DeadlineKind.START, 1, "boss")]


def three_managers_up(owner: object) -> tuple[object, list[object]]:
    """A store under a region under a head office, each with its own manager."""
    managers = [make_user(username=name) for name in ("lena", "hugo", "ines")]
    head = make_unit(manager=managers[2])
    region = make_unit(parent=head, manager=managers[1])
    store = make_unit(parent=region, owner=owner, manager=managers[0])
    return store, managers


def test_handed_over_case_climbs_the_chain_one_manager_at_a_time(now: datetime) -> None:
    agent = make_user()
    store, _ = three_managers_up(agent)
    program = make_program(escalation_action=EscalationAction.REASSIGN, escalation_levels=3)
    case = make_case(program=program, unit=store, now=now)
    services.add_note(case, actor=agent, body="Called", now=now)
    sweep_deadlines(now=now + timedelta(days=30))
    assert escalations(case) == [
        (DeadlineKind.RESOLVE, 1, "lena"),
        (DeadlineKind.RESOLVE, 2, "hugo"),
        (DeadlineKind.RESOLVE, 3, "ines"),
    ]
    case.refresh_from_db()
    assert case.owner.username == "ines"


def test_escalation_of_a_managers_case_goes_above_them_never_below(now: datetime) -> None:
    store, managers = three_managers_up(make_user())
    program = make_program(escalation_levels=2)
    case = make_case(program=program, unit=store, owner=managers[1], now=now)
    services.add_note(case, actor=managers[1], body="Called", now=now)
    sweep_deadlines(now=now + timedelta(days=30))
    assert escalations(case) == [(DeadlineKind.RESOLVE, 1, "ines"), (DeadlineKind.RESOLVE, 2, None)]


def away_without_a_cover(manager: object) -> None:
    manager.is_away = True


def no_longer_active(manager: object) -> None:
    manager.is_active = False


def away_with_a_cover_who_is_away_too(manager: object) -> None:
    manager.is_away, manager.cover = True, make_user(username="carl", is_away=True)


@pytest.mark.parametrize(
    "cannot_act", [away_without_a_cover, no_longer_active, away_with_a_cover_who_is_away_too]
)
def test_a_manager_who_cannot_act_is_passed_over(
    cast: Cast, now: datetime, cannot_act: object
) -> None:
    store, managers = three_managers_up(cast.owner)
    cannot_act(managers[0])
    managers[0].save()
    case = make_case(program=cast.program, unit=store, now=now)
    sweep_deadlines(now=now + TUESDAY)
    assert escalations(case) == [(DeadlineKind.START, 1, "hugo")]


def test_owner_covering_for_their_manager_is_not_made_a_watcher_of_their_own_case(
    now: datetime,
) -> None:
    agent = make_user()
    store, managers = three_managers_up(agent)
    managers[0].is_away, managers[0].cover = True, agent
    managers[0].save()
    case = make_case(unit=store, owner=agent, now=now)
    sweep_deadlines(now=now + TUESDAY)
    assert escalations(case) == [(DeadlineKind.START, 1, "hugo")]
    assert not case.watchers.filter(user=agent).exists()


def test_deadlines_follow_the_units_own_calendar(now: datetime) -> None:
    store = make_unit()
    UnitCalendar.objects.create(
        unit=store,
        time_zone="Europe/Berlin",
        weekly_hours={str(d): [["08:00", "16:00"]] for d in range(5)},
        country="DE",
        subdivision="BE",
    )
    child = make_unit(parent=store)
    # Thursday 24 Dec 2026 15:00 Berlin; 25 and 26 Dec are holidays, then a weekend.
    opened = datetime.fromisoformat("2026-12-24T15:00:00+01:00")
    case = make_case(unit=child, now=opened)
    assert case.start_due_at == datetime.fromisoformat("2026-12-28T15:00:00+01:00")


@pytest.mark.parametrize("keyset", [False, True], ids=["first-batch", "next-batch"])
def test_sweep_reads_the_partial_index_on_the_due_column(
    cast: Cast, now: datetime, keyset: bool
) -> None:
    sql, params = due_cases_sql(now, (now - timedelta(days=1), 7) if keyset else None, 500)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Tiny test tables would make any planner prefer a full scan.
            cursor.execute("SET LOCAL enable_seqscan = off")
        prefix = "EXPLAIN" if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN"
        cursor.execute(f"{prefix} {sql}", params)
        plan = "\n".join(str(row) for row in cursor.fetchall())
    assert "case_next_deadline_due" in plan
    assert "SCAN cases_case" not in plan  # SQLite's word for reading the whole table


@pytest.mark.django_db(transaction=True)
def test_two_workers_sweeping_at_once_escalate_each_case_once(now: datetime) -> None:
    owner, manager = make_user(), make_user()
    store = make_unit(owner=owner, manager=manager)
    program = make_program()
    cases = [make_case(program=program, unit=store, now=now) for _ in range(30)]
    late = now + TUESDAY
    start = threading.Barrier(2)
    totals: list[int] = []

    def worker() -> None:
        start.wait()
        try:
            totals.append(sweep_deadlines(now=late, batch_size=7).escalations)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(totals) == len(cases)
    assert Escalation.objects.count() == len(cases)
    assert CaseEvent.objects.filter(kind=EventKind.ESCALATED).count() == len(cases)
    assert set(Case.objects.values_list("status", flat=True)) == {Status.NEW}
