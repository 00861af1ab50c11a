"""Survey bulk import → alert cases (DESIGN.md: at least 20,000 responses/s into SQLite, and
within 3× of a plain bulk insert of the same rows).

The import runs in a child process on a database of its own, made afresh each run (a SQLite file
beside the data sets, or ``<database>_intake`` on PostgreSQL), so that the case data sets of the
other scenarios are never touched. The child builds an organisation of 10 regions and 200 stores,
a program with the two classic alert rules (``concern == true``, ``q_overall <= 6``) and 30,000
known customers, writes a CSV of N responses (about 15% alerting; respondents known by customer
number, email or phone, or new, or anonymous; transactions, verbatims, skipped questions) and
then measures, in the same run:

- the plain insert: ``bulk_create`` of the same N response rows, built beforehand, in
  transactions of the import's batch size (the target's baseline: what storing the rows the
  usual Django way costs);
- the raw insert: the same rows through the intake's own ``executemany`` writer, the floor of
  what storing them can cost (reported, no target);
- the import: ``import_responses FILE --program CODE``, the command an operator runs, from
  reading the file to the last committed case, in batches of the command's default size and
  with its default workers (two processes where there are two processors or more).
  Each alert case is written whole: transaction, case, watchers, playbook tasks, CREATED
  event, and the event queued for telling with its owner and watchers;
- the telling, timed on its own: the worker's next duty (``notify.tell_events``), which writes
  the email to each case's owner in the outbox and an in-app line for each of its three people.

It checks the import's result (every response stored once, exactly the expected cases, one
event queued per case, then one email and three in-app notifications per case) and reports
responses/s, alert cases/s, the import's time as a multiple of each insert's, and the
telling's time.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if __package__ in (None, ""):
    # Run as a script in the child process: the repository root holds the ``bench`` package.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.environment import BENCH_DIR, DATA_DIR

if TYPE_CHECKING:
    # The harness loads Django models; the child process imports this module before setup.
    from bench.harness import Context, Report

ROWS = 100_000
BATCH_SIZE = 10_000  # the import command's default
SEED = 20261124
PROGRAM_CODE = "cx-survey"
KNOWN_CUSTOMERS = 30_000
PEOPLE = 70_000
STORES = 200
REGIONS = 10
COLUMNS = [
    "external_id",
    "unit",
    "received_at",
    "respondent.external_id",
    "respondent.email",
    "respondent.phone",
    "respondent.name",
    "transaction.reference",
    "transaction.amount",
    "transaction.currency",
    "q_overall",
    "q_staff",
    "q_speed",
    "concern",
    "verbatim",
]


def run(context: Context) -> Report:
    rows = min(ROWS, context.dataset.size)
    from django.db import connection

    command = [sys.executable, __file__, "--rows", str(rows)]
    if context.database == "postgresql":
        command += ["--database-url", _sibling_postgres_url(connection.settings_dict)]
    context.console.print(f"Importing {rows:,} survey responses in a fresh database …")
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=BENCH_DIR.parent, timeout=3600, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the import benchmark failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return _report(result)


def _report(result: dict[str, float]) -> Report:
    from bench.harness import Figure, Report

    import_s, insert_s = result["import_seconds"], result["plain_insert_seconds"]
    raw_s = result["raw_insert_seconds"]
    rows, cases = result["rows"], result["cases"]
    return Report(
        figures={
            "responses_per_s": Figure(round(rows / import_s), "1/s", ">= 20000"),
            "alert_cases_per_s": Figure(round(cases / import_s), "1/s"),
            "plain_insert_per_s": Figure(round(rows / insert_s), "1/s"),
            "ratio_to_plain_insert": Figure(round(import_s / insert_s, 2), "×", "<= 3"),
            "raw_insert_per_s": Figure(round(rows / raw_s), "1/s"),
            "ratio_to_raw_insert": Figure(round(import_s / raw_s, 2), "×"),
            "alerting_share": Figure(round(cases / rows, 3), ""),
            "telling_seconds": Figure(round(result["telling_seconds"], 2), "s"),
            "told_cases_per_s": Figure(round(cases / result["telling_seconds"]), "1/s"),
        },
        notes={
            "rows": rows,
            "cases": cases,
            "batch_size": BATCH_SIZE,
            "import_seconds": round(import_s, 2),
            "import_cpu_seconds": round(result["import_cpu_seconds"], 2),
            "plain_insert_seconds": round(insert_s, 2),
            "raw_insert_seconds": round(raw_s, 2),
            "new_customers": result["new_customers"],
            "workers": result["workers"],
            "plain_insert": "bulk_create of the same rows, built beforehand",
            "raw_insert": "executemany of the same rows through the intake's writer",
            "telling": "the worker's duty notify.tell_events after the import: one email and "
            "three in-app lines per case",
        },
    )


def _sibling_postgres_url(settings: dict[str, object]) -> str:
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host, port = settings.get("HOST") or "127.0.0.1", settings.get("PORT") or 5432
    return f"postgres://{settings['USER']}{password}@{host}:{port}/{settings['NAME']}_intake"


# ---- the child process -------------------------------------------------------------------


def _fresh_database(database_url: str | None) -> None:
    """Point the settings at an empty database; must run before ``django.setup()``."""
    os.environ["CASELOOP_DATA_DIR"] = str(DATA_DIR)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseloop.settings")
    os.environ["DEBUG"] = "false"
    if database_url:
        import psycopg
        from psycopg import sql

        base, _, name = database_url.rpartition("/")
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        os.environ["DATABASE_URL"] = database_url
        return
    path = DATA_DIR / "intake-import.sqlite3"
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{path}"


def _build_world() -> list[str]:
    """Units, users, the program with its rules, and the known customers; returns store codes."""
    from django.db import transaction

    from caseloop.customers.models import Customer
    from caseloop.intake.models import AlertRule
    from caseloop.intake.services import configure_intake, save_alert_rule
    from caseloop.org.models import User
    from caseloop.org.services import create_unit
    from caseloop.programs.models import CaseType, PlaybookStep, Program

    with transaction.atomic():
        ceo = User.objects.create(username="ceo", email="ceo@example.com")
        corp = create_unit(code="corp", name="Corporate", kind="corporate", manager=ceo)
        stores = []
        for r in range(REGIONS):
            manager = User.objects.create(
                username=f"region-manager-{r}", email=f"region-manager-{r}@example.com"
            )
            region = create_unit(
                code=f"region-{r}", name=f"Region {r}", kind="region", parent=corp, manager=manager
            )
            for s in range(STORES // REGIONS):
                number = r * (STORES // REGIONS) + s
                owner = User.objects.create(
                    username=f"store-owner-{number}", email=f"store-owner-{number}@example.com"
                )
                store = create_unit(
                    code=f"store-{number:03d}", name=f"Store {number}", parent=region, owner=owner
                )
                stores.append(store.code)
        program = Program.objects.create(code=PROGRAM_CODE, name="Customer experience survey")
        complaint = CaseType.objects.create(program=program, code="complaint", name="Complaint")
        low = CaseType.objects.create(program=program, code="low-score", name="Low score")
        for case_type in (complaint, low):
            PlaybookStep.objects.create(case_type=case_type, position=1, title="Call back")
            PlaybookStep.objects.create(case_type=case_type, position=2, title="Offer a remedy")
        configure_intake(
            program,
            actor=None,
            default_source="survey-platform",
            question_ids=["q_overall", "q_staff", "q_speed", "concern"],
        )
        for position, (name, expression, case_type, priority) in enumerate(
            [
                ("Concern raised", "concern == true", complaint, "high"),
                ("Low overall score", "q_overall <= 6", low, "normal"),
            ]
        ):
            rule = AlertRule(
                program=program,
                name=name,
                position=position,
                expression=expression,
                case_type=case_type,
                priority=priority,
            )
            save_alert_rule(rule, actor=None)
        Customer.objects.bulk_create(
            Customer(
                external_id=f"CUST-{n}",
                name=f"Person {n}",
                email=f"person{n}@example.com" if n % 5 else "",
                phone=_phone(n) if n % 4 == 0 else "",
            )
            for n in range(KNOWN_CUSTOMERS)
        )
    return stores


def _phone(n: int) -> str:
    return f"+44207946{n % 10_000:04d}" if n % 2 else f"+4930{12_000_000 + n:08d}"


def _write_file(path: Path, rows: int, stores: list[str], rng: random.Random) -> int:
    """The CSV of responses; returns how many of them alert."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    alerts = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for n in range(rows):
            person = int(PEOPLE * rng.random() ** 1.5)  # skewed: some people answer often
            concern = rng.random() < 0.06
            skipped = rng.random() < 0.05
            score = rng.choice(range(0, 7)) if rng.random() < 0.10 else rng.choice(range(7, 11))
            alerts += concern or (not skipped and score <= 6)
            known_by = rng.random()
            writer.writerow(
                [
                    f"R-{n:07d}",
                    stores[int(rng.paretovariate(1.0) * 3) % len(stores)],
                    (start + timedelta(seconds=n * 7)).isoformat(),
                    f"CUST-{person}" if known_by < 0.7 else "",
                    f"person{person}@example.com" if 0.05 < known_by < 0.95 else "",
                    _phone(person) if known_by > 0.9 else "",
                    f"Person {person}" if known_by < 0.97 else "",
                    f"T-{n}" if n % 2 else "",
                    f"{rng.uniform(5, 900):.2f}" if n % 2 else "",
                    "EUR" if n % 2 else "",
                    "" if skipped else score,
                    rng.randint(0, 10),
                    rng.randint(0, 10),
                    "true" if concern else "false",
                    "The staff ignored me at the till." if concern or rng.random() < 0.2 else "",
                ]
            )
    return alerts


