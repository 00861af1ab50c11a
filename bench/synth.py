"""Row synthesis for the benchmark data set: customers and cases with their whole history.

Every case is written as the case services would have left it, so that later benchmarks (case
page, dashboard, sweep) read realistic rows:

- ``open_case``: the case (version 1, deadlines set, ``needs_contact_info`` from the customer),
  a full-access watcher for the store's manager unless that manager owns it, the playbook's
  tasks, and a ``created`` event listing owner and watchers;
- first activity by the owner (a contact attempt or a note, each also an interaction on the
  customer's timeline): In Progress, ``first_activity_at``, a ``started`` event, version + 1;
- ``close_case``: closing status, root causes, final note, ``closed_at``, ``was_overdue`` when
  closed after the resolve deadline, a ``closed`` event, version + 1 (closing a New case starts
  it in the same step).

Times are Unix seconds until they are written. Deadlines are plain offsets from the opening time
(the business calendar is not what these benchmarks measure).
"""

import bisect
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Generic, TypeVar

from bench import vocabulary as words
from bench.rows import TableWriter, db_json, time_adapter
from caseloop.cases.models import (
    Case,
    CaseEvent,
    CaseNote,
    CaseTask,
    CaseWatcher,
    ContactAttempt,
    ContactOutcome,
)
from caseloop.customers.models import Customer, Interaction

DAY = 86_400.0
HOUR = 3_600.0
NEW, IN_PROGRESS, CLOSED = 0, 1, 2
STATUS_VALUES = ("new", "in_progress", "closed")


T = TypeVar("T")


class Weighted(Generic[T]):
    """Draws from (value, weight) pairs with one binary search per draw."""

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self.values = [value for value, _ in pairs]
        self.cumulative = list(accumulate(weight for _, weight in pairs))
        self.total = self.cumulative[-1]

    def draw(self, rng: random.Random) -> T:
        index = bisect.bisect_right(self.cumulative, rng.random() * self.total)
        return self.values[min(index, len(self.values) - 1)]


@dataclass(frozen=True)
class Store:
    unit_id: int
    agents: Weighted[int]  # the designated owner takes about half of the store's cases
    manager_id: int | None  # the store's manager watches its new cases


@dataclass(frozen=True)
class CaseTypeInfo:
    id: int
    subjects: tuple[str, ...]
    playbook: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class ProgramInfo:
    id: int
    start_seconds: float
    resolve_seconds: float
    case_types: Weighted[CaseTypeInfo]
    sources: Weighted[str]
    closing: Weighted[tuple[int, str, bool]]
    root_causes: Weighted[tuple[int, str]]


@dataclass
class World:
    """Everything a case draws from: stores weighted by volume, programs, customers."""

    now: float
    stores: Weighted[Store]
    programs: Weighted[ProgramInfo]
    first_customer_id: int
    customer_has_contact: bytearray = field(default_factory=bytearray)


def plan_cases(rng: random.Random, size: int, now: float) -> list[tuple[float, int]]:
    """(opened at, status) of every case, in opening order, so that ids grow with time as they
    do when the services create cases one after the other.

    A quarter New, a quarter In Progress, half Closed. Closed cases spread over two years; open
    ones are mostly recent, with a backlog of old ones (the cases an inbox must not lose), so
    that about two thirds of the open cases are past their resolve deadline.
    """
    plans: list[tuple[float, int]] = []
    for _ in range(size):
        draw = rng.random()
        if draw < 0.25:
            status, recent, fresh_days = NEW, rng.random() < 0.8, 6.0
        elif draw < 0.5:
            status, recent, fresh_days = IN_PROGRESS, rng.random() < 0.7, 12.0
        else:
            status, recent, fresh_days = CLOSED, False, 1.0
        days = rng.uniform(0.0, fresh_days) if recent else rng.uniform(fresh_days, 730.0)
        plans.append((round(now - days * DAY, 6), status))
    plans.sort()
    return plans


def customer_writer() -> TableWriter:
    return TableWriter(
        Customer, ["id", "external_id", "name", "email", "phone", "attributes", "created_at"]
    )


