"""One batch of the deadline sweep, in the caller's transaction: claim the listed cases, plan what
happens to each in memory, and write it all in a fixed number of statements.

Issue #5 asks for 10,000 due cases among 1,000,000 open ones in under 200 ms. What a due case
needs written (its columns, an overdue and an escalated event, an escalation row, a watcher,
and the events queued for telling) is ~60,000 rows for such a sweep, so nothing here may cost
more than a few microseconds per case: cases are read as plain rows into slotted objects, the
designee chain and the deadlines' business-calendar arithmetic are computed once per unit,
owner and local day, and the rows go into temporary tables and from there into the real ones
with ``INSERT … SELECT`` (``caseloop.bulkrows.ScratchTable``). People are told afterwards by
the worker (``caseloop.notify.telling``), from the owner and watchers recorded here for each
event.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection

from caseloop.bulkrows import (
    ScratchTable,
    aware_datetime_reader,
    datetime_adapter,
    delete_in,
    dumps,
    new_ids,
    select_in,
    selected_datetime,
    text_datetime_reader,
    update_in,
)
from caseloop.cases.models import Case, CaseEvent, CaseWatcher, EventKind, Status, WatcherAccess
from caseloop.notify.telling import queue_untold_events_from
from caseloop.org.models import Unit, User, ids_in_path
from caseloop.org.queries import cover_standing_in, managers_upwards
from caseloop.programs.models import EscalationAction, Program
from caseloop.sla.calendar import BusinessCalendar
from caseloop.sla.deadlines import calendars_for_units
from caseloop.sla.models import DeadlineKind, Escalation

_NEW, _CLOSED = Status.NEW.value, Status.CLOSED.value
_OVERDUE, _ESCALATED = EventKind.OVERDUE.value, EventKind.ESCALATED.value
_START, _RESOLVE = DeadlineKind.START.value, DeadlineKind.RESOLVE.value
_REASSIGN = EscalationAction.REASSIGN.value


# The columns the sweep reads of a case, in the order of ``DueCase``.
_DUE_COLUMNS = (
    "id",
    "program_id",
    "unit_id",
    "owner_id",
    "status",
    "start_due_at",
    "resolve_due_at",
    "was_overdue",
    "next_deadline_at",
    "escalation_level",
    "version",
)


class DueCase:
    """What the sweep reads and changes of a case: its columns as plain values."""

    __slots__ = (*_DUE_COLUMNS, "owner_changed")
    COLUMNS = _DUE_COLUMNS

    id: int
    program_id: int
    unit_id: int
    owner_id: int | None
    status: str
    start_due_at: datetime | None
    resolve_due_at: datetime | None
    was_overdue: bool
    next_deadline_at: datetime | None
    escalation_level: int
    version: int
    owner_changed: bool


@dataclass
class Known:
    """What the batches of one sweep share, read the first time a batch needs it: programs,
    units' calendars and each unit's designee chain (a few hundred units serve the
    thousands of cases due). A sweep lasts seconds: a manager changed while it runs is
    followed from the next sweep on."""

    programs: dict[int, Program] = field(default_factory=dict)
    # Units and their ancestors, each with its manager and the manager's cover.
    units: dict[int, Unit] = field(default_factory=dict)
    calendars: dict[int, BusinessCalendar] = field(default_factory=dict)
    chains: dict[int, list[tuple[int, int | None]]] = field(default_factory=dict)
    step_due: dict[tuple[int, datetime, int], datetime] = field(default_factory=dict)

    def learn(self, cases: Sequence[DueCase]) -> None:
        """Read what ``cases`` need and is not known yet: one query per kind, or none."""
        programs = {case.program_id for case in cases} - self.programs.keys()
        if programs:
            self.programs.update(Program.objects.in_bulk(programs))
        unit_ids = {case.unit_id for case in cases} - self.calendars.keys()
        if not unit_ids:
            return
        paths = Unit.objects.filter(pk__in=unit_ids).values_list("path", flat=True)
        # A unit's path lists its ancestors and itself: the stores of one region share all but
        # themselves, read once per sweep.
        wanted = {unit_id for path in paths for unit_id in ids_in_path(path)}
        if missing := wanted - self.units.keys():
            self.units.update(Unit.objects.select_related("manager__cover").in_bulk(missing))
        units = [self.units[pk] for pk in unit_ids if pk in self.units]
        self.calendars.update(calendars_for_units(units))
        self.chains.update(
            {unit.pk: _designee_chain(managers_upwards(unit, self.units)) for unit in units}
        )

    def designee(
        self, unit_id: int, owner_id: int | None, level: int, *, climbing: bool
    ) -> int | None:
        """Who a late case goes to at escalation step ``level``: the ``level``-th person who can
        act in the unit's designee chain above the case's owner (from the bottom of the chain
        when the owner is not in it). When escalation hands the case over (``climbing``), the
        owner is the previous step's designee, so every step goes to the next one above."""
        chain = self.chains[unit_id]
        position = next(
            (i for i, people in enumerate(chain) if owner_id is not None and owner_id in people),
            -1,
        )
        above = [stand_in for _, stand_in in chain[position + 1 :] if stand_in is not None]
        step = 1 if climbing and position >= 0 else level
        return above[step - 1] if step <= len(above) else None

    def resolve_step_due(self, case: DueCase, level: int) -> datetime:
        """When escalation step ``level`` (1 = the resolve deadline itself) falls due: each
        further step one interval of business days after the resolve deadline."""
        assert case.resolve_due_at is not None
        if level <= 1:
            return case.resolve_due_at
        program = self.programs[case.program_id]
        days = (level - 1) * max(program.escalation_interval_days, 1)
        key = (case.unit_id, case.resolve_due_at, days)
        due = self.step_due.get(key)
        if due is None:
            due = self.step_due[key] = self.calendars[case.unit_id].add_business_days(
                case.resolve_due_at, days
            )
        return due


