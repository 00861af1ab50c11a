"""The deadline sweep: late cases show as Overdue and climb the designee chain, once per step.

A case is due for the sweep when its ``next_deadline_at`` has passed. The sweep lists the due
cases from the partial index ``case_next_deadline_due`` in keyset batches, and handles each
batch in one transaction with a fixed number of queries (issue #5: a transaction and a dozen
queries per case took 91 ms a case among 100,000 open cases, ~0.4 ms now; bench/README.md).
It claims the batch by re-reading its cases under a lock and keeps only those *with the same
``next_deadline_at`` it listed*: on PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets a second
worker pass over the cases the first holds; on SQLite the IMMEDIATE transaction
serialises the workers and the second finds the values moved on. Either way the loser moves
on, and the unique escalation key makes a double step impossible. A case whose deadlines cannot
be computed is left due and reported; a batch that fails in the database is retried one case at
a time, so one bad case never blocks the others.
"""

import copy
import gc
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.db import InterfaceError, OperationalError, connection, models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from caseloop.bulkrows import (
    Table,
    delete_in,
    fewer_checkpoints,
    instances,
    larger_page_cache,
    select_in,
    update_in,
)
from caseloop.cases.models import Case, CaseEvent, CaseWatcher, EventKind, Status, WatcherAccess
from caseloop.notify.services import notify_case_events
from caseloop.org.models import Unit, User
from caseloop.org.queries import managers_upwards
from caseloop.programs.models import EscalationAction, Program
from caseloop.sla.calendar import BusinessCalendar
from caseloop.sla.deadlines import calendars_for_units
from caseloop.sla.models import DeadlineKind, Escalation

logger = logging.getLogger(__name__)

# Cases per transaction. Once units, calendars and chains are read once per sweep, larger
# batches measured no faster (2,000: 3.9 s against 3.8 s for 10,000 due among 1,000,000; the
# fewer commits saved 0.2 s, within the noise) and would hold SQLite's write lock, which other
# writers wait on, four times as long.
SWEEP_BATCH_SIZE = 500
_CASE_FIELDS = [
    "next_deadline_at",
    "was_overdue",
    "escalation_level",
    "owner",
    "version",
    "updated_at",
]


@dataclass
class SweepResult:
    """What one sweep did."""

    cases_examined: int = 0
    cases_marked_overdue: int = 0
    escalations: int = 0
    escalated_case_ids: list[int] = field(default_factory=list)
    # Cases that could not be swept (an error is logged); they stay due for the next sweep.
    failed_case_ids: list[int] = field(default_factory=list)

    def add(self, other: "SweepResult") -> None:
        self.cases_examined += other.cases_examined
        self.cases_marked_overdue += other.cases_marked_overdue
        self.escalations += other.escalations
        self.escalated_case_ids += other.escalated_case_ids
        self.failed_case_ids += other.failed_case_ids


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


def due_cases(now: datetime, after: tuple[datetime, int] | None = None) -> QuerySet[Case]:
    """Cases whose next deadline has passed, in the order of the partial index
    ``case_next_deadline_due``; ``after`` is (due time, id) of the last case already listed."""
    due = Case.objects.filter(next_deadline_at__lte=now)
    if after is not None:
        last_due, last_id = after
        # A range on the index's leading column, so that the search starts at the last case.
        due = due.filter(
            Q(next_deadline_at__gte=last_due), Q(next_deadline_at__gt=last_due) | Q(pk__gt=last_id)
        )
    return due.order_by("next_deadline_at", "pk")


def sweep_deadlines(
    *, now: datetime | None = None, batch_size: int = SWEEP_BATCH_SIZE
) -> SweepResult:
    """Mark late cases overdue and escalate them; safe to run from several workers at once.

    Reads only the cases whose ``next_deadline_at`` has passed (a partial index), in batches of
    ``batch_size``, each batch in one transaction with a fixed number of queries, so that the
    cost follows the number of cases due, not the number open.
    """
    now = now or timezone.now()
    with (
        larger_page_cache(_SWEEP_CACHE_KIB),
        fewer_checkpoints(_SWEEP_WAL_KIB),
        _older_objects_set_aside(),
    ):
        return _sweep(now, batch_size)


