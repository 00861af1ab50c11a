"""The deadline sweep at N open cases with 1% due (DESIGN.md: cost proportional to the cases
that are due, not to all open cases; under 200 ms when 1% of 1,000,000 are due).

The sweep runs in a child process on a database of its own (a SQLite file
``bench/data/sweep-<N>.sqlite3``, or ``<database>_sweep_<N>`` on PostgreSQL), so that the case
data set of the other scenarios is never touched and its shape (half closed, two thirds of the
open cases overdue) does not decide what is due. The child builds N open cases once and keeps
them while the migrations and this generator are unchanged (a marker table, as in
``bench.generate``); building 1,000,000 takes minutes.

The due state: at the sweep's ``now`` (Tuesday 2026-11-24 14:00 UTC), 1% of the cases have
``next_deadline_at`` in the 30 minutes before it, spread evenly: four in five are In Progress
and just passed their resolve deadline (the sweep marks them overdue and escalates them one
level, to the region's manager), one in five are New and just passed their start deadline (one
escalation each). Deadlines are the programs' own, computed in the default business calendar.
The other 99% wait for a later deadline, or are old backlog with nothing pending (no
``next_deadline_at``, so not in the partial index at all).

Every measured sweep commits as in production and starts from the same due state: after each
run the rows it touched are put back (the due cases' columns and watchers from a saved copy,
and the events, escalations, outbox and in-app rows it added are deleted), then checked.

Figures, all measured in the same run:

- the sweep with 1% due: each run's time, the median, cases escalated per second;
- the sweep with 0.1% due (the sweep run at ``now`` − 27 minutes): the same number of due
  cases as the 1% sweep at a tenth of the size, so that the two sizes can be compared;
- baselines: the bare index scan that lists the due ids (plain SQL), one plain ``UPDATE``
  of the same rows (one statement, committed, then put back), and the write floor: the rows
  one sweep wrote, written again by the database alone from copies (``write_floor``);
- the query plan of the sweep's due-cases query, which must search the partial index.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if __package__ in (None, ""):
    # Run as a script in the child process: the repository root holds the ``bench`` package.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.environment import BENCH_DIR, DATA_DIR

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

    from bench.harness import Context, Report

# Bump whenever the generated rows change, so that stored sweep databases are rebuilt.
GENERATOR_VERSION = 1
SEED = 20261124
SWEEP_NOW = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)  # a Tuesday afternoon
DUE_WINDOW = timedelta(minutes=30)
# Sweeping this much earlier finds a tenth of the due cases (they are spread over the window).
SMALL_SWEEP_EARLIER = timedelta(minutes=27)
DUE_SHARE = 0.01
START_DUE_SHARE = 0.2  # of the due cases: New, past the start deadline
BACKLOG_SHARE = 0.1  # of the others: long overdue, fully escalated, nothing pending
STORES = 500
REGIONS = 10
CHUNK = 25_000
ROUNDS = 5
SAVED_CASES = "bench_sweep_saved_case"
SAVED_WATCHERS = "bench_sweep_saved_watcher"
HIGH_WATER = "bench_sweep_high_water"
# Copies of the rows one sweep wrote, for the baseline of writing them alone (``write_floor``).
WRITTEN = "bench_sweep_written_"


def run(context: Context) -> Report:
    from django.db import connection

    command = [sys.executable, __file__, "--size", str(context.dataset.size)]
    command += ["--rounds", str(context.rounds(ROUNDS))]
    if context.database == "postgresql":
        command += ["--database-url", _sibling_postgres_url(connection.settings_dict, context)]
    context.console.print(f"Sweeping {context.dataset.size:,} open cases in their own database …")
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=BENCH_DIR.parent, timeout=7200, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the sweep benchmark failed:\n{done.stderr}")
    for line in done.stderr.splitlines():
        context.console.print(line)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    context.console.print(f"Plan of the due-cases query:\n{result['plan']}")
    return _report(result)


def _report(result: dict[str, object]) -> Report:
    from bench.harness import Figure, Report

    runs = result["sweep_ms"]
    small_runs = result["small_sweep_ms"]
    cpu_runs = result["sweep_cpu_ms"]
    tell_runs = result["tell_ms"]
    assert isinstance(runs, list) and isinstance(small_runs, list) and isinstance(cpu_runs, list)
    assert isinstance(tell_runs, list)
    median = statistics.median(runs)
    small_median = statistics.median(small_runs)
    due, small_due = int(result["due"]), int(result["small_due"])  # type: ignore[call-overload]
    escalated = int(result["escalated_cases"])  # type: ignore[call-overload]
    scan = float(result["index_scan_ms"])  # type: ignore[arg-type]
    update = float(result["plain_update_ms"])  # type: ignore[arg-type]
    floor = float(result["write_floor_ms"])  # type: ignore[arg-type]
    plan = str(result["plan"])
    return Report(
        figures={
            "due_cases": Figure(due, "cases"),
            "sweep_median": Figure(round(median, 1), "ms", "< 200"),
            "sweep_runs": Figure(" ".join(f"{ms:.0f}" for ms in runs), "ms"),
            "sweep_cpu_median": Figure(round(statistics.median(cpu_runs), 1), "ms"),
            "telling_median": Figure(round(statistics.median(tell_runs), 1), "ms"),
            "escalated_per_s": Figure(round(escalated / (median / 1000)), "cases/s"),
            "per_due_case": Figure(round(median * 1000 / due, 1), "µs"),
            "index_scan": Figure(round(scan, 2), "ms"),
            "plain_update": Figure(round(update, 1), "ms"),
            "ratio_to_index_scan": Figure(round(median / scan, 1), "×"),
            "ratio_to_plain_update": Figure(round(median / update, 1), "×"),
            "write_floor": Figure(round(floor, 1), "ms"),
            "ratio_to_write_floor": Figure(round(median / floor, 2), "×"),
            "small_due_cases": Figure(small_due, "cases"),
            "small_sweep_median": Figure(round(small_median, 1), "ms"),
            "small_per_due_case": Figure(round(small_median * 1000 / small_due, 1), "µs"),
            "plan_uses_partial_index": Figure(
                "case_next_deadline_due" in plan and not _scans_table(plan), "", "true"
            ),
        },
        notes={
            "open_cases": result["open_cases"],
            "sweep_runs_ms": [round(ms, 1) for ms in runs],
            "small_sweep_runs_ms": [round(ms, 1) for ms in small_runs],
            "sweep_cpu_runs_ms": [round(ms, 1) for ms in cpu_runs],
            "telling_runs_ms": [round(ms, 1) for ms in tell_runs],
            "told_events": result["told_events"],
            "telling": "the worker's next duty after each timed sweep (notify.tell_events): the "
            "emails, in-app lines and webhook deliveries of the events the sweep queued",
            "load_average_at_end": result["load_average"],
            "escalated_cases": escalated,
            "escalations": result["escalations"],
            "reset_ms": result["reset_ms"],
            "plan_due": plan,
            "sweep_database": result["database"],
            "sweep_generation_seconds": result["generation_seconds"],
            "sweep_generated_now": result["generated"],
            "baseline_index_scan": "SELECT id, next_deadline_at … WHERE next_deadline_at <= now "
            "ORDER BY next_deadline_at, id (plain SQL, the due ids only)",
            "baseline_plain_update": "one UPDATE of the due rows (overdue, level 1, version + 1, "
            "next deadline cleared), committed",
            "baseline_write_floor": "the rows one sweep added (events, queued events, "
            "escalations, watchers) and the due cases' new columns, written by the database "
            "alone from copies (INSERT … SELECT, UPDATE from the copy) in one transaction, "
            "then on SQLite the checkpoint the sweep ends with",
        },
    )


def _scans_table(plan: str) -> bool:
    lowered = plan.lower()
    return "scan cases_case" in lowered.replace("scan table", "scan") or "seq scan" in lowered


def _sibling_postgres_url(settings: dict[str, object], context: Context) -> str:
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host, port = settings.get("HOST") or "127.0.0.1", settings.get("PORT") or 5432
    name = f"{settings['NAME']}_sweep_{context.dataset.size}"
    return f"postgres://{settings['USER']}{password}@{host}:{port}/{name}"


# ---- the child process -------------------------------------------------------------------


def _configure(size: int, database_url: str | None) -> Path | None:
    """Point the settings at the sweep's own database; must run before ``django.setup()``.
    Returns the SQLite file, or None on PostgreSQL (the database is created if missing)."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    os.environ["CASELOOP_DATA_DIR"] = str(DATA_DIR)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseloop.settings")
    os.environ["DEBUG"] = "false"
    if database_url:
        os.environ["DATABASE_URL"] = database_url
        return None
    path = DATA_DIR / f"sweep-{size}.sqlite3"
    os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    return path