def _designee_chain(managers: Sequence[User]) -> list[tuple[int, int | None]]:
    """A unit's designee chain from its managers upwards, nearest first: (manager, who acts for
    them), the manager or the cover of a manager who is away. Nobody acts for a manager no
    longer active or away without a cover who can act: escalation passes over them to someone
    who is there."""
    chain: list[tuple[int, int | None]] = []
    acting: set[int] = set()
    for manager in managers:
        person: User | None = manager if manager.is_active else None
        if person is not None and manager.is_away:
            person = cover_standing_in(manager)
        # Someone who already acts lower in the chain is not a step up a second time.
        if person is not None and person.pk in acting:
            person = None
        if person is not None:
            acting.add(person.pk)
        chain.append((manager.pk, person.pk if person else None))
    return chain


_DATETIME_COLUMNS = {"start_due_at", "resolve_due_at", "next_deadline_at"}


def due_cases_sql(
    now: datetime, after: tuple[datetime, int] | None, limit: int
) -> tuple[str, list[object]]:
    """The query that claims the next ``limit`` due cases after ``after`` (due time, id of the
    last case already claimed) in the order of the partial index ``case_next_deadline_due``,
    locking them where the database can and passing over those another transaction holds."""
    quote = connection.ops.quote_name
    columns = {f.attname: quote(f.column) for f in Case._meta.concrete_fields}
    selected = ", ".join(
        selected_datetime(columns[c]) if c in _DATETIME_COLUMNS else columns[c]
        for c in DueCase.COLUMNS
    )
    due, pk = columns["next_deadline_at"], columns["id"]
    adapt = datetime_adapter()
    conditions, params = f"{due} <= %s", [adapt(now)]
    if after is not None:
        last_due, last_id = after
        # A range on the index's leading column, so that the search starts at the last case.
        conditions += f" AND {due} >= %s AND ({due} > %s OR {pk} > %s)"
        params += [adapt(last_due), adapt(last_due), last_id]
    lock = (
        " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    )
    table = quote(Case._meta.db_table)
    # Only quoted model metadata is formatted in; values are bound.
    sql = (
        f"SELECT {selected} FROM {table} WHERE {conditions} "  # noqa: S608
        f"ORDER BY {due}, {pk} LIMIT %s{lock}"
    )
    return sql, [*params, limit]


def commit_without_waiting_for_the_disk() -> None:
    """On PostgreSQL, let this transaction's commit return before its log reaches the disk
    (``synchronous_commit`` off for it alone): a third of the sweep's time at 10,000 due cases
    was the five commits' flushes. Safe for the sweep: a crash can lose only its last few
    commits whole, which leaves those cases due for the next sweep to escalate, never half a
    batch; and nothing leaves the database on their account before they are on disk, since
    the telling and the delivery that follow commit synchronously, which flushes the log up
    to and with the sweep's commits first. SQLite in WAL mode with ``synchronous=NORMAL``
    already commits without syncing. Only a transaction of the sweep's own: inside a caller's
    (the demo's load), ``SET LOCAL`` would last until the caller's commit."""
    outermost = connection.in_atomic_block and not connection.savepoint_ids
    if connection.vendor == "postgresql" and outermost:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def claim_due(now: datetime, after: tuple[datetime, int] | None, limit: int) -> list[DueCase]:
    """The next due cases (``due_cases_sql``), read and locked in one query, in the caller's
    transaction: on SQLite the IMMEDIATE transaction already holds the write lock, so no other
    worker can change them before this one commits; on PostgreSQL ``SKIP LOCKED`` leaves the
    cases another worker holds to it, and a case another committed since is judged again on
    its new values."""
    sql, params = due_cases_sql(now, after, limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    read = text_datetime_reader()
    return [_due_case(row, read) for row in rows]


def claim(listed: Sequence[tuple[int, datetime]]) -> list[DueCase]:
    """The listed cases, locked (PostgreSQL: those no other transaction holds), that still
    have the due time they were listed with, in the order of the due index."""
    seen = dict(listed)
    rows = select_in(Case, DueCase.COLUMNS, "id", list(seen), skip_locked=True)
    aware = aware_datetime_reader()
    claimed = [_due_case(row, aware) for row in rows]
    claimed = [
        c for c in claimed if c.next_deadline_at is not None and c.next_deadline_at == seen[c.id]
    ]
    claimed.sort(key=lambda case: (case.next_deadline_at, case.id))
    return claimed


def _due_case(row: Sequence[object], read: Callable[[object], datetime | None]) -> DueCase:
    case = DueCase()
    (
        case.id,
        case.program_id,
        case.unit_id,
        case.owner_id,
        case.status,
        start,
        resolve,
        case.was_overdue,
        due,
        case.escalation_level,
        case.version,
    ) = row
    case.start_due_at, case.resolve_due_at, case.next_deadline_at = (
        read(start),
        read(resolve),
        read(due),
    )
    case.owner_changed = False
    return case


# One event of a step: (case id, kind, data, owner then, watchers then) and, for an escalation,
# the escalation row's (deadline kind, deadline instant, level, designee).
Step = tuple[int, str, dict[str, object], int | None, frozenset[int]]
EscalationRow = tuple[str, datetime, int, int | None] | None


@dataclass
class Plan:
    """What a batch writes: the changed cases, the events (with their escalations), and the
    watchers the steps make, in order: (case, user, True for full access or False for no
    longer watching)."""

    now: datetime
    cases: list[DueCase] = field(default_factory=list)
    steps: list[tuple[Step, EscalationRow]] = field(default_factory=list)
    watcher_changes: list[tuple[int, int, bool]] = field(default_factory=list)

    def mark(self) -> tuple[int, int, int]:
        """Where the plan stands, for ``undo``."""
        return len(self.cases), len(self.steps), len(self.watcher_changes)

    def undo(self, mark: tuple[int, int, int]) -> None:
        """Forget what was planned since ``mark``: a case that failed half way takes none."""
        cases, steps, watcher_changes = mark
        del self.cases[cases:], self.steps[steps:], self.watcher_changes[watcher_changes:]


# Each case's watchers: user id → watcher row id.
Watchers = dict[int, dict[int, int]]


# A deadline step already taken: (case, the start escalation or the overdue mark, deadline).
Taken = set[tuple[int, str, datetime]]


def read_context(cases: Sequence[DueCase], now: datetime) -> tuple[Taken, Watchers]:
    """For a batch, in at most three queries: the steps its late cases may have taken already
    (the start escalation of a New case; the overdue mark of a case that was overdue before
    and has a new resolve deadline since it was reopened or moved), and each case's
    watchers."""
    taken: Taken = set()
    late = [c.id for c in cases if c.status == _NEW and c.start_due_at and c.start_due_at <= now]
    if late:
        aware = aware_datetime_reader()
        rows = select_in(
            Escalation, ("case_id", "deadline_at"), "case_id", late, equal={"deadline": _START}
        )
        taken.update((case_id, _START, aware(at)) for case_id, at in rows)
    marked_before = [c.id for c in cases if c.was_overdue and c.escalation_level == 0]
    if marked_before:
        for case_id, data in select_in(
            CaseEvent, ("case_id", "data"), "case_id", marked_before, equal={"kind": _OVERDUE}
        ):
            due = (json.loads(data) if isinstance(data, str) else data)["resolve_due_at"]
            taken.add((case_id, _OVERDUE, datetime.fromisoformat(due)))
    watchers: Watchers = {case.id: {} for case in cases}
    for pk, case_id, user_id in select_in(
        CaseWatcher, ("id", "case_id", "user_id"), "case_id", list(watchers)
    ):
        watchers[case_id][user_id] = pk
    return taken, watchers


def plan_case(
    case: DueCase,
    plan: Plan,
    known: Known,
    taken: Taken,
    watchers: set[int],
) -> int:
    """Apply to ``case`` (in memory) what the sweep does at ``plan.now``: the start escalation
    of a New case, the overdue mark, the resolve escalations due by now, and the next
    deadline; add the case and its events to ``plan`` (on an error, ``Plan.undo`` takes back
    what was added). ``watchers`` (user ids) follows the steps. Returns how many steps there
    were."""
    now, program = plan.now, known.programs[case.program_id]
    before = len(plan.steps)
    start_due = case.start_due_at
    # No column records a start escalation: the escalation rows do (read once for the batch).
    start_late = case.status == _NEW and start_due is not None and start_due <= now
    if start_late and (case.id, _START, start_due) not in taken:
        _escalate(case, plan, known, program, watchers, (_START, start_due, 1))
    resolve_due = case.resolve_due_at
    if case.status != _CLOSED and resolve_due is not None and resolve_due <= now:
        # ``was_overdue`` stays set for reporting when a case is reopened or moved with new
        # deadlines: missing the new resolve deadline is marked again, once.
        marked = case.was_overdue and (
            case.escalation_level > 0 or (case.id, _OVERDUE, resolve_due) in taken
        )
        if not marked:
            case.was_overdue = True
            data = {"resolve_due_at": resolve_due.isoformat()}
            step = (case.id, _OVERDUE, data, case.owner_id, frozenset(watchers))
            plan.steps.append((step, None))
        while case.escalation_level < program.escalation_levels:
            level = case.escalation_level + 1
            if known.resolve_step_due(case, level) > now:
                break
            _escalate(case, plan, known, program, watchers, (_RESOLVE, resolve_due, level))
            case.escalation_level = level
    case.next_deadline_at = _next_deadline(case, program, known, now)
    steps = len(plan.steps) - before
    if steps:
        # Someone holding an edit form of this case must reload: owner or watchers may differ.
        case.version += 1
    plan.cases.append(case)
    return steps


def _escalate(
    case: DueCase,
    plan: Plan,
    known: Known,
    program: Program,
    watchers: set[int],
    deadline: tuple[str, datetime, int],
) -> None:
    """One step up the chain: the designee becomes a full-access watcher, or the owner (the
    previous owner then watches with full access), as the program says."""
    kind, deadline_at, level = deadline
    action = program.escalation_action
    designee = known.designee(case.unit_id, case.owner_id, level, climbing=action == _REASSIGN)
    if designee is not None:
        if action == _REASSIGN and designee != case.owner_id:
            previous = case.owner_id
            case.owner_id, case.owner_changed = designee, True
            watchers.discard(designee)
            plan.watcher_changes.append((case.id, designee, False))
            if previous is not None:
                watchers.add(previous)
                plan.watcher_changes.append((case.id, previous, True))
        else:
            watchers.add(designee)
            plan.watcher_changes.append((case.id, designee, True))
    data = {
        "deadline": kind,
        "deadline_at": deadline_at.isoformat(),
        "level": level,
        "designee": designee,
        "action": action,
    }
    step = (case.id, _ESCALATED, data, case.owner_id, frozenset(watchers))
    plan.steps.append((step, (kind, deadline_at, level, designee)))


def _next_deadline(case: DueCase, program: Program, known: Known, now: datetime) -> datetime | None:
    """The next instant after ``now`` at which the sweep has something to do for ``case``."""
    if case.status == _CLOSED:
        return None
    pending: list[datetime] = []
    if case.status == _NEW and case.start_due_at and case.start_due_at > now:
        pending.append(case.start_due_at)
    if case.resolve_due_at and case.escalation_level < program.escalation_levels:
        pending.append(known.resolve_step_due(case, case.escalation_level + 1))
    elif case.resolve_due_at and (not case.was_overdue or case.resolve_due_at > now):
        pending.append(case.resolve_due_at)
    return min(pending) if pending else None


_STEPS = ScratchTable(
    "sla_sweep_step",
    [
        ("event_id", "INTEGER", "bigint"),
        ("case_id", "INTEGER", "bigint"),
        ("kind", "TEXT", "varchar(32)"),
        ("data", "TEXT", "jsonb"),
        ("owner_id", "INTEGER", "bigint"),
        ("watcher_ids", "TEXT", "jsonb"),
        ("deadline", "TEXT", "varchar(8)"),
        ("deadline_at", "TEXT", "timestamptz"),
        ("level", "INTEGER", "integer"),
        ("designee_id", "INTEGER", "bigint"),
    ],
)
_CASES = ScratchTable(
    "sla_sweep_case",
    [
        ("id", "INTEGER", "bigint"),
        ("next_deadline_at", "TEXT", "timestamptz"),
        ("was_overdue", "INTEGER", "boolean"),
        ("escalation_level", "INTEGER", "integer"),
        ("version", "INTEGER", "integer"),
        ("owner_id", "INTEGER", "bigint"),
    ],
)
_WATCHERS = ScratchTable(
    "sla_sweep_watcher",
    [
        ("id", "INTEGER", "bigint"),
        ("case_id", "INTEGER", "bigint"),
        ("user_id", "INTEGER", "bigint"),
    ],
)


def write(plan: Plan, watchers_before: Watchers) -> None:
    """Write ``plan`` in a number of statements that does not depend on its size. The unique
    escalation key refuses a double step, failing the batch."""
    if not plan.cases:
        return
    adapt = datetime_adapter()
    now = adapt(plan.now)
    _write_steps(plan, adapt, now)
    _write_watchers(plan, watchers_before, now)
    _write_cases(plan.cases, adapt, now)


Adapt = Callable[[datetime | None], object]


def _write_steps(plan: Plan, adapt: Adapt, now: object) -> None:
    if not plan.steps:
        return
    ids = new_ids(CaseEvent, len(plan.steps))
    rows = []
    # The cases of a store share their watchers: each set is written out once.
    watcher_lists: dict[frozenset[int], str] = {}
    no_escalation = (None, None, None, None)
    for event_id, ((case_id, kind, data, owner_id, watchers), escalation) in zip(
        ids, plan.steps, strict=True
    ):
        deadline, deadline_at, level, designee = escalation or no_escalation
        watcher_list = watcher_lists.get(watchers)
        if watcher_list is None:
            watcher_list = watcher_lists[watchers] = dumps(sorted(watchers))
        rows.append(
            (
                event_id,
                case_id,
                kind,
                dumps(data),
                owner_id,
                watcher_list,
                deadline,
                adapt(deadline_at),
                level,
                designee,
            )
        )
    _STEPS.fill(rows)
    quote = connection.ops.quote_name
    events, escalations = quote(CaseEvent._meta.db_table), quote(Escalation._meta.db_table)
    with connection.cursor() as cursor:
        # Only model metadata and this module's table names are formatted in; values are bound.
        cursor.execute(
            f"INSERT INTO {events} (id, case_id, actor_id, kind, data, created_at) "  # noqa: S608
            f"SELECT event_id, case_id, NULL, kind, data, %s FROM {_STEPS.name} ORDER BY event_id",
            [now],
        )
        cursor.execute(
            f"INSERT INTO {escalations} "  # noqa: S608
            "(case_id, deadline, deadline_at, level, designee_id, created_at) "
            f"SELECT case_id, deadline, deadline_at, level, designee_id, %s FROM {_STEPS.name} "
            "WHERE level IS NOT NULL ORDER BY event_id",
            [now],
        )
    queue_untold_events_from(_STEPS.name)


def _write_watchers(plan: Plan, watchers_before: Watchers, now: object) -> None:
    """The watchers the steps made: added with full access, upgraded (and re-dated), or
    removed (a designee who became the owner)."""
    added: list[tuple[int, int]] = []
    upgraded: list[int] = []
    removed: list[int] = []
    # The last change of a (case, user) is what holds.
    last = {(case_id, user_id): full for case_id, user_id, full in plan.watcher_changes}
    for (case_id, user_id), full in last.items():
        row_id = watchers_before[case_id].get(user_id)
        if row_id is None:
            if full:
                added.append((case_id, user_id))
        else:
            (upgraded if full else removed).append(row_id)
    delete_in(CaseWatcher, "id", removed)
    update_in(
        CaseWatcher, {"access": WatcherAccess.FULL.value, "added_at": plan.now}, "id", upgraded
    )
    if not added:
        return
    _WATCHERS.fill([(index, case_id, user_id) for index, (case_id, user_id) in enumerate(added)])
    table = connection.ops.quote_name(CaseWatcher._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (case_id, user_id, access, added_at) "  # noqa: S608
            f"SELECT case_id, user_id, %s, %s FROM {_WATCHERS.name} ORDER BY id",
            [WatcherAccess.FULL.value, now],
        )


def _write_cases(cases: Sequence[DueCase], adapt: Adapt, now: object) -> None:
    """Every case's sweep columns in one statement. On SQLite the owner goes in another, for
    the cases whose owner changed only: SQLite rewrites the entries of the indexes on the
    columns an ``UPDATE`` sets, and three indexes lead with the owner. PostgreSQL writes a new
    entry in every index of the table for each row whose indexed columns change (the due
    time always does), so there the owner costs nothing more in the same statement, where a
    second one would write every index again."""
    _CASES.fill(
        [
            (
                case.id,
                adapt(case.next_deadline_at),
                case.was_overdue,
                case.escalation_level,
                case.version,
                case.owner_id,
            )
            for case in cases
        ]
    )
    table = connection.ops.quote_name(Case._meta.db_table)
    columns = "next_deadline_at, was_overdue, escalation_level, version"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # PostgreSQL joins the scratch rows; SQLite's UPDATE … FROM scans the cases instead.
            cursor.execute(
                f"UPDATE {table} AS c SET next_deadline_at = s.next_deadline_at, "  # noqa: S608
                "was_overdue = s.was_overdue, escalation_level = s.escalation_level, "
                f"version = s.version, owner_id = s.owner_id, updated_at = %s "
                f"FROM {_CASES.name} s WHERE s.id = c.id",
                [now],
            )
            return
        cursor.execute(
            f"UPDATE {table} SET ({columns}, updated_at) = "  # noqa: S608
            f"(SELECT {columns}, %s FROM {_CASES.name} s WHERE s.id = {table}.id) "
            f"WHERE id IN (SELECT id FROM {_CASES.name})",
            [now],
        )
        moved = [(case.owner_id, case.id) for case in cases if case.owner_changed]
        if moved:
            cursor.executemany(f"UPDATE {table} SET owner_id = %s WHERE id = %s", moved)  # noqa: S608