def add_customer(
    writer: TableWriter,
    rng: random.Random,
    customer_id: int,
    now: float,
    db_time: Callable[[float], object],
) -> bool:
    """One customer as ``create_customer`` stores it (E.164 phone, lower-case email domain).

    Returns whether the customer has any contact details.
    """
    first, last = rng.choice(words.FIRST_NAMES), rng.choice(words.LAST_NAMES)
    kind = rng.random()
    has_email, has_phone = kind < 0.9, kind < 0.7 or 0.9 <= kind < 0.97
    email = f"{first}.{last}{customer_id}@{rng.choice(words.EMAIL_DOMAINS)}".lower()
    phone = f"+1{rng.choice(words.AREA_CODES)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
    external_id = f"CRM-{customer_id:08d}" if rng.random() < 0.6 else None
    segment = rng.random()
    attributes = {"segment": "business" if segment < 0.2 else "vip"} if segment < 0.3 else {}
    created = now - (730.0 + rng.uniform(0.0, 365.0)) * DAY
    writer.add(
        (
            customer_id,
            external_id,
            f"{first} {last}",
            email if has_email else "",
            phone if has_phone else "",
            db_json(attributes),
            db_time(created),
        )
    )
    return has_email or has_phone


class CaseSynthesizer:
    """Turns a planned case into the rows the services would have written for it."""

    def __init__(self, world: World, rng: random.Random, first_ids: dict[str, int]) -> None:
        self.world = world
        self.rng = rng
        self.ids = dict(first_ids)
        self.time = time_adapter()
        self.cases = TableWriter(
            Case,
            [
                "id",
                "program_id",
                "case_type_id",
                "customer_id",
                "unit_id",
                "owner_id",
                "subject",
                "description",
                "status",
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
                "first_activity_at",
                "closed_at",
                "was_overdue",
                "closing_status_id",
                "final_note",
                "version",
                "updated_at",
            ],
        )
        self.watchers = TableWriter(CaseWatcher, ["id", "case_id", "user_id", "access", "added_at"])
        self.tasks = TableWriter(CaseTask, ["id", "case_id", "position", "title"])
        self.events = TableWriter(
            CaseEvent, ["id", "case_id", "actor_id", "kind", "data", "created_at"]
        )
        self.attempts = TableWriter(
            ContactAttempt,
            ["id", "case_id", "actor_id", "channel", "outcome", "note", "attempted_at"],
        )
        self.notes = TableWriter(CaseNote, ["id", "case_id", "author_id", "body", "created_at"])
        self.interactions = TableWriter(
            Interaction,
            [
                "id",
                "customer_id",
                "case_id",
                "channel",
                "direction",
                "occurred_at",
                "summary",
                "agent_id",
            ],
        )
        self.root_causes = TableWriter(Case.root_causes.through, ["id", "case_id", "rootcause_id"])
        self.priorities = Weighted(words.PRIORITIES)
        self.outcomes = Weighted(words.CONTACT_OUTCOMES)
        self.outcome_labels = {value: str(label) for value, label in ContactOutcome.choices}

    @property
    def writers(self) -> list[TableWriter]:
        # Parents before children, so that PostgreSQL's foreign keys hold at every statement.
        return [
            self.cases,
            self.watchers,
            self.tasks,
            self.attempts,
            self.notes,
            self.interactions,
            self.events,
            self.root_causes,
        ]

    def _next(self, kind: str) -> int:
        value = self.ids[kind]
        self.ids[kind] = value + 1
        return value

    def _event(
        self, case_id: int, actor: int | None, kind: str, at: float, data: dict[str, object]
    ) -> None:
        self.events.add((self._next("event"), case_id, actor, kind, db_json(data), self.time(at)))

    def _customer(self) -> tuple[int, bool]:
        # Skewed: a few customers complain again and again, most once or never.
        world = self.world
        index = int(len(world.customer_has_contact) * self.rng.random() ** 1.3)
        return world.first_customer_id + index, bool(world.customer_has_contact[index])

    def add(self, case_id: int, opened: float, status: int) -> None:
        rng, world = self.rng, self.world
        program = world.programs.draw(rng)
        case_type = program.case_types.draw(rng)
        store = world.stores.draw(rng)
        owner = store.agents.draw(rng)
        customer_id, has_contact = self._customer()
        source = program.sources.draw(rng)
        start_due = opened + program.start_seconds
        resolve_due = opened + program.resolve_seconds

        first_activity = closed = None
        if status == IN_PROGRESS:
            delay = min(rng.lognormvariate(1.4, 1.0) * HOUR, (world.now - opened) * 0.9)
            first_activity = opened + delay
        elif status == CLOSED:
            took = min(rng.lognormvariate(3.6, 1.1) * HOUR, world.now - opened - 60.0)
            closed = opened + took
            if rng.random() < 0.85:
                first_activity = opened + took * rng.uniform(0.05, 0.6)

        watchers = [store.manager_id] if store.manager_id not in (None, owner) else []
        self._open(case_id, opened, program, case_type, store, owner, watchers, source)
        version, updated = 1, opened
        if first_activity is not None:
            self._first_activity(case_id, customer_id, owner, first_activity)
            version, updated = version + 1, first_activity
        closing_status_id, final_note, was_overdue = None, "", False
        if closed is not None:
            if first_activity is None:
                first_activity = closed
                self._event(case_id, owner, "started", closed, {})
            closing_status_id, final_note = self._close(case_id, owner, program, closed)
            was_overdue = closed > resolve_due
            version, updated = version + 1, closed

        external_source, external_id = _external_ref(source, case_id)
        survey = source == "survey"
        self.cases.add(
            (
                case_id,
                program.id,
                case_type.id,
                customer_id,
                store.unit_id,
                owner,
                rng.choice(case_type.subjects),
                "" if survey else rng.choice(words.DESCRIPTIONS),
                STATUS_VALUES[status],
                self.priorities.draw(rng),
                source,
                external_source,
                external_id,
                db_json(_alert_reason(rng) if survey else {}),
                rng.choice(words.VERBATIMS) if survey else "",
                not has_contact,
                self.time(opened),
                self.time(start_due),
                self.time(resolve_due),
                # What open_case sets (the earlier deadline) until close_case clears it; the
                # sweep has not run over this data set, so nothing moved it on.
                None if closed is not None else self.time(min(start_due, resolve_due)),
                self.time(first_activity),
                self.time(closed),
                was_overdue,
                closing_status_id,
                final_note,
                version,
                self.time(updated),
            )
        )

    def _open(
        self,
        case_id: int,
        at: float,
        program: ProgramInfo,
        case_type: CaseTypeInfo,
        store: Store,
        owner: int,
        watchers: list[int],
        source: str,
    ) -> None:
        for user_id in watchers:
            self.watchers.add((self._next("watcher"), case_id, user_id, "full", self.time(at)))
        for position, title in case_type.playbook:
            self.tasks.add((self._next("task"), case_id, position, title))
        # Staff who type a case in are its actor; intake channels open cases as the system.
        actor = owner if source == "manual" else None
        data = {"source": source, "owner": owner, "watchers": watchers, "assignment_rule": None}
        self._event(case_id, actor, "created", at, data)

    def _first_activity(self, case_id: int, customer_id: int, owner: int, at: float) -> None:
        rng = self.rng
        when = self.time(at)
        self._event(case_id, owner, "started", at, {})
        interaction_id = self._next("interaction")
        if rng.random() < 0.7:
            outcome = self.outcomes.draw(rng)
            self.attempts.add((self._next("attempt"), case_id, owner, "phone", outcome, "", when))
            summary = f"{self.outcome_labels[outcome]}."
            self.interactions.add(
                (interaction_id, customer_id, case_id, "phone", "outbound", when, summary, owner)
            )
            data = {"outcome": outcome, "channel": "phone", "note": ""}
            self._event(case_id, owner, "contact_attempted", at, data)
        else:
            body = rng.choice(words.NOTES)
            note_id = self._next("note")
            self.notes.add((note_id, case_id, owner, body, when))
            self.interactions.add(
                (interaction_id, customer_id, case_id, "note", "internal", when, body, owner)
            )
            self._event(case_id, owner, "note_added", at, {"note": note_id})

    def _close(self, case_id: int, owner: int, program: ProgramInfo, at: float) -> tuple[int, str]:
        rng = self.rng
        status_id, status_code, resolved = program.closing.draw(rng)
        causes = {program.root_causes.draw(rng)}
        if rng.random() < 0.25:
            causes.add(program.root_causes.draw(rng))
        for cause_id, _ in sorted(causes):
            self.root_causes.add((self._next("root_cause"), case_id, cause_id))
        final_note = rng.choice(words.FINAL_NOTES)
        data = {
            "closing_status": status_code,
            "resolved": resolved,
            "root_causes": sorted(code for _, code in causes),
            "final_note": final_note,
        }
        self._event(case_id, owner, "closed", at, data)
        return status_id, final_note

    def flush(self) -> int:
        return sum(writer.flush() for writer in self.writers)


def _external_ref(source: str, case_id: int) -> tuple[str, str]:
    """The intake channel's own id for the message that opened the case (unique per source)."""
    if source == "manual":
        return "", ""
    if source == "email":
        return "email", f"<m{case_id:09d}@mail.example.com>"
    return source, f"{source[0].upper()}{case_id:09d}"


def _alert_reason(rng: random.Random) -> dict[str, object]:
    score = rng.randint(0, 6)
    return {
        "rule": "Concern reported",
        "expression": "concern == true or overall <= 6",
        "values": {"concern": score > 2, "overall": score},
    }
