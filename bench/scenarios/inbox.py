"""Scenario ``inbox``: "my open cases, most urgent first, 50 per page" (DESIGN.md: p95 under
30 ms at 1,000,000 cases, a constant number of queries whatever the page size).

What is timed is exactly what the web app and the API run for a page: ``inbox_cases`` built and
evaluated to a list of 50 cases. Three views of it:

- ``mine``: page 1 of the Mine tab, for the heaviest owners and a random sample of the others;
- ``page2``: the next page of the same owners, by the keyset condition
  (resolve_due_at, id) > the last case seen, the inbox's own order;
- ``units``: page 1 of the My units tab for each regional manager (about 50 stores each).

Baseline: the same question asked in plain SQL of a bare table that the scenario builds in the
same database with only the columns it needs (id, owner, unit, status, resolve-by) and the same
partial indexes, filled from the cases table. The ratio shows what the ORM, the joins of
``select_related`` and the model instances cost on top of the index lookup itself.
"""

import random
from collections.abc import Callable
from datetime import datetime
from functools import partial

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, QuerySet
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rich.console import Console
from rich.panel import Panel

from bench.harness import Context, Figure, Report, flatten, latency_figures, time_calls
from caseloop.cases.models import OPEN_STATUSES, Case, DisplayStatus
from caseloop.cases.queries import (
    InboxFilters,
    InboxTab,
    count_by_display_status,
    inbox_page,
    inbox_page_query,
)
from caseloop.org.models import Role, User
from caseloop.org.queries import subtree

PAGE_SIZE = 50
HEAVIEST_OWNERS = 5
SAMPLED_OWNERS = 25
OWNER_ROUNDS = 12  # 30 owners x 12 rounds = 360 timed pages
MIN_MANAGER_RUNS = 300
ADMIN_RUNS = 100
CHIP_ROUNDS = 5  # counts read every case of 50 stores: fewer rounds
TARGET_P95 = "< 30"
OWNER_INDEX = "case_open_by_owner_due"
UNIT_INDEX = "case_open_by_unit_due"
BARE_TABLE = "bench_bare_case"
BARE_COLUMNS = "id, owner_id, unit_id, status, resolve_due_at"
# Written out, as a hand-written query would be: SQLite matches a partial index only when the
# query repeats the index's WHERE terms literally (a bound parameter does not match).
BARE_OPEN = "status IN ('new', 'in_progress')"
Cursor = tuple[datetime, int]
MINE = InboxFilters(tab=InboxTab.MINE)
UNITS = InboxFilters(tab=InboxTab.UNITS)
UNITS_CLOSED = InboxFilters(tab=InboxTab.UNITS, status=DisplayStatus.CLOSED)
OVERDUE = InboxFilters(tab=InboxTab.OVERDUE)


