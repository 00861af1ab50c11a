"""Opening a batch of alert cases at once, row for row what ``cases.services.open_case`` makes.

``open_case`` opens one case with a dozen queries; an import of 100,000 responses raises
thousands of alerts, so this module does the same work set-based: the manager chains and unit
owners of all the units of a batch in one query (the owner from the program's assignment rules
instead when it has any), business calendars once per unit, then one bulk insert each for
transactions, cases, watchers, playbook tasks and CREATED events. The events are queued for
telling (``notify.telling``) with the owner and watchers they were opened with: the worker
writes their outbox rows and in-app lines through ``notify.services`` a few seconds later,
where writing them in the import's transactions cost a tenth of the import. The watcher rule,
the assignment-rule context and the notifications are those of ``cases.services`` and
``notify.services`` themselves.

Every field, watcher, task and event data key matches ``open_case``; the intake tests compare a
bulk-opened case with one opened by ``open_case`` field by field, so a change to one that is not
made to the other fails there.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from caseloop.bulkrows import Table
from caseloop.cases.models import (
    Case,
    CaseEvent,
    CaseTask,
    CaseWatcher,
    EventKind,
    Source,
)
from caseloop.cases.services import assignment_context, initial_watchers
from caseloop.customers.models import Transaction
from caseloop.intake.alerts import Alert
from caseloop.intake.matching import CustomerRef
from caseloop.intake.records import ResponseInput, RowProblem
from caseloop.notify.telling import queue_untold_events
from caseloop.org.models import Unit, User
from caseloop.org.queries import managers_upwards
from caseloop.programs.models import CaseType, PlaybookStep, Program
from caseloop.routing.models import AssignmentRule, Strategy
from caseloop.routing.services import Assignment, choose_owner, unit_owner_assignment
from caseloop.sla.deadlines import Deadlines, calendars_for_units, deadlines_in
from caseloop.sla.services import initial_next_deadline

SUBJECT_MAX = 300


@dataclass
class PlannedCase:
    """One alert to open: the response, the rule that fired, who the customer is and who owns it."""

    response: ResponseInput
    alert: Alert
    assignment: Assignment
    customer: CustomerRef | None = None
    case_id: int | None = None


@dataclass
class UnitCache:
    """What does not change between the cases of one import, loaded for many units at once:
    each unit's manager chain and unit-owner assignment, each case type's playbook, and
    whether the program has assignment rules."""

    managers: dict[int, list[User]] = field(default_factory=dict)
    owners: dict[int, Assignment] = field(default_factory=dict)
    playbooks: dict[int, list[PlaybookStep]] = field(default_factory=dict)
    has_assignment_rules: bool | None = None

    def load(self, units: Iterable[Unit]) -> None:
        """Manager chains and unit owners of ``units``, with one query for all their ancestors.

        The same rules as ``org.queries.manager_chain`` (managers from the unit upwards,
        nearest first, each once) and as the unit-owner fallback of
        ``routing.services.choose_owner`` (the nearest designated owner, or their active cover
        when they are away, else nobody); the intake tests compare the outcome with
        ``open_case``.
        """
        missing = {unit.pk: unit for unit in units if unit.pk not in self.managers}
        if not missing:
            return
        ancestor_ids = {a for unit in missing.values() for a in unit.ancestor_ids}
        ancestors = Unit.objects.select_related("manager", "owner", "owner__cover").in_bulk(
            ancestor_ids
        )
        for unit in missing.values():
            self.managers[unit.pk] = managers_upwards(unit, ancestors)
            line = [ancestors[a] for a in reversed(unit.ancestor_ids) if a in ancestors]
            owner = next((a.owner for a in line if a.owner), None)
            self.owners[unit.pk] = _unit_owner_assignment(owner)

    def playbook_of(self, case_type: CaseType) -> list[PlaybookStep]:
        if case_type.pk not in self.playbooks:
            self.playbooks[case_type.pk] = list(case_type.playbook.all())
        return self.playbooks[case_type.pk]


def _unit_owner_assignment(owner: User | None) -> Assignment:
    # choose_owner without assignment rules: its unit-owner rule is an unsaved, nameless one.
    unit_owner_rule = AssignmentRule(strategy=Strategy.UNIT_OWNER)
    return unit_owner_assignment(owner, unit_owner_rule) or Assignment(None)


def _routing_context(response: ResponseInput, alert: Alert) -> dict[str, object]:
    # What open_case gives assignment rules when called with routing_context=None.
    return assignment_context(
        response.unit, alert.rule.case_type, alert.rule.priority, Source.SURVEY
    )


def assign_unsafe_outside_transaction(
    program: Program,
    alerts: Sequence[tuple[ResponseInput, Alert]],
    cache: UnitCache,
) -> tuple[list[PlannedCase], list[RowProblem]]:
    """Choose each alert's owner in order, as ``open_case`` would one by one.

    Without assignment rules the unit's owner takes the case, looked up once per unit. With
    them, ``choose_owner`` runs for each alert in turn, so round-robin rules take turns across
    the batch (they lock and move their turn in this transaction). An alert whose owner would be
    a deactivated user is a problem of its row, as ``open_case`` refuses it, and nothing is
    written for it.
    """
    if cache.has_assignment_rules is None:
        rules = AssignmentRule.objects.filter(program=program, is_active=True)
        cache.has_assignment_rules = rules.exists()
    cache.load(response.unit for response, _ in alerts)
    planned: list[PlannedCase] = []
    problems: list[RowProblem] = []
    for response, alert in alerts:
        if cache.has_assignment_rules:
            context = _routing_context(response, alert)
            assignment = choose_owner(program, response.unit, context)
        else:
            assignment = cache.owners[response.unit.pk]
        owner = assignment.owner
        if owner is not None and not owner.is_active:
            message = f"the case would go to {owner}, who is not an active user; name another owner"
            problems.append(RowProblem(response.row, "unit", message))
            continue
        planned.append(PlannedCase(response, alert, assignment))
    return planned, problems


@dataclass(frozen=True)
class CaseTexts:
    """What an alert case says, known from its response and alert alone: its subject,
    description, alert reason (converted for the database) and verbatim."""

    subject: str
    description: str
    alert_reason: object
    verbatim: str


def case_texts(alerting: Sequence[tuple[ResponseInput, Alert]]) -> dict[int, CaseTexts]:
    """By id of each response, the texts of the case its alert opens: worked out before the
    transaction that opens the cases, which holds the write lock other intakes wait for."""
    reasons = _case_table().adapt("alert_reason", (alert.reason(r) for r, alert in alerting))
    return {
        id(response): CaseTexts(
            _subject(response, alert), _description(response), reason, response.verbatim
        )
        for (response, alert), reason in zip(alerting, reasons, strict=True)
    }


def _subject(response: ResponseInput, alert: Alert) -> str:
    first_words = response.verbatim.split("\n", 1)[0].strip()
    subject = f"{alert.rule.name}: {first_words}" if first_words else alert.rule.name
    return subject[:SUBJECT_MAX]


def _description(response: ResponseInput) -> str:
    lines = [f"Survey response {response.source}/{response.external_id}"]
    lines += [f"{question}: {value}" for question, value in response.answers.items()]
    return "\n".join(lines)


def _transaction_row(planned: PlannedCase) -> tuple[object, ...] | None:
    details = planned.response.transaction
    if details is None:
        return None
    assert planned.customer is not None
    return (
        planned.customer.pk,
        planned.response.unit.pk,
        details.occurred_at or planned.response.received_at,
        details.kind,
        details.amount,
        details.currency,
        details.reference,
    )


_TRANSACTION_COLUMNS = (
    "customer_id",
    "unit_id",
    "occurred_at",
    "kind",
    "amount",
    "currency",
    "reference",
)
_CASE_COLUMNS = (
    "program_id",
    "case_type_id",
    "customer_id",
    "unit_id",
    "owner_id",
    "transaction_id",
    "subject",
    "description",
    "priority",
    "source",
    "external_source",
    "external_id",
    "alert_reason",
    "verbatim",
    "needs_contact_info",
    "created_at",
    "start_due_at",
    "resolve_due_at",
    "next_deadline_at",
)


def _case_table() -> Table:
    return Table(Case, _CASE_COLUMNS, converted=("alert_reason",))


def _insert_transactions(planned: Sequence[PlannedCase]) -> list[int | None]:
    rows = [_transaction_row(p) for p in planned]
    ids = iter(
        Table(Transaction, _TRANSACTION_COLUMNS).insert_returning_ids([r for r in rows if r])
    )
    return [next(ids) if row else None for row in rows]


def open_cases_unsafe_outside_transaction(
    program: Program,
    planned: Sequence[PlannedCase],
    *,
    texts: Mapping[int, CaseTexts],
    at: datetime,
    cache: UnitCache,
) -> None:
    """Insert the cases of ``planned`` (customers already saved) with their transactions,
    watchers, playbook tasks and CREATED events; each ``planned.case_id`` is set. ``texts``
    holds each case's texts by id of its response (``case_texts``)."""
    if not planned:
        return
    units = {p.response.unit.pk: p.response.unit for p in planned}
    calendars = calendars_for_units(units.values())
    deadlines: dict[int, Deadlines] = {
        unit_id: deadlines_in(calendars[unit_id], program, at) for unit_id in units
    }
    transaction_ids = _insert_transactions(planned)
    rows = []
    for p, transaction_id in zip(planned, transaction_ids, strict=True):
        response, due, owner = p.response, deadlines[p.response.unit.pk], p.assignment.owner
        said = texts[id(response)]
        assert p.customer is not None
        rows.append(
            (
                program.pk,
                p.alert.rule.case_type_id,
                p.customer.pk,
                response.unit.pk,
                owner.pk if owner else None,
                transaction_id,
                said.subject,
                said.description,
                p.alert.rule.priority,
                Source.SURVEY.value,
                response.source,
                response.external_id,
                said.alert_reason,
                said.verbatim,
                not p.customer.has_contact,
                at,
                due.start_due_at,
                due.resolve_due_at,
                initial_next_deadline(due.start_due_at, due.resolve_due_at),
            )
        )
    case_ids = _case_table().insert_returning_ids(rows)
    for p, case_id in zip(planned, case_ids, strict=True):
        p.case_id = case_id
    _add_people_tasks_and_events(program, planned, at=at, cache=cache)


