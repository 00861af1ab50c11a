"""The generated part of the demo: customers, their purchases, and cases with their history.

Everything is drawn from ``random.Random(seed)``, never from the global generator, so the same
seed always gives the same plan. Times are offsets back from a reference ``now``: the loader
passes the moment of loading, so a demo loaded on any day has fresh New cases, cases that are
Overdue today (open past their resolve deadline) and a 90-day history of closed ones. The plan
is plain data; ``caseloop.demo.loader`` turns it into rows through the domain services.
"""

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from caseloop.cases.models import ContactOutcome, Priority, Source, WatcherAccess
from caseloop.demo.catalogue import (
    AREA_CODES,
    CONTACT_CENTRE,
    CONTACT_CENTRE_AGENTS,
    CONTACT_CENTRE_UNIT,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    HEAD_OF_CARE,
    LAST_NAMES,
    LIMITED_WATCHER,
    REGIONS,
    RETAIL,
    STORES,
    CaseTypeSpec,
    ProgramSpec,
    UnitSpec,
)

DEFAULT_SEED = 2026
CUSTOMER_COUNT = 2500
CASE_COUNT = 2000
HISTORY_DAYS = 90
MAX_CUSTOMERS = len(AREA_CODES) * 100

RETAIL_SHARE = 0.7
# Larger stores get more cases, so the dashboard has something to compare.
_STORE_WEIGHTS = (6, 4, 3, 5, 3, 3, 6, 3, 2, 4, 4, 3)
# How a case has ended up by its age in days: weights of New, In Progress, Closed. Young cases
# are mostly open and within their deadlines; old open ones are the overdue backlog.
_FATE_BY_AGE = ((1.0, (50, 40, 10)), (4.0, (15, 45, 40)), (14.0, (5, 20, 75)), (None, (1, 4, 95)))
_NEW, _IN_PROGRESS, _CLOSED = "new", "in_progress", "closed"


@dataclass(frozen=True)
class Purchase:
    reference: str
    unit: str | None
    occurred_at: datetime
    kind: str
    amount: Decimal


@dataclass(frozen=True)
class CustomerPlan:
    external_id: str
    name: str
    email: str
    phone: str
    purchases: tuple[Purchase, ...]


@dataclass(frozen=True)
class NoteStep:
    at: datetime
    actor: str
    body: str


@dataclass(frozen=True)
class ContactStep:
    at: datetime
    actor: str
    outcome: str
    channel: str
    note: str


@dataclass(frozen=True)
class TaskStep:
    at: datetime
    actor: str
    position: int


@dataclass(frozen=True)
class WatchStep:
    at: datetime
    user: str
    access: str


@dataclass(frozen=True)
class ReassignStep:
    at: datetime
    owner: str


@dataclass(frozen=True)
class CloseStep:
    at: datetime
    actor: str
    closing_status: str
    root_causes: tuple[str, ...]
    final_note: str


@dataclass(frozen=True)
class ReopenStep:
    at: datetime
    reason: str


Step = NoteStep | ContactStep | TaskStep | WatchStep | ReassignStep | CloseStep | ReopenStep


@dataclass(frozen=True)
class CasePlan:
    program: str
    case_type: str
    unit: str
    owner: str | None
    customer: int
    purchase: Purchase | None
    subject: str
    description: str
    verbatim: str
    priority: str
    source: str
    external_source: str
    external_id: str
    alert_reason: dict[str, object]
    created_at: datetime
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class DemoPlan:
    seed: int
    now: datetime
    customers: tuple[CustomerPlan, ...]
    cases: tuple[CasePlan, ...] = field(repr=False)


def build_plan(
    *,
    now: datetime,
    seed: int = DEFAULT_SEED,
    customers: int = CUSTOMER_COUNT,
    cases: int = CASE_COUNT,
) -> DemoPlan:
    """The demo's customers and cases for ``seed``, with times counted back from ``now``."""
    if not 1 <= customers <= MAX_CUSTOMERS:
        raise ValueError(f"The demo has room for 1 to {MAX_CUSTOMERS} customers.")
    draw = _Draw(random.Random(seed), now)
    customer_plans = tuple(draw.customers(customers))
    case_plans = tuple(draw.cases(cases, len(customer_plans)))
    return DemoPlan(seed=seed, now=now, customers=customer_plans, cases=case_plans)


@dataclass(frozen=True)
class _Intake:
    """Where a case came from and what it is about."""

    source: str
    external_source: str
    external_id: str
    purchase: Purchase | None
    description: str
    alert_reason: dict[str, object]


@dataclass(frozen=True)
class _Roles:
    """Who works a case: its owner, the manager who watches it with full access."""

    owner: str
    full_watcher: str