def run(context: Context) -> Report:
    now = context.dataset.now
    console = context.console
    rng = random.Random(context.dataset.seed)
    owners, open_counts = _sample_owners(rng)
    managers = _regional_managers()
    console.print(
        f"{len(owners)} owners (heaviest has {open_counts[0]:,} open cases), "
        f"{len(managers)} regional managers; building the bare baseline table …"
    )
    _build_bare_table()
    report = Report()
    _mine(report, owners, now, context)
    _page_two(report, owners, now, context)
    _units(report, managers, now, context)
    _units_admins(report, _corporate_admins(), now, context)
    _manager_overdue_and_chips(report, managers, now, context)
    _whole_pages(report, owners, managers, _corporate_admins(), context)
    _case_pages(report, context)
    report.notes.update(
        {
            "owners_sampled": len(owners),
            "heaviest_owner_open_cases": open_counts[0],
            "sampled_owner_open_cases_median": sorted(open_counts)[len(open_counts) // 2],
            "regional_managers": len(managers),
            "page_size": PAGE_SIZE,
        }
    )
    return report


def page(user: User, now: datetime, filters: InboxFilters, size: int = PAGE_SIZE) -> list[Case]:
    return inbox_page(user, filters, now, limit=size)


def mine_page(user: User, now: datetime) -> list[Case]:
    return page(user, now, MINE)


def next_page(user: User, now: datetime, cursor: Cursor) -> list[Case]:
    """The cases after ``cursor`` in the inbox's order (resolve_due_at, id), as the API's
    cursor pages read them."""
    return inbox_page(user, MINE, now, limit=PAGE_SIZE, after=cursor)


def units_page(user: User, now: datetime) -> list[Case]:
    return page(user, now, UNITS)


def page_query(
    user: User, now: datetime, filters: InboxFilters, **kwargs: object
) -> QuerySet[Case]:
    return inbox_page_query(user, filters, now, limit=PAGE_SIZE, **kwargs)  # type: ignore[arg-type]


def _mine(report: Report, owners: list[User], now: datetime, context: Context) -> None:
    rounds = context.rounds(OWNER_ROUNDS)
    timings = time_calls([partial(mine_page, user, now) for user in owners], rounds)
    bare = time_calls([partial(_bare_mine, user.pk) for user in owners], rounds)
    heaviest = flatten(timings[:HEAVIEST_OWNERS])
    report.figures.update(latency_figures("mine", flatten(timings), TARGET_P95))
    report.figures.update(latency_figures("mine_heaviest", heaviest, TARGET_P95))
    report.figures.update(latency_figures("mine_bare", flatten(bare)))
    report.figures["mine_vs_bare"] = _ratio(report, "mine", "mine_bare")
    report.figures["mine_queries_per_page"] = _queries_per_page(
        lambda size: page(owners[0], now, MINE, size)
    )
    plan = explain(page_query(owners[0], now, MINE))
    bare_plan = _explain_sql(*_bare_mine_sql(owners[0].pk))
    _plan_figures(report, "mine", plan, OWNER_INDEX)
    report.notes["plan_mine"] = plan
    report.notes["plan_mine_bare"] = bare_plan
    _show_plan(context.console, "Mine, heaviest owner", plan)
    _show_plan(context.console, "Mine, bare table", bare_plan)


def _page_two(report: Report, owners: list[User], now: datetime, context: Context) -> None:
    cursors = {}
    for user in owners:
        first = mine_page(user, now)
        if len(first) == PAGE_SIZE:
            cursors[user.pk] = (first[-1].resolve_due_at, first[-1].pk)
    paged = [user for user in owners if user.pk in cursors]
    calls = [partial(next_page, user, now, cursors[user.pk]) for user in paged]
    # As many timed pages as for page 1, though fewer owners have a second page.
    runs = context.rounds(max(1, -(-len(owners) * OWNER_ROUNDS // max(1, len(calls)))))
    report.figures.update(latency_figures("page2", flatten(time_calls(calls, runs)), TARGET_P95))
    plan = explain(page_query(paged[0], now, MINE, after=cursors[paged[0].pk]))
    _plan_figures(report, "page2", plan, OWNER_INDEX)
    report.notes["plan_page2"] = plan
    _show_plan(context.console, "Mine, page 2, heaviest owner", plan)


def _units(report: Report, managers: list[User], now: datetime, context: Context) -> None:
    rounds = context.rounds(-(-MIN_MANAGER_RUNS // len(managers)))
    timings = time_calls([partial(units_page, user, now) for user in managers], rounds)
    unit_ids = {user.pk: _unit_ids_of(user) for user in managers}
    bare = time_calls([partial(_bare_units, unit_ids[user.pk]) for user in managers], rounds)
    report.figures.update(latency_figures("units", flatten(timings), TARGET_P95))
    report.figures.update(latency_figures("units_bare", flatten(bare)))
    report.figures["units_vs_bare"] = _ratio(report, "units", "units_bare")
    report.figures["units_queries_per_page"] = _queries_per_page(
        lambda size: page(managers[0], now, UNITS, size)
    )
    # Page 2 by cursor, as the API reads it, and the Closed chip of the same tab.
    cursors = {}
    for user in managers:
        first = units_page(user, now)
        cursors[user.pk] = (first[-1].resolve_due_at, first[-1].pk)
    calls = [
        partial(inbox_page, user, UNITS, now, limit=PAGE_SIZE, after=cursors[user.pk])
        for user in managers
    ]
    report.figures.update(
        latency_figures("units_page2", flatten(time_calls(calls, rounds)), TARGET_P95)
    )
    calls = [partial(page, user, now, UNITS_CLOSED) for user in managers]
    report.figures.update(
        latency_figures("units_closed", flatten(time_calls(calls, rounds)), TARGET_P95)
    )
    plan = explain(page_query(managers[0], now, UNITS))
    _plan_figures(report, "units", plan, UNIT_INDEX, merge_expected=True)
    report.notes["plan_units"] = plan
    report.notes["plan_units_closed"] = explain(page_query(managers[0], now, UNITS_CLOSED))
    report.notes["stores_per_regional_manager"] = len(unit_ids[managers[0].pk]) - 1
    _show_plan(context.console, "My units, regional manager", plan)


def _units_admins(report: Report, admins: list[User], now: datetime, context: Context) -> None:
    """My units for the administrators on the corporate unit: every unit of the company."""
    rounds = context.rounds(-(-ADMIN_RUNS // len(admins)))
    timings = time_calls([partial(units_page, user, now) for user in admins], rounds)
    report.figures.update(latency_figures("units_admin", flatten(timings), TARGET_P95))
    calls = [partial(chip_counts, user, InboxTab.UNITS, now) for user in admins]
    report.figures.update(
        latency_figures(
            "chips_units_admin", flatten(time_calls(calls, context.rounds(CHIP_ROUNDS))), TARGET_P95
        )
    )
    plan = explain(page_query(admins[0], now, UNITS))
    report.notes["plan_units_admin"] = plan
    report.notes["units_per_admin"] = len(_unit_ids_of(admins[0]))
    _show_plan(context.console, "My units, corporate administrator", plan)


def _manager_overdue_and_chips(
    report: Report, managers: list[User], now: datetime, context: Context
) -> None:
    """The regional manager's Overdue tab (owned, watched and unit cases together) and the
    counts on the status chips of the tab they land on."""
    rounds = context.rounds(-(-MIN_MANAGER_RUNS // len(managers)))
    calls = [partial(page, user, now, OVERDUE) for user in managers]
    report.figures.update(
        latency_figures("overdue", flatten(time_calls(calls, rounds)), TARGET_P95)
    )
    report.figures["overdue_queries_per_page"] = _queries_per_page(
        lambda size: page(managers[0], now, OVERDUE, size)
    )
    plan = explain(page_query(managers[0], now, OVERDUE))
    report.notes["plan_overdue"] = plan
    _show_plan(context.console, "Overdue, regional manager", plan)
    chip_rounds = context.rounds(CHIP_ROUNDS)
    calls = [partial(chip_counts, user, InboxTab.UNITS, now) for user in managers]
    report.figures.update(
        latency_figures("chips_units", flatten(time_calls(calls, chip_rounds)), TARGET_P95)
    )
    calls = [partial(chip_counts, user, InboxTab.OVERDUE, now) for user in managers]
    report.figures.update(
        latency_figures("chips_overdue", flatten(time_calls(calls, chip_rounds)), TARGET_P95)
    )
    report.notes["plan_chips_units"] = _explain_captured(
        partial(chip_counts, managers[0], InboxTab.UNITS, now)
    )
    report.notes["plan_chips_overdue"] = _explain_captured(
        partial(chip_counts, managers[0], InboxTab.OVERDUE, now)
    )


def chip_counts(user: User, tab: InboxTab, now: datetime) -> dict[str, int]:
    """The chips as the inbox page counts them: each stops at the configured cap (1,000+)."""
    return count_by_display_status(user, tab, now, cap=settings.CASELOOP_INBOX_COUNT_CAP)


WEB_ROUNDS = 5
# At least this many timed requests per figure: two administrators times five rounds made a
# p95 of ten samples, which is their slowest one.
WEB_SAMPLES = 100


def _whole_pages(
    report: Report, owners: list[User], managers: list[User], admins: list[User], context: Context
) -> None:
    """The inbox as a browser gets it: its ``GET`` through every middleware (session, user,
    CSRF), the view, its queries and the rendered HTML of 50 rows; then the request for the
    counts of its status chips, which the page sends once it shows. The time is
    the server's own (the request is not sent over a socket) and the clock is the real one, so
    the counts of late cases differ a little from the other figures'."""
    # Production serves hashed static file names from a manifest that collectstatic writes.
    call_command("collectstatic", interactive=False, verbosity=0)
    plans = [
        ("web_mine", owners, "mine"),
        ("web_units", managers, "units"),
        ("web_units_admin", admins, "units"),
    ]
    for name, users, tab in plans:
        clients = [_client_of(user) for user in users]
        rounds = context.rounds(max(WEB_ROUNDS, -(-WEB_SAMPLES // len(users))))
        calls = [partial(_get, client, "web:inbox", tab) for client in clients]
        timings = time_calls(calls, rounds)
        report.figures.update(latency_figures(name, flatten(timings), TARGET_P95))
        # The counts on the status chips, which the page asks for once it shows.
        calls = [partial(_get, client, "web:inbox_chips", tab) for client in clients]
        timings = time_calls(calls, rounds)
        chips_name = name.replace("web_", "web_chips_")
        report.figures.update(latency_figures(chips_name, flatten(timings), TARGET_P95))


CASE_PAGES = 60


def _case_pages(report: Report, context: Context) -> None:
    """The case page as its owner gets it: ``GET`` of the whole page (customer, deadlines,
    people, checklist, timeline and every action form) for cases drawn at random, open and
    closed alike, 5 rounds."""
    rng = random.Random(context.dataset.seed + 1)
    last = Case.objects.order_by("-pk").values_list("pk", flat=True)[0]
    wanted = {rng.randint(1, last) for _ in range(CASE_PAGES * 2)}
    cases = list(Case.objects.filter(pk__in=wanted, owner__isnull=False).select_related("owner"))
    cases = cases[:CASE_PAGES]
    clients: dict[int, Client] = {}
    calls = []
    for case in cases:
        if case.owner_id not in clients:
            clients[case.owner_id] = _client_of(case.owner)
        calls.append(partial(_get_case, clients[case.owner_id], case.pk))
    timings = time_calls(calls, context.rounds(WEB_ROUNDS))
    report.figures.update(latency_figures("web_case", flatten(timings), TARGET_P95))
    report.notes["case_pages_sampled"] = len(cases)


def _get_case(client: Client, case_id: int) -> None:
    response = client.get(reverse("web:case", args=[case_id]))
    if response.status_code != 200:
        raise RuntimeError(f"The page of case {case_id} answered {response.status_code}")


def _client_of(user: User) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def _get(client: Client, view: str, tab: str) -> None:
    response = client.get(reverse(view), {"tab": tab, "per_page": PAGE_SIZE})
    if response.status_code != 200:
        raise RuntimeError(f"{view}, tab {tab}, answered {response.status_code}")


def _sample_owners(rng: random.Random) -> tuple[list[User], list[int]]:
    """The heaviest owners (most open cases) first, then a random sample of the others."""
    counts = list(
        Case.objects.filter(status__in=OPEN_STATUSES, owner__isnull=False)
        .values_list("owner_id")
        .annotate(open_cases=Count("id"))
        .order_by("-open_cases", "owner_id")
    )
    chosen = counts[:HEAVIEST_OWNERS]
    rest = counts[HEAVIEST_OWNERS:]
    chosen += rng.sample(rest, min(SAMPLED_OWNERS, len(rest)))
    users = User.objects.in_bulk([owner_id for owner_id, _ in chosen])
    return [users[owner_id] for owner_id, _ in chosen], [count for _, count in chosen]


def _corporate_admins() -> list[User]:
    return list(
        User.objects.filter(
            memberships__role=Role.ADMIN, memberships__unit__kind="corporate"
        ).order_by("pk")
    )


def _regional_managers() -> list[User]:
    return list(
        User.objects.filter(
            memberships__role=Role.MANAGER, memberships__unit__kind="region"
        ).order_by("pk")
    )


def _unit_ids_of(user: User) -> list[int]:
    units = [m.unit for m in user.memberships.select_related("unit")]
    ids: set[int] = set()
    for unit in units:
        ids.update(subtree(unit).values_list("pk", flat=True))
    return sorted(ids)


def _queries_per_page(page: Callable[[int], object]) -> Figure:
    """How many queries one page takes at 10, 50 and 200 rows: it must not grow with the size."""
    counts = []
    for size in (10, PAGE_SIZE, 200):
        with CaptureQueriesContext(connection) as captured:
            page(size)
        counts.append(len(captured.captured_queries))
    return Figure(max(counts), "queries", "constant", passed=len(set(counts)) == 1)


def _ratio(report: Report, measured: str, baseline: str) -> Figure:
    value = report.figures[f"{measured}_p50"].value
    base = report.figures[f"{baseline}_p50"].value
    assert isinstance(value, float) and isinstance(base, float)
    return Figure(round(value / base, 1) if base else 0.0, "x (p50)")


def _plan_figures(
    report: Report, prefix: str, plan: str, index: str, *, merge_expected: bool = False
) -> None:
    report.figures[f"{prefix}_plan_uses_index"] = Figure(plan_uses(plan, index), "bool", "true")
    # Sorting all of an owner's open cases to show 50 is what makes a heavy inbox slow. A page
    # of several units is a merge: SQLite's LIMIT sorter over the units' index ranges, which
    # leaves each unit once it cannot contribute, so a sort there is expected and bounded.
    report.figures[f"{prefix}_plan_sorts"] = Figure(
        plan_sorts(plan), "bool", "" if merge_expected else "false"
    )


def plan_uses(plan: str, index: str) -> bool:
    return index in plan


def plan_sorts(plan: str) -> bool:
    """Whether the plan sorts cases it read off an index or a scan, rather than only the
    page's candidates fetched by primary key. SQLite's plan lines are ``id parent 0 detail``;
    on PostgreSQL any sort counts."""
    if connection.vendor == "postgresql":
        return "Sort Key" in plan
    lines = [line.split(" ", 3) for line in plan.splitlines()]
    sorting = {line[1] for line in lines if "TEMP B-TREE FOR ORDER BY" in line[-1]}
    return any(
        line[1] in sorting and "cases_case" in line[-1] and "PRIMARY KEY" not in line[-1]
        for line in lines
    )


def _explain_captured(call: Callable[[], object]) -> str:
    """The plan of the last query ``call`` ran, for reads that are evaluated at once."""
    with CaptureQueriesContext(connection) as captured:
        call()
    return _explain_sql(captured.captured_queries[-1]["sql"], [])


def explain(queryset: QuerySet[Case]) -> str:
    """``EXPLAIN QUERY PLAN`` on SQLite; ``EXPLAIN ANALYZE`` (the plan actually run, with its
    timings) on PostgreSQL."""
    if connection.vendor == "postgresql":
        return queryset.explain(analyze=True)
    return queryset.explain()


def _explain_sql(sql: str, params: list[object]) -> str:
    prefix = "EXPLAIN ANALYZE " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
    with connection.cursor() as cursor:
        cursor.execute(prefix + sql, params)
        return "\n".join(" ".join(str(part) for part in row) for row in cursor.fetchall())


def _show_plan(console: Console, title: str, plan: str) -> None:
    console.print(Panel(plan, title=f"plan: {title}", expand=False))


def _build_bare_table() -> None:
    """The baseline table: only the columns the inbox needs, the same partial indexes, the same
    rows. Rebuilt on every run so that it always mirrors the cases table."""
    postgres = connection.vendor == "postgresql"
    # On SQLite only "integer PRIMARY KEY" is the rowid itself, as in Django's own tables.
    key = "bigint" if postgres else "integer"
    timestamp = "timestamp with time zone" if postgres else "datetime"
    statements = [
        f"DROP TABLE IF EXISTS {BARE_TABLE}",
        f"CREATE TABLE {BARE_TABLE} (id {key} PRIMARY KEY, owner_id bigint NULL,"
        f" unit_id bigint NOT NULL, status varchar(16) NOT NULL, resolve_due_at {timestamp} NULL)",
        f"INSERT INTO {BARE_TABLE} ({BARE_COLUMNS}) SELECT {BARE_COLUMNS} FROM cases_case",  # noqa: S608
        f"CREATE INDEX {BARE_TABLE}_owner_due ON {BARE_TABLE} (owner_id, resolve_due_at, id)"
        f" WHERE {BARE_OPEN}",
        f"CREATE INDEX {BARE_TABLE}_unit_due ON {BARE_TABLE} (unit_id, resolve_due_at, id)"
        f" WHERE {BARE_OPEN}",
    ]
    if postgres:
        statements.append(f"ANALYZE {BARE_TABLE}")
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def _bare_mine_sql(owner_id: int) -> tuple[str, list[object]]:
    return (
        f"SELECT {BARE_COLUMNS} FROM {BARE_TABLE} WHERE owner_id = %s AND {BARE_OPEN}"  # noqa: S608
        f" ORDER BY resolve_due_at, id LIMIT {PAGE_SIZE}",
        [owner_id],
    )


def _bare_mine(owner_id: int) -> list[tuple[object, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(*_bare_mine_sql(owner_id))
        return cursor.fetchall()


def _bare_units(unit_ids: list[int]) -> list[tuple[object, ...]]:
    marks = ", ".join(["%s"] * len(unit_ids))
    sql = (
        f"SELECT {BARE_COLUMNS} FROM {BARE_TABLE} WHERE unit_id IN ({marks}) AND {BARE_OPEN}"  # noqa: S608
        f" ORDER BY resolve_due_at, id LIMIT {PAGE_SIZE}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, unit_ids)
        return cursor.fetchall()
