"""Load the demo into the database through the domain services, so it is valid by construction.

Units, memberships, customers and every step of every case go through the same services the
web app and the API use (``open_case``, ``add_note``, ``close_case`` … with ``now`` injected).
Programs and their lists are configuration and are written directly, as no service exists for
them yet; so are the user accounts and purchase records, for the same reason.

The whole load is one transaction: it lands completely or not at all, and a second load finds
the demo programs and adds nothing.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from caseloop.cases.models import Case, CaseEvent, CaseNote, CaseTask, ContactAttempt
from caseloop.cases.queries import InboxTab, count_by_display_status
from caseloop.cases.services import (
    add_note,
    add_watcher,
    assign_case,
    close_case,
    complete_task,
    log_contact_attempt,
    open_case,
    reopen_case,
)
from caseloop.customers.models import Customer, Interaction, Transaction
from caseloop.customers.services import create_customer
from caseloop.demo.catalogue import DEMO_PASSWORD, PROGRAMS, UNITS, USERS, ProgramSpec
from caseloop.demo.plan import (
    CASE_COUNT,
    CUSTOMER_COUNT,
    DEFAULT_SEED,
    CasePlan,
    CloseStep,
    ContactStep,
    DemoPlan,
    NoteStep,
    Purchase,
    ReassignStep,
    ReopenStep,
    Step,
    TaskStep,
    WatchStep,
    build_plan,
)
from caseloop.notify.services import cancel_unsent_email
from caseloop.notify.telling import tell_untold_events
from caseloop.org.models import Membership, Unit, User
from caseloop.org.services import create_unit, grant_role
from caseloop.programs.models import CaseType, ClosingStatus, PlaybookStep, Program, RootCause
from caseloop.sla.services import sweep_deadlines

Progress = Callable[[int, int], None]


class DemoClash(Exception):
    """The database already holds users or units the demo would create."""


@dataclass(frozen=True)
class DemoLoad:
    """What a load did: ``loaded`` is False when the demo was already there."""

    loaded: bool
    seconds: float
    reference_now: datetime | None = None


@dataclass
class _Config:
    users: dict[str, User]
    units: dict[str, Unit]
    programs: dict[str, Program]
    case_types: dict[tuple[str, str], CaseType]
    closing_statuses: dict[tuple[str, str], int]
    root_causes: dict[tuple[str, str], int]


def demo_is_loaded() -> bool:
    return Program.objects.filter(code__in=[p.code for p in PROGRAMS]).exists()


def load_demo(
    *,
    now: datetime | None = None,
    seed: int = DEFAULT_SEED,
    customers: int = CUSTOMER_COUNT,
    cases: int = CASE_COUNT,
    progress: Progress | None = None,
) -> DemoLoad:
    """Load the demo unless it is there already. Times count back from ``now`` (default: the
    current minute), so today always has fresh, due and overdue cases."""
    started = time.perf_counter()
    now = now or timezone.now().replace(second=0, microsecond=0)
    with transaction.atomic():
        # Checked inside the transaction: on SQLite it holds the write lock already, so two
        # demos started together load once (on PostgreSQL the unique codes stop the second).
        if demo_is_loaded():
            return DemoLoad(loaded=False, seconds=time.perf_counter() - started)
        _refuse_clashes()
        plan = build_plan(now=now, seed=seed, customers=customers, cases=cases)
        config = _load_configuration()
        customer_rows = _load_customers(plan, config)
        purchases = _load_case_purchases(plan, config, customer_rows)
        for done, case_plan in enumerate(plan.cases, start=1):
            _load_case(case_plan, config, customer_rows, purchases)
            if progress is not None:
                progress(done, len(plan.cases))
        # The history's deadlines passed long ago: escalate it as a worker running all along
        # would have. Its mail is made up and would flood the first SMTP server the demo is
        # pointed at; what happens after the load is mailed as usual.
        sweep_deadlines(now=now)
        tell_untold_events()
        cancel_unsent_email(
            list(
                Program.objects.filter(code__in=[p.code for p in PROGRAMS]).values_list(
                    "pk", flat=True
                )
            ),
            reason="Demo history: never mailed.",
        )
    return DemoLoad(loaded=True, seconds=time.perf_counter() - started, reference_now=now)


def _refuse_clashes() -> None:
    usernames = [u.username for u in USERS]
    taken = list(User.objects.filter(username__in=usernames).values_list("username", flat=True))
    taken += Unit.objects.filter(code__in=[u.code for u in UNITS]).values_list("code", flat=True)
    if taken:
        raise DemoClash(
            "The database already has users or units the demo needs "
            f"({', '.join(sorted(taken))}); load the demo into an empty database."
        )


def _load_configuration() -> _Config:
    config = _Config({}, {}, {}, {}, {}, {})
    # One slow hash shared by every demo account: the same password, a fraction of the time.
    password = make_password(DEMO_PASSWORD)
    for spec in USERS:
        config.users[spec.username] = User.objects.create(
            username=spec.username,
            first_name=spec.first_name,
            last_name=spec.last_name,
            email=f"{spec.username}@brightmart.example",
            password=password,
            is_superuser=spec.is_superuser,
            is_staff=spec.is_superuser,
        )
    for unit in UNITS:
        config.units[unit.code] = create_unit(
            code=unit.code,
            name=unit.name,
            kind=unit.kind,
            parent=config.units[unit.parent] if unit.parent else None,
            owner=config.users[unit.owner] if unit.owner else None,
            manager=config.users[unit.manager] if unit.manager else None,
        )
    for spec in USERS:
        if spec.role is not None and spec.unit is not None:
            grant_role(
                user=config.users[spec.username], unit=config.units[spec.unit], role=spec.role
            )
    for program in PROGRAMS:
        _load_program(program, config)
    return config


def _load_program(spec: ProgramSpec, config: _Config) -> None:
    code = spec.code
    program = Program.objects.create(
        code=spec.code,
        name=spec.name,
        description=spec.description,
        start_deadline=spec.start_deadline,
        start_deadline_unit=spec.deadline_unit,
        resolve_deadline=spec.resolve_deadline,
        resolve_deadline_unit=spec.deadline_unit,
    )
    config.programs[code] = program
    for type_spec in spec.case_types:
        case_type = CaseType.objects.create(
            program=program, code=type_spec.code, name=type_spec.name
        )
        PlaybookStep.objects.bulk_create(
            PlaybookStep(case_type=case_type, position=position, title=title)
            for position, title in enumerate(type_spec.playbook, start=1)
        )
        config.case_types[code, type_spec.code] = case_type
    for position, status in enumerate(spec.closing_statuses, start=1):
        row = ClosingStatus.objects.create(
            program=program,
            code=status.code,
            name=status.name,
            is_resolved=status.is_resolved,
            position=position,
        )
        config.closing_statuses[code, status.code] = row.pk
    for position, (cause_code, name) in enumerate(spec.root_causes, start=1):
        cause = RootCause.objects.create(
            program=program, code=cause_code, name=name, position=position
        )
        config.root_causes[code, cause_code] = cause.pk


def _load_customers(plan: DemoPlan, config: _Config) -> list[Customer]:
    rows = [
        create_customer(
            name=customer.name,
            email=customer.email,
            phone=customer.phone,
            external_id=customer.external_id,
        )
        for customer in plan.customers
    ]
    Transaction.objects.bulk_create(
        _transaction(row, purchase, config)
        for row, customer in zip(rows, plan.customers, strict=True)
        for purchase in customer.purchases
    )
    return rows


def _transaction(customer: Customer, purchase: Purchase, config: _Config) -> Transaction:
    return Transaction(
        customer=customer,
        unit=config.units[purchase.unit] if purchase.unit else None,
        occurred_at=purchase.occurred_at,
        kind=purchase.kind,
        amount=purchase.amount,
        currency="USD",
        reference=purchase.reference,
    )


def _load_case_purchases(
    plan: DemoPlan, config: _Config, customers: list[Customer]
) -> dict[str, Transaction]:
    """The purchases the cases are about, by reference, written in one statement."""
    rows = Transaction.objects.bulk_create(
        _transaction(customers[case.customer], case.purchase, config)
        for case in plan.cases
        if case.purchase is not None
    )
    return {row.reference: row for row in rows}


def _load_case(
    plan: CasePlan,
    config: _Config,
    customers: list[Customer],
    purchases: dict[str, Transaction],
) -> None:
    customer = customers[plan.customer]
    case = open_case(
        actor=None,
        program=config.programs[plan.program],
        case_type=config.case_types[plan.program, plan.case_type],
        customer=customer,
        unit=config.units[plan.unit],
        owner=config.users[plan.owner] if plan.owner else None,
        subject=plan.subject,
        description=plan.description,
        priority=plan.priority,
        source=plan.source,
        transaction_record=purchases[plan.purchase.reference] if plan.purchase else None,
        external_source=plan.external_source,
        external_id=plan.external_id,
        alert_reason=plan.alert_reason,
        verbatim=plan.verbatim,
        now=plan.created_at,
    )
    for step in plan.steps:
        _apply(case, plan.program, step, config)


def _apply(case: Case, program: str, step: Step, config: _Config) -> None:
    users = config.users
    match step:
        case NoteStep(at, actor, body):
            add_note(case, actor=users[actor], body=body, now=at)
        case ContactStep(at, actor, outcome, channel, note):
            log_contact_attempt(
                case, actor=users[actor], outcome=outcome, channel=channel, note=note, now=at
            )
        case TaskStep(at, actor, position):
            task_id = CaseTask.objects.get(case=case, position=position).pk
            complete_task(case, actor=users[actor], task_id=task_id, now=at)
        case WatchStep(at, user, access):
            add_watcher(case, actor=None, user=users[user], access=access, now=at)
        case ReassignStep(at, owner):
            assign_case(case, actor=None, owner=users[owner], now=at)
        case CloseStep(at, actor, closing_status, root_causes, final_note):
            close_case(
                case,
                actor=users[actor],
                closing_status_id=config.closing_statuses[program, closing_status],
                root_cause_ids=[config.root_causes[program, code] for code in root_causes],
                final_note=final_note,
                now=at,
            )
        case ReopenStep(at, reason):
            reopen_case(case, actor=None, reason=reason, now=at)


def demo_counts(now: datetime) -> dict[str, int]:
    """What the database holds, for the summary ``caseloop demo`` prints."""
    counts = {
        "users": User.objects.count(),
        "units": Unit.objects.count(),
        "customers": Customer.objects.count(),
        "purchases": Transaction.objects.count(),
        "cases": Case.objects.count(),
    }
    admin = User.objects.filter(is_superuser=True, is_active=True).first()
    if admin is not None:
        counts.update(count_by_display_status(admin, InboxTab.ALL, now))
    counts.update(
        notes=CaseNote.objects.count(),
        contact_attempts=ContactAttempt.objects.count(),
        interactions=Interaction.objects.count(),
        events=CaseEvent.objects.count(),
    )
    return counts


def users_per_role() -> dict[str, int]:
    """How many users hold each role somewhere in the organisation."""
    rows = Membership.objects.values("role").annotate(users=Count("user", distinct=True))
    return {row["role"]: row["users"] for row in rows}