class _Draw:
    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now
        self.end = now - timedelta(minutes=1)
        self.purchase_count = 0

    def customers(self, count: int) -> list[CustomerPlan]:
        rng = self.rng
        phone_slots = rng.sample(range(MAX_CUSTOMERS), count)
        plans = []
        for index, slot in enumerate(phone_slots, start=1):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = f"{first}.{last}.{index}@{rng.choice(EMAIL_DOMAINS)}".lower()
            phone = f"+1 {AREA_CODES[slot // 100]} 555 01{slot % 100:02d}"
            contact = rng.random()
            # A few customers left only one way to reach them, a handful none at all.
            if 0.90 <= contact < 0.96:
                phone = ""
            elif 0.96 <= contact < 0.995:
                email = ""
            elif contact >= 0.995:
                email = phone = ""
            purchases = tuple(
                self.purchase(
                    rng.choice(STORES).code, self.now - timedelta(days=rng.uniform(0, 120))
                )
                for _ in range(rng.randint(0, 3))
            )
            plans.append(
                CustomerPlan(f"LOY-{index:06d}", f"{first} {last}", email, phone, purchases)
            )
        return plans

    def purchase(self, unit: str | None, at: datetime) -> Purchase:
        self.purchase_count += 1
        prefix, kind = ("POS", "purchase") if unit else ("WEB", "online order")
        amount = Decimal(self.rng.randint(299, 24999)) / 100
        return Purchase(f"{prefix}-{self.purchase_count:07d}", unit, at, kind, amount)

    def cases(self, count: int, customers: int) -> list[CasePlan]:
        # Sorted first, so that case numbers and survey response ids grow with time.
        created = sorted(self.created_at() for _ in range(count))
        return [self.case(index, at, customers) for index, at in enumerate(created, start=1)]

    def created_at(self) -> datetime:
        rng = self.rng
        days = rng.uniform(0, 7) if rng.random() < 0.3 else rng.uniform(7, HISTORY_DAYS)
        return self.end - timedelta(minutes=15) - timedelta(days=days)

    def fate(self, created_at: datetime) -> str:
        age_days = (self.end - created_at) / timedelta(days=1)
        for max_age, weights in _FATE_BY_AGE:
            if max_age is None or age_days < max_age:
                return self.rng.choices((_NEW, _IN_PROGRESS, _CLOSED), weights)[0]
        raise AssertionError("unreachable: the last age band is open-ended")

    def case(self, index: int, created_at: datetime, customers: int) -> CasePlan:
        rng = self.rng
        if rng.random() < RETAIL_SHARE:
            program = RETAIL
            store = rng.choices(STORES, weights=_STORE_WEIGHTS)[0]
            unit, owner = store.code, store.owner
            roles = _Roles(owner=owner or "", full_watcher=_region_of(store).manager or "")
        else:
            program = CONTACT_CENTRE
            unit, owner = CONTACT_CENTRE_UNIT, rng.choice(CONTACT_CENTRE_AGENTS)
            roles = _Roles(owner=owner, full_watcher=HEAD_OF_CARE)
        case_type = rng.choice(program.case_types)
        steps = self.history(program, case_type, roles, created_at)
        intake = self.intake(program, case_type, unit, index, created_at)
        return CasePlan(
            program=program.code,
            case_type=case_type.code,
            unit=unit,
            owner=owner,
            customer=rng.randrange(customers),
            purchase=intake.purchase,
            description=intake.description,
            source=intake.source,
            external_source=intake.external_source,
            external_id=intake.external_id,
            alert_reason=intake.alert_reason,
            subject=rng.choice(case_type.subjects),
            verbatim=rng.choice(case_type.customer_words),
            priority=rng.choices(
                (Priority.NORMAL, Priority.HIGH, Priority.LOW, Priority.URGENT), (70, 15, 10, 5)
            )[0],
            created_at=created_at,
            steps=tuple(steps),
        )

    def intake(
        self, program: ProgramSpec, case_type: CaseTypeSpec, unit: str, index: int, at: datetime
    ) -> _Intake:
        """Where the case came from: a survey alert for the stores, a contact for the centre."""
        rng = self.rng
        if program is RETAIL:
            bought_at = at - timedelta(hours=rng.uniform(2, 96))
            return _Intake(
                source=Source.SURVEY,
                external_source="demo-survey",
                external_id=f"SRV-{index:06d}",
                purchase=self.purchase(unit, bought_at),
                description="The customer reported a concern in the post-purchase survey.",
                alert_reason={
                    "rule": "Concern reported",
                    "question": "Did anything go wrong during your visit?",
                    "answer": "yes",
                    "overall_satisfaction": rng.randint(1, 6),
                },
            )
        source = rng.choices((Source.PHONE, Source.EMAIL, Source.WEB), (55, 30, 15))[0]
        ordered_online = case_type.code in ("delivery", "online-order") or (
            case_type.code == "billing" and rng.random() < 0.5
        )
        ordered_at = at - timedelta(days=rng.uniform(1, 14))
        return _Intake(
            source=source,
            external_source="",
            external_id="",
            purchase=self.purchase(None, ordered_at) if ordered_online else None,
            description=f"Complaint received by {Source(source).label.lower()}.",
            alert_reason={},
        )

    def history(
        self, program: ProgramSpec, case_type: CaseTypeSpec, roles: _Roles, created_at: datetime
    ) -> list[Step]:
        """What happened to the case after it opened, in time order, up to ``now``."""
        rng = self.rng
        fate = self.fate(created_at)
        steps: list[Step] = []
        if rng.random() < 0.08:
            steps.append(
                WatchStep(created_at + timedelta(seconds=1), LIMITED_WATCHER, WatcherAccess.LIMITED)
            )
        if roles.owner in CONTACT_CENTRE_AGENTS and rng.random() < 0.08:
            colleague = rng.choice([a for a in CONTACT_CENTRE_AGENTS if a != roles.owner])
            steps.append(
                ReassignStep(created_at + timedelta(minutes=rng.uniform(2, 10)), colleague)
            )
            roles = _Roles(owner=colleague, full_watcher=roles.full_watcher)
        if fate == _NEW:
            return steps
        started = (steps[-1].at if steps else created_at) + timedelta(minutes=1)
        if fate == _IN_PROGRESS:
            steps += self.activities(program, case_type, roles, started, self.end)
            return steps
        closed_at = started + min(
            timedelta(hours=rng.expovariate(1 / 36)) + timedelta(minutes=20),
            (self.end - started) * 0.95,
        )
        activities = self.activities(program, case_type, roles, started, closed_at)
        steps += activities
        close = self.close(program, case_type, roles, closed_at, first_contact=len(activities) == 1)
        steps.append(close)
        if _is_resolved(program, close.closing_status):
            tasks_done = sum(isinstance(step, TaskStep) for step in activities)
            steps += self.maybe_reopen(program, case_type, roles, closed_at, tasks_done)
        return steps

    def activities(
        self,
        program: ProgramSpec,
        case_type: CaseTypeSpec,
        roles: _Roles,
        after: datetime,
        before: datetime,
        *,
        tasks_done: int = 0,
    ) -> list[Step]:
        """One to three notes, contact attempts or ticked playbook tasks between two times."""
        rng = self.rng
        span = before - after
        times = sorted(
            after + span * rng.uniform(0.05, 0.9) for _ in range(rng.choice((1, 1, 2, 2, 3)))
        )
        next_task = tasks_done + 1
        steps: list[Step] = []
        for number, at in enumerate(times):
            actor = roles.owner if rng.random() < 0.9 else roles.full_watcher
            kind = rng.random()
            if number > 0 and kind < 0.3 and next_task <= len(case_type.playbook):
                steps.append(TaskStep(at, actor, next_task))
                next_task += 1
            elif kind < (0.65 if number == 0 else 0.7):
                outcome = rng.choices(
                    (
                        ContactOutcome.REACHED,
                        ContactOutcome.NO_ANSWER,
                        ContactOutcome.LEFT_MESSAGE,
                        ContactOutcome.WRONG_NUMBER,
                    ),
                    (45, 30, 20, 5),
                )[0]
                channel = "phone" if rng.random() < 0.8 else "email"
                note = "Asked to call back tomorrow." if outcome == ContactOutcome.REACHED else ""
                steps.append(ContactStep(at, actor, outcome, channel, note))
            else:
                steps.append(NoteStep(at, actor, rng.choice(program.notes)))
        return steps

    def close(
        self,
        program: ProgramSpec,
        case_type: CaseTypeSpec,
        roles: _Roles,
        at: datetime,
        *,
        first_contact: bool,
    ) -> CloseStep:
        rng = self.rng
        resolved = rng.random() < 0.78
        statuses = [s.code for s in program.closing_statuses if s.is_resolved == resolved]
        # "Resolved on first contact" only for a case closed after a single interaction.
        first_contact = "resolved-first-contact"
        if first_contact in statuses and len(statuses) > 1:
            if first_contact and rng.random() < 0.7:
                statuses = [first_contact]
            else:
                statuses.remove(first_contact)
        causes = tuple(rng.sample(case_type.likely_causes, 1 if rng.random() < 0.75 else 2))
        notes = program.resolved_notes if resolved else program.unresolved_notes
        return CloseStep(at, roles.owner, rng.choice(statuses), causes, rng.choice(notes))

    def maybe_reopen(
        self,
        program: ProgramSpec,
        case_type: CaseTypeSpec,
        roles: _Roles,
        closed_at: datetime,
        tasks_done: int,
    ) -> list[Step]:
        """A few resolved cases come back: the customer says in the follow-up survey that the
        problem is not solved. Half of those are closed again since."""
        rng = self.rng
        room = self.end - closed_at
        if room < timedelta(days=1) or rng.random() >= 0.05:
            return []
        reopened_at = closed_at + room * rng.uniform(0.1, 0.5)
        steps: list[Step] = [
            ReopenStep(
                reopened_at, "The customer said in the follow-up survey that it is not solved."
            )
        ]
        if rng.random() < 0.5:
            again_at = reopened_at + (self.end - reopened_at) * rng.uniform(0.3, 0.9)
            steps += self.activities(
                program, case_type, roles, reopened_at, again_at, tasks_done=tasks_done
            )
            steps.append(self.close(program, case_type, roles, again_at, first_contact=False))
        return steps


def _is_resolved(program: ProgramSpec, closing_status: str) -> bool:
    return next(s.is_resolved for s in program.closing_statuses if s.code == closing_status)


def _region_of(store: UnitSpec) -> UnitSpec:
    return next(region for region in REGIONS if region.code == store.parent)