def _fingerprint(size: int) -> dict[str, str]:
    from bench.generate import fingerprint

    return {
        "size": str(size),
        "seed": str(SEED),
        "generator": f"sweep-{GENERATOR_VERSION}",
        "schema": fingerprint(size, SEED)["schema"],
    }


def _wipe(path: Path | None) -> None:
    from django.conf import settings
    from django.db import connection

    connection.close()
    if path is not None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg
    from psycopg import sql

    db = settings.DATABASES["default"]
    params = {"host": db["HOST"] or None, "port": db["PORT"] or None, "user": db["USER"]}
    with psycopg.connect(
        dbname="postgres", autocommit=True, password=db["PASSWORD"] or None, **params
    ) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(db["NAME"])))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))


def _ensure_database(
    size: int, path: Path | None, log: Callable[[str], None]
) -> tuple[bool, float]:
    """Reuse the sweep database when made the same way; else build it. Returns (generated,
    seconds it took to generate)."""
    from django.core.management import call_command
    from django.db import connection

    from bench.generate import needs_generation, read_marker, write_marker
    from bench.postgres import create_database_if_missing

    if path is None:
        create_database_if_missing(connection.settings_dict)
    expected = _fingerprint(size)
    marker = read_marker()
    if marker is not None and not needs_generation(marker, expected):
        return False, float(marker["seconds"])
    log(f"Generating {size:,} open cases for the sweep …")
    started = time.perf_counter()
    _wipe(path)
    call_command("migrate", verbosity=0)
    _generate(size)
    with connection.cursor() as cursor:
        # What a running system has: PostgreSQL's autovacuum analyses a loaded table by itself
        # (SQLite gathers no statistics unless told, and Django never tells it).
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE")
        else:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    seconds = time.perf_counter() - started
    write_marker({**expected, "seconds": f"{seconds:.1f}"})
    log(f"Generated in {seconds:.0f} s.")
    return True, seconds