def _plain_insert_seconds(path: Path) -> tuple[float, float]:
    """Seconds to store the file's rows, built beforehand, with ``bulk_create`` and with the
    bulk intake's own writer (``executemany``), each in transactions of the import's batch
    size into an empty table; the rows are removed again after each."""
    from django.db import transaction
    from django.utils import timezone

    from caseloop.bulkrows import Table
    from caseloop.intake.models import SurveyResponse
    from caseloop.org.models import Unit
    from caseloop.programs.models import Program

    program = Program.objects.get(code=PROGRAM_CODE)
    units = dict(Unit.objects.values_list("code", "pk"))
    now = timezone.now()
    with path.open(newline="", encoding="utf-8") as handle:
        values = [
            {
                "program_id": program.pk,
                "source": "survey-platform",
                "external_id": row["external_id"],
                "unit_id": units[row["unit"]],
                "received_at": datetime.fromisoformat(row["received_at"]),
                "ingested_at": now,
                "respondent": {"email": row["respondent.email"]},
                "transaction_details": {"reference": row["transaction.reference"]},
                "answers": {"q_overall": row["q_overall"], "concern": row["concern"]},
                "verbatims": {"verbatim": row["verbatim"]},
            }
            for row in csv.DictReader(handle)
        ]
    built = [SurveyResponse(**row) for row in values]
    started = time.perf_counter()
    for first in range(0, len(built), BATCH_SIZE):
        with transaction.atomic():
            SurveyResponse.objects.bulk_create(built[first : first + BATCH_SIZE])
    orm_seconds = time.perf_counter() - started
    SurveyResponse.objects.all().delete()
    columns = tuple(values[0])
    table = Table(SurveyResponse, columns)
    tuples = [tuple(row.values()) for row in values]
    started = time.perf_counter()
    for first in range(0, len(tuples), BATCH_SIZE):
        with transaction.atomic():
            table.insert(tuples[first : first + BATCH_SIZE])
    raw_seconds = time.perf_counter() - started
    SurveyResponse.objects.all().delete()
    return orm_seconds, raw_seconds


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its ended children (the import's workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _import_seconds(path: Path, workers: int) -> tuple[float, float]:
    """Wall-clock and CPU seconds of the import command, its workers' included."""
    from django.core.management import call_command

    started, cpu = time.perf_counter(), _cpu_seconds()
    call_command(
        "import_responses",
        str(path),
        "--program",
        PROGRAM_CODE,
        "--batch-size",
        str(BATCH_SIZE),
        "--workers",
        str(workers),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    return time.perf_counter() - started, _cpu_seconds() - cpu


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/scenarios/import_responses.py")
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--database-url", help="a postgres:// URL of a database to recreate")
    parser.add_argument(
        "--workers", type=int, help="the import's workers (its default if not given)"
    )
    args = parser.parse_args(argv)
    _fresh_database(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command

    from caseloop.cases.models import Case
    from caseloop.customers.models import Customer
    from caseloop.intake.models import SurveyResponse
    from caseloop.intake.services import default_workers
    from caseloop.notify.models import InAppNotification, OutboxMessage, UntoldEvent
    from caseloop.notify.telling import tell_untold_events

    call_command("migrate", verbosity=0)
    rng = random.Random(SEED)
    stores = _build_world()
    path = DATA_DIR / f"intake-responses-{args.rows}.csv"
    alerts = _write_file(path, args.rows, stores, rng)
    plain, raw = _plain_insert_seconds(path)
    customers_before = Customer.objects.count()
    workers = args.workers or default_workers()
    imported, cpu = _import_seconds(path, workers)
    stored, cases = SurveyResponse.objects.count(), Case.objects.count()
    queued = UntoldEvent.objects.count()
    started = time.perf_counter()
    tell_untold_events()
    telling = time.perf_counter() - started
    # Every case: an email to its store's owner, and an in-app line for the owner and the two
    # managers above the store.
    emails = OutboxMessage.objects.filter(kind="email").count()
    in_app = InAppNotification.objects.count()
    told = (queued, emails, in_app) == (cases, cases, 3 * cases)
    if stored != args.rows or cases != alerts or not told:
        print(
            f"wrong result: {stored} responses, {cases} cases, {queued} events queued, "
            f"{emails} emails, {in_app} in-app notifications; {alerts} cases expected",
            file=sys.stderr,
        )
        return 1
    result = {
        "rows": args.rows,
        "cases": cases,
        "import_seconds": imported,
        "import_cpu_seconds": cpu,
        "telling_seconds": telling,
        "plain_insert_seconds": plain,
        "raw_insert_seconds": raw,
        "new_customers": Customer.objects.count() - customers_before,
        "workers": workers,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