@contextmanager
def _older_objects_set_aside() -> Iterator[None]:
    """Python's cyclic garbage collector left to the objects made during the sweep.

    A sweep makes hundreds of thousands of short-lived objects (rows, instances, dicts), and
    every full collection they set off also walks each object the process already held
    (Django, the modules, caches): 0.7 s of CPU per sweep of 10,000 due cases, a fifth of it.
    ``gc.freeze`` sets those older objects aside until the sweep ends; nothing is collected
    less, only later.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _sweep(now: datetime, batch_size: int) -> SweepResult:
    result = SweepResult()
    known = _Known()
    after: tuple[datetime, int] | None = None
    while True:
        # Keyset over (next_deadline_at, id), the partial index's order: a case another worker
        # holds is passed over once, never read again in this sweep.
        listed = list(due_cases(now, after).values_list("pk", "next_deadline_at")[:batch_size])
        if listed:
            result.add(_sweep_listed(listed, now, known))
        if len(listed) < batch_size:
            return result
        last_id, last_due = listed[-1]
        after = (last_due, last_id)


# SQLite's default page cache is 2 MiB. The cases due at one time lie all over the table and its
# indexes, and the pages a sweep touches (cases, events, notifications) outgrow it at a few
# thousand due cases; a larger one measured ~10% less CPU time at 10,000. Durability unchanged.
_SWEEP_CACHE_KIB = 64 * 1024
# A sweep of 10,000 due cases commits 20 batches that grow the same indexes (events, outbox,
# in-app lines): copying them back into the database at every commit was a tenth of its time.
_SWEEP_WAL_KIB = 64 * 1024


def sweep_listed_cases(listed: Sequence[tuple[int, datetime]], *, now: datetime) -> SweepResult:
    """Sweep the cases listed as (id, ``next_deadline_at``) by ``due_cases``, in one
    transaction. A case that changed since it was listed (its next deadline moved: another
    worker swept it, or someone closed or moved it) is left alone. If the database refuses the
    batch, each case is tried in a transaction of its own, so one bad case blocks no other; a
    database that is unreachable or locked fails the sweep instead, for the next run to retry
    (trying a batch's cases one by one against it would take a timeout each)."""
    return _sweep_listed(listed, now, _Known())


def _sweep_listed(
    listed: Sequence[tuple[int, datetime]], now: datetime, known: "_Known"
) -> SweepResult:
    try:
        with transaction.atomic():
            return _sweep_cases_in_transaction(listed, now, known)
    except (OperationalError, InterfaceError):
        raise
    except Exception:
        if len(listed) == 1:
            logger.exception("The deadline sweep failed on case %s; it stays due.", listed[0][0])
            return SweepResult(failed_case_ids=[listed[0][0]])
        logger.exception("A deadline sweep batch failed; sweeping its cases one by one.")
    result = SweepResult()
    for one in listed:
        result.add(_sweep_listed([one], now, known))
    return result


# What the sweep and the notifications of its steps read of a case. The long texts and the
# alert's JSON are neither needed nor cheap to read; a column left out would be read case by
# case on first access, so keep this list whole.
_CLAIM_COLUMNS = (
    "id",
    "program_id",
    "unit_id",
    "owner_id",
    "customer_id",
    "subject",
    "status",
    "priority",
    "start_due_at",
    "resolve_due_at",
    "was_overdue",
    "next_deadline_at",
    "escalation_level",
    "version",
)


def _claim(listed: Sequence[tuple[int, datetime]], known: "_Known") -> list[Case]:
    """The listed cases, locked, that still have the due time they were listed with."""
    seen = dict(listed)
    # Plain rows made into instances directly: through the ORM, the ``id IN`` list prepared
    # value by value and a model instance per case cost more than the rest of the claim.
    rows = select_in(Case, _CLAIM_COLUMNS, "id", list(seen), skip_locked=True)
    claimed = [
        case
        for case in instances(Case, _CLAIM_COLUMNS, rows)
        if case.next_deadline_at is not None and case.next_deadline_at == seen[case.pk]
    ]
    # A few programs and units serve many cases: read each once, not once per case. Owners are
    # read only by the notifications that need them (webhook payloads).
    known.learn(claimed)
    program_field, unit_field = Case._meta.get_field("program"), Case._meta.get_field("unit")
    for case in claimed:
        program_field.set_cached_value(case, known.programs[case.program_id])
        unit_field.set_cached_value(case, known.units[case.unit_id])
    return sorted(claimed, key=lambda case: (case.next_deadline_at, case.pk))


@dataclass
class _Step:
    """One thing that happens to a case: an overdue mark or an escalation, its event, and the
    watcher changes (user id → True: full-access watcher, False: no longer a watcher)."""

    case: Case  # as the people are told: its owner at this moment
    kind: EventKind
    data: dict[str, object]
    # The Escalation row: (case, deadline, deadline_at, level, designee, created_at).
    escalation: tuple[object, ...] | None = None
    watchers: dict[int, bool] = field(default_factory=dict)


@dataclass
class _Known:
    """What the batches of one sweep share, read the first time a batch needs it: programs,
    units, the units' calendars and manager chains (a few hundred units serve the thousands of
    cases due; reading them again for every batch cost ~10% of a sweep). A sweep lasts
    seconds: a manager changed while it runs is followed from the next sweep on."""

    programs: dict[int, Program] = field(default_factory=dict)
    units: dict[int, Unit] = field(default_factory=dict)
    calendars: dict[int, BusinessCalendar] = field(default_factory=dict)
    chains: dict[int, list[User]] = field(default_factory=dict)

    def learn(self, cases: Sequence[Case]) -> None:
        """Read what ``cases`` need and is not known yet: one query per kind, or none."""
        programs = {case.program_id for case in cases} - self.programs.keys()
        if programs:
            self.programs.update(Program.objects.in_bulk(programs))
        unit_ids = {case.unit_id for case in cases} - self.units.keys()
        if unit_ids:
            units = Unit.objects.in_bulk(unit_ids)
            self.units.update(units)
            self.calendars.update(calendars_for_units(units.values()))
            self.chains.update(_manager_chains(list(units.values())))


@dataclass
class _Batch:
    """What a batch's cases need, read once: calendars and manager chains (of the sweep),
    start escalations already made, and the cases' current watchers (user → watcher row id)."""

    now: datetime
    calendars: dict[int, BusinessCalendar]
    chains: dict[int, list[User]]
    start_escalated: set[tuple[int, datetime]]
    watchers: dict[tuple[int, int], int] = field(default_factory=dict)
    reassigned: set[int] = field(default_factory=set)


def _sweep_cases_in_transaction(
    listed: Sequence[tuple[int, datetime]], now: datetime, known: _Known
) -> SweepResult:
    result = SweepResult()
    cases = _claim(listed, known)
    if not cases:
        return result
    batch = _Batch(
        now=now,
        calendars=known.calendars,
        chains=known.chains,
        start_escalated=_start_escalations(cases, now),
    )
    steps: dict[int, list[_Step]] = {}
    swept: list[Case] = []
    for case in cases:
        try:
            steps[case.pk] = _plan(case, batch)
        except Exception:
            # A calendar that cannot be computed, say: this case stays as it is, still due.
            logger.exception("The deadline sweep cannot handle case %s; it stays due.", case.pk)
            result.failed_case_ids.append(case.pk)
            continue
        swept.append(case)
    _write(swept, steps, batch)
    for case in swept:
        kinds = [step.kind for step in steps[case.pk]]
        result.cases_examined += 1
        result.cases_marked_overdue += kinds.count(EventKind.OVERDUE)
        result.escalations += kinds.count(EventKind.ESCALATED)
        if EventKind.ESCALATED in kinds:
            result.escalated_case_ids.append(case.pk)
    return result


def _manager_chains(units: Sequence[Unit]) -> dict[int, list[User]]:
    """``org.queries.manager_chain`` of every unit, in one query: managers from the unit
    upwards, nearest first, each once (with their covers, for managers who are away)."""
    ancestor_ids = {ancestor for unit in units for ancestor in unit.ancestor_ids}
    ancestors = {
        unit.pk: unit
        for unit in Unit.objects.select_related("manager", "manager__cover").filter(
            pk__in=ancestor_ids
        )
    }
    return {unit.pk: managers_upwards(unit, ancestors) for unit in units}


def _start_escalations(cases: Sequence[Case], now: datetime) -> set[tuple[int, datetime]]:
    """(case, start deadline) of the start escalations already made for the New cases."""
    late = [
        c.pk for c in cases if c.status == Status.NEW and c.start_due_at and c.start_due_at <= now
    ]
    if not late:
        return set()
    columns = ("case_id", "deadline_at")
    rows = select_in(Escalation, columns, "case_id", late, equal={"deadline": DeadlineKind.START})
    return {(row.case_id, row.deadline_at) for row in instances(Escalation, columns, rows)}


def _designee(chain: Sequence[User], owner_id: int | None, level: int) -> User | None:
    """The ``level``-th person up the unit's manager chain, skipping the case's own owner."""
    others = [manager for manager in chain if manager.pk != owner_id]
    others = [manager.cover if manager.is_away and manager.cover else manager for manager in others]
    return others[level - 1] if level <= len(others) else None


def _plan(case: Case, batch: _Batch) -> list[_Step]:
    """What the sweep does to ``case`` at ``batch.now``, applied to the case in memory: the
    start escalation of a New case, the overdue mark, the resolve escalations due by now, and
    the next deadline. Writes nothing."""
    now, calendar = batch.now, batch.calendars[case.unit_id]
    steps: list[_Step] = []
    start_due = case.start_due_at
    # No column records a start escalation: the escalation rows do (read once for the batch).
    start_late = case.status == Status.NEW and start_due is not None and start_due <= now
    if start_late and (case.pk, start_due) not in batch.start_escalated:
        steps.append(_escalate(case, batch, DeadlineKind.START, start_due, 1, steps))
    if case.status != Status.CLOSED and case.resolve_due_at and case.resolve_due_at <= now:
        if not case.was_overdue:
            case.was_overdue = True
            data = {"resolve_due_at": case.resolve_due_at.isoformat()}
            steps.append(_Step(case, EventKind.OVERDUE, data))
        while case.escalation_level < case.program.escalation_levels:
            level = case.escalation_level + 1
            if resolve_step_due(case, calendar, level) > now:
                break
            steps.append(
                _escalate(case, batch, DeadlineKind.RESOLVE, case.resolve_due_at, level, steps)
            )
            case.escalation_level = level
    case.next_deadline_at = next_deadline(case, calendar, now)
    if steps:
        # Someone holding an edit form of this case must reload: owner or watchers may differ.
        case.version += 1
    return steps


def _escalate(
    case: Case,
    batch: _Batch,
    deadline: DeadlineKind,
    deadline_at: datetime,
    level: int,
    earlier: list[_Step],
) -> _Step:
    """One step up the chain: the designee becomes a full-access watcher, or the owner (the
    previous owner then watches with full access), as the program says."""
    designee = _designee(batch.chains[case.unit_id], case.owner_id, level)
    action = case.program.escalation_action
    watchers: dict[int, bool] = {}
    if designee is not None:
        if action == EscalationAction.REASSIGN and designee.pk != case.owner_id:
            # The earlier steps are told to the owner they happened under.
            before = copy.copy(case)
            for step in earlier:
                if step.case is case:
                    step.case = before
            previous = case.owner_id
            case.owner = designee
            batch.reassigned.add(case.pk)
            watchers[designee.pk] = False
            if previous is not None:
                watchers[previous] = True
        else:
            watchers[designee.pk] = True
    designee_id = designee.pk if designee else None
    escalation = (case.pk, deadline, deadline_at, level, designee_id, batch.now)
    data: dict[str, object] = {
        "deadline": deadline,
        "deadline_at": deadline_at.isoformat(),
        "level": level,
        "designee": designee.pk if designee else None,
        "action": action,
    }
    return _Step(case, EventKind.ESCALATED, data, escalation, watchers)


def _write(cases: Sequence[Case], steps: dict[int, list[_Step]], batch: _Batch) -> None:
    """Write the batch's changes in a number of queries that does not depend on its size.

    Steps are written in rounds (every case's first step, then every case's second …), each
    round's watchers before its events are notified, so that everyone is told exactly what a
    case-by-case sweep would have told them. The unique escalation key refuses a double step.
    """
    escalations = [s.escalation for case in cases for s in steps[case.pk] if s.escalation]
    _ESCALATIONS.writer().insert(escalations)
    escalating = [case.pk for case in cases if any(s.watchers for s in steps[case.pk])]
    if escalating:
        rows = select_in(CaseWatcher, ("id", "case_id", "user_id"), "case_id", escalating)
        batch.watchers = {(case_id, user_id): pk for pk, case_id, user_id in rows}
    rounds = max((len(steps[case.pk]) for case in cases), default=0)
    for index in range(rounds):
        current = [steps[case.pk][index] for case in cases if len(steps[case.pk]) > index]
        _write_watchers(current, batch)
        notify_case_events(_insert_events(current, batch.now))
    # Writing the owner costs an index update and a foreign-key check: only where it changed.
    _save_cases([case for case in cases if case.pk not in batch.reassigned], with_owner=False)
    _save_cases([case for case in cases if case.pk in batch.reassigned], with_owner=True)


class _Writer:
    """A ``caseloop.bulkrows.Table`` for one model, made on first use (it reads the
    connection's vendor)."""

    def __init__(self, model: type[models.Model], columns: Sequence[str]) -> None:
        self.model, self.columns = model, columns

    def writer(self) -> Table:
        return Table(self.model, self.columns)


_ESCALATIONS = _Writer(
    Escalation, ["case_id", "deadline", "deadline_at", "level", "designee_id", "created_at"]
)
_EVENT_COLUMNS = ("case_id", "actor_id", "kind", "data", "created_at")
_EVENTS = _Writer(CaseEvent, _EVENT_COLUMNS)
_WATCHERS = _Writer(CaseWatcher, ["case_id", "user_id", "access", "added_at"])


def _insert_events(steps: Sequence[_Step], now: datetime) -> list[CaseEvent]:
    """The steps' events, written with ``executemany``-speed inserts (``bulk_create`` compiles
    SQL value by value: most of a batch's time); returned with their ids and each with its case
    as its people are told, for notifying."""
    rows = [(s.case.pk, None, s.kind.value, s.data, now) for s in steps]
    ids = _EVENTS.writer().insert_returning_ids(rows)
    events = instances(
        CaseEvent,
        ("id", *_EVENT_COLUMNS),
        [(pk, *row) for pk, row in zip(ids, rows, strict=True)],
        from_database=False,
    )
    case_field = CaseEvent._meta.get_field("case")
    for event, step in zip(events, steps, strict=True):
        case_field.set_cached_value(event, step.case)
    return events


def _save_cases(cases: Sequence[Case], *, with_owner: bool) -> None:
    """One ``UPDATE`` by id per case, sent with ``executemany``: ``bulk_update`` builds a
    ``CASE WHEN`` expression per case and field, which costs milliseconds per case."""
    if not cases:
        return
    names = [name for name in _CASE_FIELDS if with_owner or name != "owner"]
    fields = [Case._meta.get_field(name) for name in names]
    updated_at = timezone.now()
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    # Datetimes straight through the backend's adapter (the field's own checks for naive values
    # cost more than the update; these come from the database or ``now``); the other columns
    # are booleans and integers, which the drivers take as they are.
    adapt = connection.ops.adapt_datetimefield_value
    dates = [isinstance(f, models.DateTimeField) for f in fields]
    rows = []
    for case in cases:
        case.updated_at = updated_at
        values = [getattr(case, f.attname) for f in fields]
        rows.append([adapt(v) if d else v for v, d in zip(values, dates, strict=True)] + [case.pk])
    # Only quoted model metadata is formatted in; the values are bound.
    table, pk = quote(Case._meta.db_table), quote(Case._meta.pk.column)
    sql = f"UPDATE {table} SET {assignments} WHERE {pk} = %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _write_watchers(steps: Sequence[_Step], batch: _Batch) -> None:
    """Full-access watchers added (or upgraded, re-dated) and removed, in at most three
    queries; ``batch.watchers`` follows the rows."""
    removed: list[int] = []
    upgraded: list[int] = []
    added: list[tuple[int, int, str, datetime]] = []
    for step in steps:
        for user_id, watching in step.watchers.items():
            key = (step.case.pk, user_id)
            existing = batch.watchers.get(key)
            if not watching:
                if existing is not None:
                    removed.append(batch.watchers.pop(key))
            elif existing is not None:
                upgraded.append(existing)
            else:
                added.append((step.case.pk, user_id, WatcherAccess.FULL.value, batch.now))
    # Watcher rows are referred to by nothing and watched by no signal: plain statements.
    delete_in(CaseWatcher, "id", removed)
    update_in(
        CaseWatcher, {"access": WatcherAccess.FULL.value, "added_at": batch.now}, "id", upgraded
    )
    for (case_id, user_id, *_), pk in zip(
        added, _WATCHERS.writer().insert_returning_ids(added), strict=True
    ):
        batch.watchers[(case_id, user_id)] = pk