def _generate(size: int) -> None:
    """The organisation, two programs, N/10 customers and N open cases with their watchers and
    ``created`` events, written in bulk; then the saved copy of the due state."""
    from django.db import connection, transaction

    from bench.rows import reset_sequences, time_adapter
    from bench.synth import add_customer, customer_writer
    from caseloop.cases.models import Case, CaseEvent, CaseWatcher
    from caseloop.customers.models import Customer

    rng = random.Random(SEED)
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        # Nothing needs to reach the disk before the end: a crash means generating again.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size = -1048576")
            cursor.execute("PRAGMA synchronous = OFF")
    with transaction.atomic():
        stores, programs = _build_world(rng)
    db_time = time_adapter()
    writer = customer_writer()
    customers = max(1, size // 10)
    with transaction.atomic():
        for customer_id in range(1, customers + 1):
            add_customer(writer, rng, customer_id, SWEEP_NOW.timestamp(), db_time)
            if len(writer.rows) >= CHUNK:
                writer.flush()
        writer.flush()
    plans = _plan_cases(rng, size, programs)
    synth = _CaseRows(rng, stores, customers, db_time)
    for first in range(0, size, CHUNK):
        with transaction.atomic():
            for offset in range(first, min(size, first + CHUNK)):
                synth.add(offset + 1, *plans[offset])
            synth.flush()
    reset_sequences([Customer, Case, CaseWatcher, CaseEvent])
    _save_due_state()


class _Store:
    def __init__(self, unit_id: int, agents: list[int], chain: list[int]) -> None:
        self.unit_id, self.agents, self.chain = unit_id, agents, chain


class _Program:
    def __init__(self, program: object, case_type_id: int, share: float) -> None:
        self.program, self.case_type_id, self.share = program, case_type_id, share


def _build_world(rng: random.Random) -> tuple[list[tuple[_Store, float]], list[_Program]]:
    """Corporate (with its head) → 10 regions (each with a manager) → 500 stores (an owner and
    2–4 agents; 40% with a store manager). Case volume per store follows 1/rank^0.8."""
    from caseloop.org.models import User
    from caseloop.org.services import create_unit
    from caseloop.programs.models import CaseType, DeadlineUnit, EscalationAction, Program

    def person(username: str) -> User:
        return User(username=username, email=f"{username}@staff.example.com", password="!bench")  # noqa: S106

    head = User.objects.bulk_create([person("head")])[0]
    corporate = create_unit(code="corp", name="Corporate", kind="corporate", manager=head)
    stores: list[tuple[_Store, float]] = []
    ranks = list(range(1, STORES + 1))
    rng.shuffle(ranks)
    for r in range(REGIONS):
        manager = User.objects.bulk_create([person(f"region{r:02d}")])[0]
        region = create_unit(
            code=f"region-{r:02d}",
            name=f"Region {r}",
            kind="region",
            parent=corporate,
            manager=manager,
        )
        for s in range(STORES // REGIONS):
            number = r * (STORES // REGIONS) + s
            staff = User.objects.bulk_create(
                [person(f"agent{number:03d}-{n}") for n in range(rng.randint(3, 5))]
            )
            store_manager = staff[1] if rng.random() < 0.4 else None
            store = create_unit(
                code=f"store-{number:03d}",
                name=f"Store {number}",
                parent=region,
                owner=staff[0],
                manager=store_manager,
            )
            chain = [u.pk for u in (store_manager, manager, head) if u is not None]
            stores.append(
                (_Store(store.pk, [u.pk for u in staff], chain), 1.0 / ranks[number] ** 0.8)
            )
    retail = Program.objects.create(code="retail", name="Retail survey alerts")
    centre = Program.objects.create(
        code="contact-centre",
        name="Contact-centre complaints",
        start_deadline=4,
        start_deadline_unit=DeadlineUnit.BUSINESS_HOURS,
        resolve_deadline=5,
        escalation_action=EscalationAction.REASSIGN,
    )
    programs = []
    for program, share in ((retail, 0.7), (centre, 0.3)):
        case_type = CaseType.objects.create(program=program, code="complaint", name="Complaint")
        programs.append(_Program(program, case_type.pk, share))
    return stores, programs


# (opened, start due, resolve due, status, next deadline, was overdue, level), per case.
_Plan = tuple[datetime, datetime, datetime, str, datetime | None, bool, int]


def _plan_cases(
    rng: random.Random, size: int, programs: list[_Program]
) -> list[tuple[_Program, _Plan]]:
    """What each case looks like at ``SWEEP_NOW``, in opening order (ids grow with time)."""
    from caseloop.sla.deadlines import deadlines_in, default_calendar

    calendar = default_calendar()
    cache: dict[tuple[int, datetime], tuple[datetime, datetime]] = {}

    def deadlines(program: _Program, opened: datetime) -> tuple[datetime, datetime]:
        key = (program.program.pk, opened)
        if key not in cache:
            due = deadlines_in(calendar, program.program, opened)
            cache[key] = (due.start_due_at, due.resolve_due_at)
        return cache[key]

    def pick_program() -> _Program:
        return programs[0] if rng.random() < programs[0].share else programs[1]

    due_count = max(1, round(size * DUE_SHARE))
    plans: list[tuple[_Program, _Plan]] = []
    for index in range(size):
        program = pick_program()
        if index < due_count:
            plans.append((program, _due_plan(rng, program, index, due_count, deadlines)))
        elif rng.random() < BACKLOG_SHARE:
            opened = SWEEP_NOW - timedelta(minutes=rng.randint(7 * 1440, 60 * 1440))
            start, resolve = deadlines(program, opened)
            plans.append((program, (opened, start, resolve, "in_progress", None, True, 2)))
        else:
            plans.append((program, _waiting_plan(rng, program, deadlines)))
    plans.sort(key=lambda plan: plan[1][0])
    return plans


def _due_plan(
    rng: random.Random, program: _Program, index: int, due_count: int, deadlines
) -> _Plan:
    """Due at an even spread over the window before ``SWEEP_NOW``: the opening time is found by
    walking back from the wanted deadline in whole business days or hours."""
    from caseloop.programs.models import DeadlineUnit

    due_at = SWEEP_NOW - DUE_WINDOW * (index + 0.5) / due_count
    p = program.program
    if index % round(1 / START_DUE_SHARE) == 0:
        if p.start_deadline_unit == DeadlineUnit.BUSINESS_HOURS:
            opened = due_at - timedelta(hours=p.start_deadline)  # same day, inside office hours
        else:
            opened = due_at - timedelta(days=1)  # Monday → Tuesday
        start, resolve = deadlines(program, opened)
        return (opened, start, resolve, "new", start, False, 0)
    opened = due_at - timedelta(days=5 if p.resolve_deadline == 3 else 7)  # over one weekend
    start, resolve = deadlines(program, opened)
    return (opened, start, resolve, "in_progress", resolve, False, 0)


def _waiting_plan(rng: random.Random, program: _Program, deadlines) -> _Plan:
    """Opened in the last week, due later: New before its start deadline, else In Progress
    waiting for its resolve deadline or, once late, for its next escalation step."""
    while True:
        opened = SWEEP_NOW - timedelta(minutes=rng.randint(1, 7 * 1440))
        start, resolve = deadlines(program, opened)
        if start > SWEEP_NOW:
            status = "new" if rng.random() < 0.7 else "in_progress"
            return (opened, start, resolve, status, start, False, 0)
        if resolve > SWEEP_NOW:
            return (opened, start, resolve, "in_progress", resolve, False, 0)
        step = resolve + timedelta(days=1)
        if step > SWEEP_NOW + timedelta(hours=1) and step.weekday() < 5:
            return (opened, start, resolve, "in_progress", step, True, 1)


class _CaseRows:
    """Cases as ``open_case`` leaves them (watchers from the manager chain, the nearest with
    full access, a ``created`` event), started by the owner when In Progress, and as earlier
    sweeps left them when late (``was_overdue``, the escalation level)."""

    def __init__(
        self, rng: random.Random, stores: list[tuple[_Store, float]], customers: int, db_time
    ) -> None:
        from bench.rows import TableWriter
        from bench.synth import Weighted
        from caseloop.cases.models import Case, CaseEvent, CaseWatcher

        self.rng, self.customers, self.db_time = rng, customers, db_time
        self.stores = Weighted(stores)
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
                "status",
                "priority",
                "source",
                "created_at",
                "start_due_at",
                "resolve_due_at",
                "first_activity_at",
                "was_overdue",
                "next_deadline_at",
                "escalation_level",
                "version",
                "updated_at",
            ],
        )
        self.watchers = TableWriter(CaseWatcher, ["id", "case_id", "user_id", "access", "added_at"])
        self.events = TableWriter(
            CaseEvent, ["id", "case_id", "actor_id", "kind", "data", "created_at"]
        )
        self.next_watcher = self.next_event = 1

    def add(self, case_id: int, program: _Program, plan: _Plan) -> None:
        from bench.rows import db_json

        opened, start, resolve, status, next_due, was_overdue, level = plan
        store = self.stores.draw(self.rng)
        owner = store.agents[0] if self.rng.random() < 0.5 else self.rng.choice(store.agents)
        t = self.db_time
        started = (
            (opened + timedelta(minutes=self.rng.randint(5, 120)))
            if status == "in_progress"
            else None
        )
        self.cases.add(
            (
                case_id,
                program.program.pk,
                program.case_type_id,
                self.rng.randint(1, self.customers),
                store.unit_id,
                owner,
                "Rude staff at the checkout",
                status,
                "normal",
                "survey",
                t(opened.timestamp()),
                t(start.timestamp()),
                t(resolve.timestamp()),
                t(started.timestamp()) if started else None,
                was_overdue,
                t(next_due.timestamp()) if next_due else None,
                level,
                1 + (status == "in_progress") + level,
                t(opened.timestamp()),
            )
        )
        watchers = [user for user in dict.fromkeys(store.chain) if user != owner]
        for position, user in enumerate(watchers):
            access = "full" if position == 0 else "limited"
            self.watchers.add((self.next_watcher, case_id, user, access, t(opened.timestamp())))
            self.next_watcher += 1
        data = {"source": "survey", "owner": owner, "watchers": watchers, "assignment_rule": None}
        self.events.add(
            (self.next_event, case_id, None, "created", db_json(data), t(opened.timestamp()))
        )
        self.next_event += 1

    def flush(self) -> None:
        for writer in (self.cases, self.watchers, self.events):
            writer.flush()


# ---- resetting the due state --------------------------------------------------------------

_SWEEP_TABLES = (
    "sla_escalation",
    "cases_caseevent",
    "cases_casewatcher",
    "notify_outboxmessage",
    "notify_inappnotification",
)
_CASE_COLUMNS = (
    "next_deadline_at",
    "was_overdue",
    "escalation_level",
    "owner_id",
    "version",
    "updated_at",
)


def _table_names() -> dict[str, str]:
    from caseloop.cases.models import Case, CaseEvent, CaseWatcher
    from caseloop.notify.models import InAppNotification, OutboxMessage
    from caseloop.sla.models import Escalation

    models = (Escalation, CaseEvent, CaseWatcher, OutboxMessage, InAppNotification)
    names = {model._meta.db_table: model._meta.db_table for model in models}
    assert set(names) == set(_SWEEP_TABLES), names
    names["case"] = Case._meta.db_table
    return names


def _save_due_state() -> None:
    """Keep what the sweep changes: the due cases' columns, their watchers, and the highest id
    of each table the sweep adds rows to."""
    from django.db import connection, transaction

    now = connection.ops.adapt_datetimefield_value(SWEEP_NOW)
    columns = ", ".join(_CASE_COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {SAVED_CASES} AS SELECT id, {columns} FROM cases_case "  # noqa: S608
            "WHERE next_deadline_at <= %s",
            [now],
        )
        cursor.execute(f"CREATE UNIQUE INDEX {SAVED_CASES}_id ON {SAVED_CASES} (id)")
        cursor.execute(
            f"CREATE TABLE {SAVED_WATCHERS} AS SELECT w.* FROM cases_casewatcher w "  # noqa: S608
            f"JOIN {SAVED_CASES} s ON s.id = w.case_id"
        )
        cursor.execute(f"CREATE TABLE {HIGH_WATER} (name varchar(64) PRIMARY KEY, high bigint)")
        for table in _SWEEP_TABLES:
            cursor.execute(
                f"INSERT INTO {HIGH_WATER} SELECT %s, COALESCE(MAX(id), 0) FROM {table}",  # noqa: S608
                [table],
            )


def reset() -> None:
    """Put the due state back: delete what the sweep added, restore the cases and watchers."""
    from django.db import connection, transaction

    assignments = ", ".join(f"{column} = s.{column}" for column in _CASE_COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT name, high FROM {HIGH_WATER}")  # noqa: S608
        highs = dict(cursor.fetchall())
        # Events the sweep queued and nobody has told yet point at the events about to go.
        cursor.execute(
            "DELETE FROM notify_untoldevent WHERE event_id > %s", [highs["cases_caseevent"]]
        )
        for table, high in highs.items():
            cursor.execute(f"DELETE FROM {table} WHERE id > %s", [high])  # noqa: S608
        cursor.execute(
            f"DELETE FROM cases_casewatcher WHERE case_id IN (SELECT id FROM {SAVED_CASES})"  # noqa: S608
        )
        cursor.execute(f"INSERT INTO cases_casewatcher SELECT * FROM {SAVED_WATCHERS}")  # noqa: S608
        cursor.execute(
            f"UPDATE cases_case SET {assignments} FROM {SAVED_CASES} s "  # noqa: S608
            "WHERE s.id = cases_case.id"
        )


# What a sweep adds, in an order its foreign keys allow; queued events are told apart by event.
_ADDED_BY_SWEEP = (
    ("cases_caseevent", "id", "cases_caseevent"),
    ("notify_untoldevent", "event_id", "cases_caseevent"),
    ("sla_escalation", "id", "sla_escalation"),
    ("cases_casewatcher", "id", "cases_casewatcher"),
)


def save_written_rows() -> None:
    """After a sweep: keep copies of the rows it added and of the due cases' new columns,
    replacing those of an earlier run, for ``write_floor``."""
    from django.db import connection, transaction

    columns = ", ".join(_CASE_COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT name, high FROM {HIGH_WATER}")  # noqa: S608
        highs = dict(cursor.fetchall())
        for table, key, high_of in _ADDED_BY_SWEEP:
            cursor.execute(f"DROP TABLE IF EXISTS {WRITTEN}{table}")
            cursor.execute(
                f"CREATE TABLE {WRITTEN}{table} AS SELECT * FROM {table} "  # noqa: S608
                f"WHERE {key} > %s",
                [highs[high_of]],
            )
        cursor.execute(f"DROP TABLE IF EXISTS {WRITTEN}case")
        cursor.execute(
            f"CREATE TABLE {WRITTEN}case AS SELECT id, {columns} FROM cases_case "  # noqa: S608
            f"WHERE id IN (SELECT id FROM {SAVED_CASES})"
        )
        cursor.execute(f"CREATE UNIQUE INDEX {WRITTEN}case_id ON {WRITTEN}case (id)")


def write_floor() -> None:
    """Write what the last saved sweep wrote (``save_written_rows``) with the database alone:
    its rows copied in by ``INSERT … SELECT`` and the due cases' columns set from the copy, in
    one transaction, on the connection as the sweep tunes it (on SQLite the same page cache
    and the same checkpoint at the end; on PostgreSQL a commit that does not wait for the
    disk). The owner is set only where it changed, as the sweep
    does on SQLite (setting a column rewrites the entries of every index on it); watchers the
    sweep removed or upgraded are left as they were."""
    from django.db import connection, transaction

    from caseloop.sla.batch import commit_without_waiting_for_the_disk
    from caseloop.sla.services import sweep_connection

    with sweep_connection(), transaction.atomic():
        commit_without_waiting_for_the_disk()  # as the sweep's own commits on PostgreSQL
        _copy_written_rows(connection)


def _copy_written_rows(connection: BaseDatabaseWrapper) -> None:
    columns = ", ".join(c for c in _CASE_COLUMNS if c != "owner_id")
    written = f"{WRITTEN}case"
    with connection.cursor() as cursor:
        for table, _, _ in _ADDED_BY_SWEEP:
            cursor.execute(f"INSERT INTO {table} SELECT * FROM {WRITTEN}{table}")  # noqa: S608
        if connection.vendor == "postgresql":
            assignments = ", ".join(f"{column} = w.{column}" for column in _CASE_COLUMNS)
            cursor.execute(
                f"UPDATE cases_case SET {assignments} FROM {written} w "  # noqa: S608
                "WHERE w.id = cases_case.id"
            )
            return
        cursor.execute(
            f"UPDATE cases_case SET ({columns}) = "  # noqa: S608
            f"(SELECT {columns} FROM {written} w WHERE w.id = cases_case.id) "
            f"WHERE id IN (SELECT id FROM {written})"
        )
        cursor.execute(
            "UPDATE cases_case SET owner_id = "  # noqa: S608
            f"(SELECT owner_id FROM {written} w WHERE w.id = cases_case.id) "
            f"WHERE id IN (SELECT w.id FROM {written} w JOIN {SAVED_CASES} s ON s.id = w.id "
            "WHERE w.owner_id IS NOT s.owner_id)"
        )


def due_count(now: datetime) -> int:
    from caseloop.cases.models import Case

    return Case.objects.filter(next_deadline_at__lte=now).count()


# ---- measuring ----------------------------------------------------------------------------


def _timed_sweep(now: datetime) -> tuple[float, object]:
    from caseloop.sla.services import sweep_deadlines

    started, cpu = time.perf_counter(), time.process_time()
    result = sweep_deadlines(now=now)
    _CPU_MS.append((time.process_time() - cpu) * 1000)
    return (time.perf_counter() - started) * 1000, result


# The CPU time of each timed sweep, in this process (SQLite runs in it): on a machine shared
# with other work, wall time follows the load and CPU time much less.
_CPU_MS: list[float] = []


def _timed_telling() -> tuple[float, int]:
    """Tell everyone of what the sweep queued, as the worker's next duty does."""
    from caseloop.notify.telling import tell_untold_events

    started = time.perf_counter()
    result = tell_untold_events()
    return (time.perf_counter() - started) * 1000, result.events_told


def _check(result: object, due: int) -> None:
    examined = getattr(result, "cases_examined", None)
    if examined != due:
        raise SystemExit(f"the sweep examined {examined} cases, {due} were due")


def _index_scan_ms(rounds: int) -> float:
    from django.db import connection

    now = connection.ops.adapt_datetimefield_value(SWEEP_NOW)
    sql = (
        "SELECT id, next_deadline_at FROM cases_case WHERE next_deadline_at <= %s "
        "ORDER BY next_deadline_at, id"
    )
    times = []
    for _ in range(rounds + 1):
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(sql, [now])
            cursor.fetchall()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[1:])


def _plain_update_ms(rounds: int) -> float:
    from django.db import transaction
    from django.db.models import F

    from caseloop.cases.models import Case

    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        with transaction.atomic():
            Case.objects.filter(next_deadline_at__lte=SWEEP_NOW).update(
                was_overdue=True,
                escalation_level=1,
                version=F("version") + 1,
                next_deadline_at=None,
            )
        times.append((time.perf_counter() - started) * 1000)
        reset()
    return statistics.median(times)


def _write_floor_ms(rounds: int) -> float:
    """The baseline the sweep cannot go below: writing the rows of its last saved run alone."""
    times = []
    for _ in range(rounds):
        reset()
        started = time.perf_counter()
        write_floor()
        times.append((time.perf_counter() - started) * 1000)
    reset()
    return statistics.median(times)


def _plan() -> str:
    from django.db import connection

    from caseloop.sla.batch import due_cases_sql
    from caseloop.sla.services import SWEEP_BATCH_SIZE

    # The first batch's query, as ``sweep_deadlines`` sends it.
    sql, params = due_cases_sql(SWEEP_NOW, None, SWEEP_BATCH_SIZE)
    prefix = "EXPLAIN" if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN"
    with connection.cursor() as cursor:
        cursor.execute(f"{prefix} {sql}", params)
        return "\n".join(" ".join(str(part) for part in row) for row in cursor.fetchall())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/scenarios/sweep.py")
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--database-url", help="a postgres:// URL")
    parser.add_argument("--profile", help="write a cProfile report of one sweep here")
    args = parser.parse_args(argv)
    path = _configure(args.size, args.database_url)
    import django

    django.setup()
    from django.db import connection

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    generated, seconds = _ensure_database(args.size, path, log)
    reset()
    due, small_due = due_count(SWEEP_NOW), due_count(SWEEP_NOW - SMALL_SWEEP_EARLIER)
    open_cases = _count_open()
    log(f"{open_cases:,} open cases, {due:,} due ({small_due:,} in the small sweep).")
    plan = _plan()
    scan_ms = _index_scan_ms(args.rounds)
    update_ms = _plain_update_ms(max(1, min(args.rounds, 3)))
    # One untimed sweep: a worker is a long-lived process with its caches and pages warm.
    _, warm = _timed_sweep(SWEEP_NOW)
    _check(warm, due)
    save_written_rows()
    floor_ms = _write_floor_ms(max(1, min(args.rounds, 3)))
    escalated, escalations = len(warm.escalated_case_ids), warm.escalations
    if args.profile:
        reset()
        _profile(Path(args.profile))
    reset_times = []
    runs: list[float] = []
    tell_runs: list[float] = []
    told = 0
    _CPU_MS.clear()
    for _ in range(args.rounds):
        started = time.perf_counter()
        reset()
        reset_times.append((time.perf_counter() - started) * 1000)
        ms, result = _timed_sweep(SWEEP_NOW)
        _check(result, due)
        if due_count(SWEEP_NOW):
            raise SystemExit("cases are still due after the sweep")
        runs.append(ms)
        tell_ms, told = _timed_telling()
        tell_runs.append(tell_ms)
        log(
            f"sweep: {ms:.0f} ms ({_CPU_MS[-1]:.0f} ms CPU); "
            f"telling {told:,} events: {tell_ms:.0f} ms"
        )
    cpu_runs = list(_CPU_MS)
    small_runs: list[float] = []
    for _ in range(args.rounds):
        reset()
        ms, result = _timed_sweep(SWEEP_NOW - SMALL_SWEEP_EARLIER)
        _check(result, small_due)
        small_runs.append(ms)
        log(f"small sweep: {ms:.0f} ms")
    reset()
    print(
        json.dumps(
            {
                "database": connection.vendor,
                "open_cases": open_cases,
                "due": due,
                "small_due": small_due,
                "escalated_cases": escalated,
                "escalations": escalations,
                "sweep_ms": runs,
                "sweep_cpu_ms": cpu_runs,
                "tell_ms": tell_runs,
                "told_events": told,
                "load_average": os.getloadavg(),
                "small_sweep_ms": small_runs,
                "index_scan_ms": scan_ms,
                "plain_update_ms": update_ms,
                "write_floor_ms": floor_ms,
                "reset_ms": round(statistics.median(reset_times), 1) if reset_times else None,
                "plan": plan,
                "generated": generated,
                "generation_seconds": round(seconds, 1),
            }
        )
    )
    return 0


def _count_open() -> int:
    from caseloop.cases.models import Case

    return Case.objects.exclude(status="closed").count()


def _profile(path: Path) -> None:
    """cProfile of one sweep (the standard library's: nothing to install), the functions
    that took the most time first, with and without what they called."""
    import cProfile
    import io
    import pstats

    text = io.StringIO()
    for title, work in (
        ("THE SWEEP", lambda: _timed_sweep(SWEEP_NOW)),
        ("THE TELLING", _timed_telling),
    ):
        profiler = cProfile.Profile()
        profiler.runcall(work)
        text.write(f"==== {title} ====\n")
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("cumulative").print_stats(60)
        stats.sort_stats("tottime").print_stats(40)
    path.write_text(text.getvalue())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