def _add_people_tasks_and_events(
    program: Program, planned: Sequence[PlannedCase], *, at: datetime, cache: UnitCache
) -> None:
    watchers: list[tuple[object, ...]] = []
    tasks: list[tuple[object, ...]] = []
    events: list[tuple[object, ...]] = []
    for p in planned:
        owner = p.assignment.owner
        mine = initial_watchers(
            owner.pk if owner else None,
            cache.managers[p.response.unit.pk],
            p.assignment.full_watchers,
        )
        watchers += [(p.case_id, user_id, access.value, at) for user_id, access in mine]
        tasks += [
            (p.case_id, step.position, step.title)
            for step in cache.playbook_of(p.alert.rule.case_type)
        ]
        data = {
            "source": Source.SURVEY.value,
            "owner": owner.pk if owner else None,
            "watchers": [user_id for user_id, _ in mine],
            "assignment_rule": p.assignment.rule.name if p.assignment.rule else None,
        }
        events.append((p.case_id, None, EventKind.CREATED.value, data, at))
    Table(CaseWatcher, ("case_id", "user_id", "access", "added_at")).insert(watchers)
    Table(CaseTask, ("case_id", "position", "title")).insert(tasks)
    event_table = Table(CaseEvent, ("case_id", "actor_id", "kind", "data", "created_at"))
    event_ids = event_table.insert_returning_ids(events)
    # People are told by the worker (``notify.telling``), as they stood at the opening: the
    # owner and watchers the event records.
    queue_untold_events(
        [
            (event_id, data["owner"], data["watchers"])
            for (*_, data, _at), event_id in zip(events, event_ids, strict=True)
        ]
    )
