"""The benchmark data set: N realistic, skewed cases, the same ones for the same N every time.

Shape (at N ≥ 100,000; smaller N shrinks the organisation with it):

- corporate → 10 regions → 500 stores; each store's case volume follows a Zipf-like curve
  (1/rank^0.8), so at 1,000,000 the busiest store has ~78,000 cases and the median ~1,000;
- about 1,500 users: 1–12 agents per store (more in busier stores), the first of whom is the
  store's designated owner and owns about half its cases; a manager per region; some stores
  have a store manager, who watches the store's new cases; two administrators and three
  analysts at corporate;
- two programs with case types, closing statuses and root causes; N/3 customers;
- a quarter of the cases New, a quarter In Progress, half Closed, over two years.

The rows are written directly in bulk (see ``bench.synth`` for what each case carries); the
organisation and its memberships, which are small, go through the org services. A marker table
records the size, seed, generator version and migrations of a finished data set so that the
next run reuses it instead of generating again.
"""

import hashlib
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import vocabulary as words
from bench.rows import next_id, reset_sequences, time_adapter
from bench.synth import (
    HOUR,
    CaseSynthesizer,
    CaseTypeInfo,
    ProgramInfo,
    Store,
    Weighted,
    World,
    add_customer,
    customer_writer,
    plan_cases,
)
from caseloop.cases.models import (
    Case,
    CaseEvent,
    CaseNote,
    CaseTask,
    CaseWatcher,
    ContactAttempt,
)
from caseloop.customers.models import Customer, Interaction
from caseloop.org.models import Role, User
from caseloop.org.services import create_unit, grant_role
from caseloop.programs.models import (
    CaseType,
    ClosingStatus,
    DeadlineUnit,
    PlaybookStep,
    Program,
    RootCause,
)

# Bump whenever the generated rows change, so that stored data sets are rebuilt.
GENERATOR_VERSION = 1
DEFAULT_SEED = 20261123
# Fixed, so that the same seed gives the same rows whatever the day; a Monday morning.
REFERENCE_NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
MARKER_TABLE = "bench_dataset"
CHUNK = 25_000
STORE_VOLUME_EXPONENT = 0.8


@dataclass(frozen=True)
class Dataset:
    """A generated data set as the scenarios see it."""

    size: int
    seed: int
    now: datetime
    generated: bool  # False when an existing data set was reused
    seconds: float  # how long generating it took (then or now)
    db_bytes: int


def ensure_dataset(
    size: int, *, seed: int = DEFAULT_SEED, regenerate: bool = False, console: Console
) -> Dataset:
    """Reuse the data set in the configured database when it was made with the same size, seed,
    generator and migrations; otherwise wipe the database and generate it afresh."""
    expected = fingerprint(size, seed)
    marker = read_marker()
    if marker is not None and not needs_generation(marker, expected, regenerate=regenerate):
        console.print(f"Reusing the {size:,}-case data set ({_describe_db()}).")
        stored_bytes = int(marker.get("bytes", 0)) or database_bytes()
        return Dataset(size, seed, REFERENCE_NOW, False, float(marker["seconds"]), stored_bytes)
    console.print(f"Generating {size:,} cases into {_describe_db()} …")
    started = time.perf_counter()
    _wipe_database()
    call_command("migrate", verbosity=0)
    generate(size, seed=seed, console=console)
    seconds = time.perf_counter() - started
    # Measured now: the baseline tables the scenarios add later are not part of the data set.
    size_on_disk = database_bytes()
    write_marker(
        {
            **expected,
            "seconds": f"{seconds:.1f}",
            "bytes": str(size_on_disk),
            "generated_at": _utc_now(),
        }
    )
    console.print(f"Generated {size:,} cases in {seconds:.0f} s ({size_on_disk / 2**20:,.0f} MiB).")
    return Dataset(size, seed, REFERENCE_NOW, True, seconds, size_on_disk)


