"""The deadline sweep: late cases show as Overdue and climb the designee chain, once per step.

A case is due for the sweep when its ``next_deadline_at`` has passed. The sweep claims each due
case by re-reading it under a lock *with the same ``next_deadline_at`` it saw*: on PostgreSQL
``select_for_update(skip_locked=True)`` lets a second worker pass over a case the first holds; on
SQLite the IMMEDIATE transaction serialises the workers and the second finds the value moved on.
Either way the loser moves on, and the unique escalation key makes a double step impossible.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from caseloop.cases.models import Case, CaseEvent, CaseWatcher, EventKind, Status, WatcherAccess
from caseloop.notify.services import notify_case_event
from caseloop.org.models import User
from caseloop.org.queries import manager_chain
from caseloop.programs.models import EscalationAction
from caseloop.sla.calendar import BusinessCalendar
from caseloop.sla.deadlines import calendar_for
from caseloop.sla.models import DeadlineKind, Escalation

SWEEP_BATCH_SIZE = 500


@dataclass
class SweepResult:
    """What one sweep did."""

    cases_examined: int = 0
    cases_marked_overdue: int = 0
    escalations: int = 0
    escalated_case_ids: list[int] = field(default_factory=list)


def resolve_step_due(case: Case, calendar: BusinessCalendar, level: int) -> datetime:
    """When escalation step ``level`` (1 = the resolve deadline itself) falls due."""
    assert case.resolve_due_at is not None
    if level <= 1:
        return case.resolve_due_at
    days = (level - 1) * max(case.program.escalation_interval_days, 1)
    return calendar.add_business_days(case.resolve_due_at, days)


def next_deadline(case: Case, calendar: BusinessCalendar, now: datetime) -> datetime | None:
    """The next instant after ``now`` at which the sweep has something to do for ``case``."""
    if case.status == Status.CLOSED:
        return None
    pending: list[datetime] = []
    if case.status == Status.NEW and case.start_due_at and case.start_due_at > now:
        pending.append(case.start_due_at)
    if case.resolve_due_at and case.escalation_level < case.program.escalation_levels:
        pending.append(resolve_step_due(case, calendar, case.escalation_level + 1))
    elif case.resolve_due_at and not case.was_overdue:
        pending.append(case.resolve_due_at)
    return min(pending) if pending else None


def initial_next_deadline(
    start_due_at: datetime | None, resolve_due_at: datetime | None
) -> datetime | None:
    """For a new case: the earlier of its two deadlines."""
    candidates = [d for d in (start_due_at, resolve_due_at) if d is not None]
    return min(candidates) if candidates else None


def _designee(case: Case, level: int) -> User | None:
    """The ``level``-th person up the unit's manager chain, skipping the case's own owner."""
    chain = [manager for manager in manager_chain(case.unit) if manager.pk != case.owner_id]
    chain = [manager.cover if manager.is_away and manager.cover else manager for manager in chain]
    return chain[level - 1] if level <= len(chain) else None


def _escalate(
    case: Case, deadline: DeadlineKind, deadline_at: datetime, level: int, now: datetime
) -> None:
    designee = _designee(case, level)
    Escalation.objects.create(
        case=case,
        deadline=deadline,
        deadline_at=deadline_at,
        level=level,
        designee=designee,
        created_at=now,
    )
    action = case.program.escalation_action
    if designee is not None:
        if action == EscalationAction.REASSIGN and designee.pk != case.owner_id:
            previous = case.owner
            case.owner = designee
            CaseWatcher.objects.filter(case=case, user=designee).delete()
            if previous is not None:
                CaseWatcher.objects.update_or_create(
                    case=case,
                    user=previous,
                    defaults={"access": WatcherAccess.FULL, "added_at": now},
                )
        else:
            CaseWatcher.objects.update_or_create(
                case=case, user=designee, defaults={"access": WatcherAccess.FULL, "added_at": now}
            )
    escalated = CaseEvent.objects.create(
        case=case,
        kind=EventKind.ESCALATED,
        created_at=now,
        data={
            "deadline": deadline,
            "deadline_at": deadline_at.isoformat(),
            "level": level,
            "designee": designee.pk if designee else None,
            "action": action,
        },
    )
    notify_case_event(escalated)


def _claim(case_id: int, seen_due: datetime) -> Case | None:
    cases = Case.objects.select_related("program", "unit", "owner").filter(
        pk=case_id, next_deadline_at=seen_due
    )
    if connection.features.has_select_for_update_skip_locked:
        cases = cases.select_for_update(skip_locked=True, of=("self",))
    return cases.first()


def _process(case: Case, now: datetime, result: SweepResult) -> None:
    calendar = calendar_for(case.unit)
    escalations_before = result.escalations
    newly_overdue = False
    if case.status == Status.NEW and case.start_due_at and case.start_due_at <= now:
        already = Escalation.objects.filter(
            case=case, deadline=DeadlineKind.START, deadline_at=case.start_due_at
        ).exists()
        if not already:
            _escalate(case, DeadlineKind.START, case.start_due_at, 1, now)
            result.escalations += 1
    if case.status != Status.CLOSED and case.resolve_due_at and case.resolve_due_at <= now:
        if not case.was_overdue:
            case.was_overdue = newly_overdue = True
            overdue = CaseEvent.objects.create(
                case=case,
                kind=EventKind.OVERDUE,
                created_at=now,
                data={"resolve_due_at": case.resolve_due_at.isoformat()},
            )
            notify_case_event(overdue)
            result.cases_marked_overdue += 1
        while case.escalation_level < case.program.escalation_levels:
            level = case.escalation_level + 1
            if resolve_step_due(case, calendar, level) > now:
                break
            _escalate(case, DeadlineKind.RESOLVE, case.resolve_due_at, level, now)
            case.escalation_level = level
            result.escalations += 1
    case.next_deadline_at = next_deadline(case, calendar, now)
    if newly_overdue or result.escalations > escalations_before:
        # Someone holding an edit form of this case must reload: owner or watchers may differ.
        case.version += 1
        if result.escalations > escalations_before:
            result.escalated_case_ids.append(case.pk)
        case.save(
            update_fields=[
                "next_deadline_at",
                "was_overdue",
                "escalation_level",
                "owner",
                "version",
                "updated_at",
            ]
        )
    else:
        case.save(update_fields=["next_deadline_at", "updated_at"])


def sweep_deadlines(
    *, now: datetime | None = None, batch_size: int = SWEEP_BATCH_SIZE
) -> SweepResult:
    """Mark late cases overdue and escalate them; safe to run from several workers at once.

    Reads only the cases whose ``next_deadline_at`` has passed (a partial index), in batches,
    each case in its own short transaction so one bad case cannot block the others.
    """
    now = now or timezone.now()
    result = SweepResult()
    after = Q()
    while True:
        # Keyset over (next_deadline_at, id), the partial index's order: a case another worker
        # holds is passed over once, never read again in this sweep.
        due = list(
            Case.objects.filter(after, next_deadline_at__lte=now)
            .order_by("next_deadline_at", "pk")
            .values_list("pk", "next_deadline_at")[:batch_size]
        )
        for case_id, seen_due in due:
            with transaction.atomic():
                case = _claim(case_id, seen_due)
                if case is None:
                    continue
                result.cases_examined += 1
                _process(case, now, result)
        if len(due) < batch_size:
            return result
        last_id, last_due = due[-1]
        after = Q(next_deadline_at__gt=last_due) | Q(next_deadline_at=last_due, pk__gt=last_id)
