"""The sweep benchmark's own data set has the due state it claims, the sweep over it really
marks overdue and escalates, and the reset between runs puts back exactly that state. Nothing
here is timed: timings belong in ``python -m bench``."""

import sys
from collections import Counter
from pathlib import Path

import pytest

# bench/ sits beside src/ and is not part of the installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scenarios import sweep
from caseloop.cases.models import Case, CaseEvent, CaseWatcher, EventKind
from caseloop.notify.models import OutboxMessage, UntoldEvent
from caseloop.sla.models import Escalation
from caseloop.sla.services import sweep_deadlines

SIZE = 2_000

pytestmark = pytest.mark.django_db


def state() -> tuple[object, ...]:
    watchers = sorted(CaseWatcher.objects.values_list("case_id", "user_id", "access", "added_at"))
    cases = sorted(
        Case.objects.values_list(
            "pk", "next_deadline_at", "was_overdue", "escalation_level", "owner_id", "version"
        )
    )
    counts = (Escalation.objects.count(), CaseEvent.objects.count(), OutboxMessage.objects.count())
    return (watchers, cases, counts)


def test_one_percent_of_the_open_cases_are_due_and_the_sweep_escalates_each_once() -> None:
    sweep._generate(SIZE)
    assert Case.objects.exclude(status="closed").count() == SIZE
    due = sweep.due_count(sweep.SWEEP_NOW)
    assert due == SIZE // 100
    assert sweep.due_count(sweep.SWEEP_NOW - sweep.SMALL_SWEEP_EARLIER) == due // 10
    result = sweep_deadlines(now=sweep.SWEEP_NOW)
    assert result.cases_examined == due
    assert len(result.escalated_case_ids) == result.escalations == due
    kinds = Counter(
        CaseEvent.objects.exclude(kind=EventKind.CREATED).values_list("kind", flat=True)
    )
    overdue = kinds[EventKind.OVERDUE]
    assert 0 < overdue < due  # most just passed their resolve deadline, the others the start one
    assert kinds[EventKind.ESCALATED] == due
    assert sweep.due_count(sweep.SWEEP_NOW) == 0


def test_the_reset_puts_back_the_due_state_the_sweep_changed() -> None:
    sweep._generate(SIZE)
    before = state()
    sweep_deadlines(now=sweep.SWEEP_NOW)
    assert state() != before
    sweep.reset()
    assert state() == before
    assert sweep_deadlines(now=sweep.SWEEP_NOW).cases_examined == SIZE // 100


def written() -> tuple[object, ...]:
    """What a sweep writes, less the watchers it removes or upgrades (see ``write_floor``)."""
    cases = sorted(
        Case.objects.values_list(
            "pk", "next_deadline_at", "was_overdue", "escalation_level", "owner_id", "version"
        )
    )
    events = sorted(CaseEvent.objects.values_list("pk", "case_id", "kind", "data", "created_at"))
    escalations = sorted(
        Escalation.objects.values_list("case_id", "deadline", "deadline_at", "level", "designee")
    )
    queued = sorted(UntoldEvent.objects.values_list("event_id", "owner_id", "watcher_ids"))
    return (cases, events, escalations, queued)


def test_the_write_floor_writes_the_rows_the_sweep_wrote() -> None:
    sweep._generate(SIZE)
    sweep_deadlines(now=sweep.SWEEP_NOW)
    swept = written()
    sweep.save_written_rows()
    sweep.reset()
    assert written() != swept
    sweep.write_floor()
    assert written() == swept