def generate(size: int, *, seed: int = DEFAULT_SEED, console: Console | None = None) -> None:
    """Write the whole data set into the current database, which must hold no cases yet."""
    console = console or Console(quiet=True)
    _tune_for_bulk_load()
    rng = random.Random(seed)
    now = REFERENCE_NOW.timestamp()
    with transaction.atomic():
        stores = _build_org(rng, size)
        programs = _build_programs()
    world = World(
        now=now,
        stores=stores,
        programs=programs,
        first_customer_id=next_id(Customer),
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
        _write_customers(rng, world, max(1, size // 3), progress)
        _write_cases(rng, world, size, progress)
    written = [Customer, Case, CaseWatcher, CaseTask, CaseEvent, ContactAttempt, CaseNote]
    reset_sequences([*written, Interaction, Case.root_causes.through])
    _after_bulk_load()


def _build_org(rng: random.Random, size: int) -> Weighted[Store]:
    """The unit tree, its users and memberships; returns the stores weighted by case volume."""
    store_count = max(4, min(500, size // 200))
    region_count = max(2, min(10, store_count // 10))
    ranks = list(range(1, store_count + 1))
    rng.shuffle(ranks)  # the busiest stores end up in any region
    volumes = [1.0 / rank**STORE_VOLUME_EXPONENT for rank in ranks]
    staffing = [volume**0.5 for volume in volumes]
    extra_agents = 2 * store_count
    agent_counts = [
        min(12, 1 + round(extra_agents * s / sum(staffing))) for s in staffing
    ]  # ~3 agents per store on average, busy stores up to 12

    users = _make_users(rng, sum(agent_counts), region_count)
    agents, regional_managers, admins, analysts = users
    corporate = create_unit(code="corp", name="Corporate", kind="corporate")
    for user in admins:
        grant_role(user=user, unit=corporate, role=Role.ADMIN)
    for user in analysts:
        grant_role(user=user, unit=corporate, role=Role.VIEWER)
    regions = []
    for index, manager in enumerate(regional_managers):
        name = words.REGION_NAMES[index % len(words.REGION_NAMES)]
        region = create_unit(
            code=f"region-{index + 1:02d}", name=name, kind="region", parent=corporate
        )
        grant_role(user=manager, unit=region, role=Role.MANAGER)
        regions.append(region)

    stores: list[tuple[Store, float]] = []
    next_agent = 0
    for index in range(store_count):
        staff = agents[next_agent : next_agent + agent_counts[index]]
        next_agent += len(staff)
        # Some stores have a manager of their own (the second person), who watches new cases.
        manager = staff[1] if len(staff) > 1 and rng.random() < 0.4 else None
        unit = create_unit(
            code=f"store-{index + 1:04d}",
            name=f"Store {index + 1:04d} {rng.choice(words.CITIES)}",
            parent=regions[index % region_count],
            owner=staff[0],
            manager=manager,
        )
        for user in staff:
            role = Role.MANAGER if user == manager else Role.AGENT
            grant_role(user=user, unit=unit, role=role)
        # The designated owner takes half; the others share the rest, unevenly.
        others = [(user.pk, 1.0 / position) for position, user in enumerate(staff[1:], 1)]
        shares = [(staff[0].pk, sum(weight for _, weight in others) or 1.0), *others]
        store = Store(unit.pk, Weighted(shares), manager.pk if manager else None)
        stores.append((store, volumes[index]))
    return Weighted(stores)


def _make_users(
    rng: random.Random, agent_count: int, region_count: int
) -> tuple[list[User], list[User], list[User], list[User]]:
    joined = REFERENCE_NOW.replace(year=REFERENCE_NOW.year - 3)

    def user(username: str) -> User:
        first, last = rng.choice(words.FIRST_NAMES), rng.choice(words.LAST_NAMES)
        return User(
            username=username,
            first_name=first,
            last_name=last,
            email=f"{username}@staff.example.com",
            # Nobody logs into the benchmark data set; an unusable password, like Django's.
            password="!bench",  # noqa: S106
            date_joined=joined,
        )

    agents = [user(f"agent{n:04d}") for n in range(1, agent_count + 1)]
    managers = [user(f"manager{n:02d}") for n in range(1, region_count + 1)]
    admins = [user(f"admin{n}") for n in (1, 2)]
    analysts = [user(f"analyst{n}") for n in (1, 2, 3)]
    created = User.objects.bulk_create(agents + managers + admins + analysts)
    a, m = agent_count, agent_count + region_count
    return created[:a], created[a:m], created[m : m + 2], created[m + 2 :]


def _build_programs() -> Weighted[ProgramInfo]:
    programs: list[tuple[ProgramInfo, float]] = []
    for spec in words.PROGRAMS:
        program = Program.objects.create(
            code=spec.code,
            name=spec.name,
            start_deadline=spec.start_hours if spec.start_hours < 24 else spec.start_hours // 24,
            start_deadline_unit=(
                DeadlineUnit.BUSINESS_HOURS if spec.start_hours < 24 else DeadlineUnit.BUSINESS_DAYS
            ),
            resolve_deadline=spec.resolve_hours // 24,
            resolve_deadline_unit=DeadlineUnit.BUSINESS_DAYS,
        )
        case_types = []
        for type_spec in spec.case_types:
            case_type = CaseType.objects.create(
                program=program, code=type_spec.code, name=type_spec.name
            )
            steps = tuple(enumerate(type_spec.playbook, 1))
            for position, title in steps:
                PlaybookStep.objects.create(case_type=case_type, position=position, title=title)
            case_types.append(
                (CaseTypeInfo(case_type.pk, type_spec.subjects, steps), type_spec.weight)
            )
        closing = []
        for position, (code, name, resolved, weight) in enumerate(words.CLOSING_STATUSES, 1):
            status = ClosingStatus.objects.create(
                program=program, code=code, name=name, is_resolved=resolved, position=position
            )
            closing.append(((status.pk, code, resolved), float(weight)))
        causes = []
        for position, (code, name) in enumerate(spec.root_causes, 1):
            cause = RootCause.objects.create(
                program=program, code=code, name=name, position=position
            )
            causes.append(((cause.pk, code), 1.0 / position))
        info = ProgramInfo(
            id=program.pk,
            start_seconds=spec.start_hours * HOUR,
            resolve_seconds=spec.resolve_hours * HOUR,
            case_types=Weighted(case_types),
            sources=Weighted(spec.sources),
            closing=Weighted(closing),
            root_causes=Weighted(causes),
        )
        programs.append((info, float(spec.share)))
    return Weighted(programs)


def _write_customers(rng: random.Random, world: World, count: int, progress: Progress) -> None:
    task = progress.add_task("customers", total=count)
    writer = customer_writer()
    db_time = time_adapter()
    flags = bytearray(count)
    for start in range(0, count, CHUNK):
        with transaction.atomic():
            for index in range(start, min(count, start + CHUNK)):
                flags[index] = add_customer(
                    writer, rng, world.first_customer_id + index, world.now, db_time
                )
            progress.advance(task, writer.flush())
    world.customer_has_contact = flags


def _write_cases(rng: random.Random, world: World, size: int, progress: Progress) -> None:
    task = progress.add_task("cases", total=size)
    plans = plan_cases(rng, size, world.now)
    first_ids = {
        "case": next_id(Case),
        "watcher": next_id(CaseWatcher),
        "task": next_id(CaseTask),
        "event": next_id(CaseEvent),
        "attempt": next_id(ContactAttempt),
        "note": next_id(CaseNote),
        "interaction": next_id(Interaction),
        "root_cause": next_id(Case.root_causes.through),
    }
    synth = CaseSynthesizer(world, rng, first_ids)
    first_case = first_ids["case"]
    for start in range(0, size, CHUNK):
        with transaction.atomic():
            for offset in range(start, min(size, start + CHUNK)):
                opened, status = plans[offset]
                synth.add(first_case + offset, opened, status)
            synth.flush()
        progress.advance(task, min(CHUNK, size - start))


def _tune_for_bulk_load() -> None:
    """On SQLite, a large page cache keeps the case table's fourteen indexes in memory while
    they grow, and nothing needs to reach the disk before the end (a crash means regenerating
    anyway). Connection settings only: ``_after_bulk_load`` closes the connection, and the
    scenarios then run with the settings the application uses."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size = -1048576")  # KiB: 1 GiB
        cursor.execute("PRAGMA synchronous = OFF")


def _after_bulk_load() -> None:
    """Give the planner what a running system would have: PostgreSQL's autovacuum analyses a
    freshly loaded table on its own, a little later, and since version 13 also vacuums a table
    that only received inserts, which sets the visibility map that index-only scans rely on
    (without it a 100,000-case page cost 44 ms at p95 instead of 59). SQLite gathers no
    statistics by itself (Django never runs ANALYZE), so neither do we: the plans measured are
    the ones a default deployment gets. The WAL is folded back so that the file size is the
    data set's size."""
    if connection.vendor == "postgresql":
        # VACUUM cannot run inside a transaction, such as a test's: ANALYZE alone there.
        statement = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        with connection.cursor() as cursor:
            cursor.execute(statement)
    elif not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()


def fingerprint(size: int, seed: int) -> dict[str, str]:
    """What a stored data set must have been made with to be reused: the same size and seed,
    the same generator, and the same migrations (a schema change means new columns to fill)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    leaves = sorted(f"{app}.{name}" for app, name in loader.graph.leaf_nodes())
    schema = hashlib.sha256("\n".join(leaves).encode()).hexdigest()[:16]
    return {
        "size": str(size),
        "seed": str(seed),
        "generator": str(GENERATOR_VERSION),
        "schema": schema,
    }


def needs_generation(
    marker: dict[str, str] | None, expected: dict[str, str], *, regenerate: bool = False
) -> bool:
    if regenerate or marker is None:
        return True
    return any(marker.get(key) != value for key, value in expected.items())


def read_marker() -> dict[str, str] | None:
    if MARKER_TABLE not in connection.introspection.table_names():
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, value FROM {MARKER_TABLE}")  # noqa: S608 - a constant
        return dict(cursor.fetchall())


def write_marker(values: dict[str, str]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (key varchar(32) PRIMARY KEY, value text)"
        )
        cursor.execute(f"DELETE FROM {MARKER_TABLE}")  # noqa: S608 - a constant
        cursor.executemany(
            f"INSERT INTO {MARKER_TABLE} (key, value) VALUES (%s, %s)",  # noqa: S608
            sorted(values.items()),
        )


def _wipe_database() -> None:
    """Start from an empty database: delete the SQLite file, or empty every table on
    PostgreSQL (``flush`` also restarts the id sequences, so ids come out the same)."""
    if connection.vendor == "sqlite":
        path = Path(settings.DATABASES["default"]["NAME"])
        connection.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {MARKER_TABLE}")


def database_bytes() -> int:
    """The size of the data set on disk: the SQLite file, or PostgreSQL's database."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            return int(cursor.fetchone()[0])
    path = Path(settings.DATABASES["default"]["NAME"])
    return sum(
        Path(f"{path}{suffix}").stat().st_size
        for suffix in ("", "-wal")
        if Path(f"{path}{suffix}").exists()
    )


def _describe_db() -> str:
    if connection.vendor == "postgresql":
        return f"PostgreSQL database {connection.settings_dict['NAME']}"
    return f"SQLite file {settings.DATABASES['default']['NAME']}"


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
