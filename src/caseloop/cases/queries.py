"""Reads of cases shared by the web app, the API and reports, with the one access rule.

A user sees a case when they own it, watch it, or hold any role on its unit or a unit above it.
Owners, full-access watchers and unit managers/administrators may change it; everyone else who
sees it only reads. A case a user may not see does not exist for them (``NotFound``).
"""

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

from django.db import connections
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.expressions import RawSQL

from caseloop.cases.models import (
    OPEN_STATUSES,
    Case,
    CaseState,
    CaseWatcher,
    DisplayStatus,
    Status,
    WatcherAccess,
)
from caseloop.customers.models import customer_label
from caseloop.errors import Forbidden, NotFound
from caseloop.org.models import WRITING_ROLES, Unit, User, user_label
from caseloop.org.queries import roles_on, units_reachable_by


class Access(IntEnum):
    NONE = 0
    READ = 1
    WRITE = 2


def access_of(user: User | None, case: Case) -> Access:
    """What ``user`` may do with ``case``; ``None`` is the system itself (intake, worker)."""
    if user is None or user.is_superuser:
        return Access.WRITE
    if not user.is_active:
        return Access.NONE
    if case.owner_id == user.pk:
        return Access.WRITE
    watcher_access = (
        CaseWatcher.objects.filter(case_id=case.pk, user=user).values_list("access", flat=True)
    ).first()
    if watcher_access == WatcherAccess.FULL:
        return Access.WRITE
    roles = roles_on(user, case.unit)
    if roles & WRITING_ROLES:
        return Access.WRITE
    if roles or watcher_access == WatcherAccess.LIMITED:
        return Access.READ
    return Access.NONE


def visible_cases(user: User) -> QuerySet[Case]:
    """Every case ``user`` may see."""
    if user.is_superuser:
        return Case.objects.all()
    if not user.is_active:
        return Case.objects.none()
    watching = CaseWatcher.objects.filter(case_id=OuterRef("pk"), user=user)
    reachable_units = units_reachable_by(user).values("pk")
    return Case.objects.filter(Q(owner=user) | Exists(watching) | Q(unit_id__in=reachable_units))


def get_case_for(user: User, case_id: int, *, write: bool = False) -> Case:
    """The case with ``case_id`` if ``user`` may see it (and change it, with ``write``).

    Missing and invisible look the same (``NotFound``) so that ids cannot be probed.
    """
    case = (
        Case.objects.select_related(
            "program", "case_type", "customer", "unit", "owner", "closing_status", "transaction"
        )
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        raise NotFound(f"Case {case_id} not found.")
    access = access_of(user, case)
    if access == Access.NONE:
        raise NotFound(f"Case {case_id} not found.")
    if write and access < Access.WRITE:
        raise Forbidden("You may read this case but not change it.")
    return case


class InboxTab(StrEnum):
    MINE = "mine"
    WATCHING = "watching"
    UNITS = "units"
    OVERDUE = "overdue"
    ALL = "all"


@dataclass(frozen=True)
class InboxFilters:
    """The inbox's filters, one definition for the web app and the API.

    ``status`` is a display status: ``overdue`` means open and past the resolve deadline;
    ``new`` and ``in_progress`` then mean those not yet overdue.
    """

    tab: InboxTab = InboxTab.MINE
    status: DisplayStatus | None = None
    program_id: int | None = None
    case_type_id: int | None = None
    unit_id: int | None = None
    due_after: datetime | None = None
    due_before: datetime | None = None


# The inbox's order, the same on every database: most urgent first, cases without a resolve
# deadline last (PostgreSQL sorts NULL last by default, SQLite first), the id breaking ties.
URGENT_FIRST = (F("resolve_due_at").asc(nulls_last=True), F("id").asc())
LEAST_URGENT_FIRST = (F("resolve_due_at").desc(nulls_first=True), F("id").desc())
INBOX_RELATED = ("customer", "case_type", "owner", "unit", "program")

# Where a page ended: the (resolve_due_at, id) of its last case.
InboxKey = tuple[datetime | None, int]


def _by_tab(user: User, tab: InboxTab) -> QuerySet[Case]:
    if tab == InboxTab.MINE:
        return Case.objects.filter(owner=user)
    if tab == InboxTab.WATCHING:
        return Case.objects.filter(
            Exists(CaseWatcher.objects.filter(case_id=OuterRef("pk"), user=user))
        )
    if tab == InboxTab.UNITS:
        return Case.objects.filter(unit_id__in=units_reachable_by(user).values("pk"))
    return visible_cases(user)


def _by_status(
    cases: QuerySet[Case], status: DisplayStatus | None, now: datetime
) -> QuerySet[Case]:
    if status is None:
        return cases.filter(status__in_constants=OPEN_STATUSES)
    if status == DisplayStatus.CLOSED:
        return cases.filter(status__in_constants=[Status.CLOSED])
    if status == DisplayStatus.OVERDUE:
        return cases.filter(status__in_constants=OPEN_STATUSES, resolve_due_at__lte=now)
    # Repeating the open statuses lets the open-cases partial indexes serve New and In Progress.
    return cases.filter(status__in_constants=OPEN_STATUSES, status=status).exclude(
        resolve_due_at__lte=now
    )


def _filtered(cases: QuerySet[Case], filters: InboxFilters, now: datetime) -> QuerySet[Case]:
    """``cases`` narrowed by every filter but the tab."""
    status = DisplayStatus.OVERDUE if filters.tab == InboxTab.OVERDUE else filters.status
    cases = _by_status(cases, status, now)
    if filters.program_id is not None:
        cases = cases.filter(program_id=filters.program_id)
    if filters.case_type_id is not None:
        cases = cases.filter(case_type_id=filters.case_type_id)
    if filters.unit_id is not None:
        unit_path = Unit.objects.filter(pk=filters.unit_id).values("path")[:1]
        subtree = Unit.objects.filter(path__startswith=Subquery(unit_path)).values("pk")
        cases = cases.filter(unit_id__in=subtree)
    if filters.due_after is not None:
        cases = cases.filter(resolve_due_at__gte=filters.due_after)
    if filters.due_before is not None:
        cases = cases.filter(resolve_due_at__lt=filters.due_before)
    return cases


def inbox_cases(user: User, filters: InboxFilters, now: datetime) -> QuerySet[Case]:
    """Every case of one inbox view, most urgent first (``URGENT_FIRST``).

    The plain definition of what a tab shows. Pages come from ``inbox_page``, which reads the
    same cases through the partial indexes.
    """
    cases = _by_tab(user, filters.tab)
    return _filtered(cases, filters, now).select_related(*INBOX_RELATED).order_by(*URGENT_FIRST)


def inbox_page_query(
    user: User,
    filters: InboxFilters,
    now: datetime,
    *,
    limit: int,
    offset: int = 0,
    after: InboxKey | None = None,
    least_urgent_first: bool = False,
) -> QuerySet[Case]:
    """One page of ``inbox_cases``: ``limit`` cases from ``offset``, after the key ``after``
    when given, in one query whatever the page size (issue #3).

    Sorting every match to show a page is what made "My units" slow (the open cases of 50
    stores sorted to show 50). Instead each place a tab draws cases from (the owner's cases,
    the watched ones, each reachable unit) gives its first ``offset + limit`` ids straight off
    its partial index on (owner|unit, resolve_due_at, id), and only those candidates are
    sorted and joined. Cases without a deadline are read apart, since the databases keep NULL
    at opposite ends of an index.
    """
    if after is not None and least_urgent_first:
        raise ValueError("Pages after a key are read most urgent first only.")
    wanted = offset + limit
    if wanted <= 0:
        return Case.objects.none()
    closed = filters.status == DisplayStatus.CLOSED and filters.tab != InboxTab.OVERDUE
    base = _filtered(Case.objects.all(), filters, now)
    parts = [
        _first_ids(source, cases, has_due, closed, wanted, least_urgent_first=least_urgent_first)
        for source in _sources(user, filters.tab)
        for cases, has_due in _deadline_parts(base, filters, after)
    ]
    if not parts:
        return Case.objects.none()
    # Every part is SQL the ORM compiled, with its values as parameters.
    sql = " UNION ALL ".join(
        f"SELECT id FROM ({part}) AS part{n}"  # noqa: S608
        for n, (part, _) in enumerate(parts)
    )
    params = [param for _, part_params in parts for param in part_params]
    page = Case.objects.filter(_among(sql, params)).select_related(*INBOX_RELATED)
    order = LEAST_URGENT_FIRST if least_urgent_first else URGENT_FIRST
    return page.order_by(*order)[offset:wanted]


def _among(candidates_sql: str, params: list[object]) -> Q | RawSQL:
    """``id IN (candidates)``. PostgreSQL gets ``id = ANY(ARRAY(candidates))``: planned apart
    as an init plan, the candidates no longer multiply the join orders the planner weighs for
    ``select_related`` (planning took 8–13 ms of a 15 ms page at 100,000 cases)."""
    if connections[Case.objects.db].vendor != "postgresql":
        return Q(pk__in=RawSQL(candidates_sql, params))  # noqa: S611
    table = connections[Case.objects.db].ops.quote_name(Case._meta.db_table)
    return RawSQL(  # noqa: S611
        f'{table}."id" = ANY(ARRAY({candidates_sql}))', params, output_field=BooleanField()
    )


@dataclass(frozen=True, slots=True)
class InboxRow(CaseState):
    """One case as an inbox row shows it (web/_inbox.html), read as plain values: five model
    instances a row cost more than the page's query (issue #3)."""

    pk: int
    status: str
    subject: str
    resolve_due_at: datetime | None
    closed_at: datetime | None
    customer: str
    case_type: str
    unit: str
    # Empty when the case has no owner.
    owner: str


_INBOX_ROW_COLUMNS = (
    "pk",
    "status",
    "subject",
    "resolve_due_at",
    "closed_at",
    "customer_id",
    "customer__name",
    "customer__email",
    "customer__phone",
    "case_type__name",
    "unit__name",
    "owner__first_name",
    "owner__last_name",
    "owner__username",
)


def inbox_rows(
    user: User,
    filters: InboxFilters,
    now: datetime,
    *,
    limit: int,
    offset: int = 0,
    least_urgent_first: bool = False,
) -> list[InboxRow]:
    """The cases of ``inbox_page_query`` as inbox rows, in the same order."""
    page = inbox_page_query(
        user, filters, now, limit=limit, offset=offset, least_urgent_first=least_urgent_first
    )
    return [
        InboxRow(
            pk=pk,
            status=status,
            subject=subject,
            resolve_due_at=resolve_due_at,
            closed_at=closed_at,
            customer=customer_label(customer_id, name, email, phone),
            case_type=case_type,
            unit=unit,
            owner=user_label(first_name, last_name, username) if username else "",
        )
        for (
            pk,
            status,
            subject,
            resolve_due_at,
            closed_at,
            customer_id,
            name,
            email,
            phone,
            case_type,
            unit,
            first_name,
            last_name,
            username,
        ) in page.select_related(None).values_list(*_INBOX_ROW_COLUMNS)
    ]


def inbox_page(
    user: User,
    filters: InboxFilters,
    now: datetime,
    *,
    limit: int,
    offset: int = 0,
    after: InboxKey | None = None,
    least_urgent_first: bool = False,
) -> list[Case]:
    """The cases of ``inbox_page_query``, read."""
    return list(
        inbox_page_query(
            user,
            filters,
            now,
            limit=limit,
            offset=offset,
            after=after,
            least_urgent_first=least_urgent_first,
        )
    )


@dataclass(frozen=True)
class _Source:
    """One place a tab draws cases from: the owner's cases, the watched ones, or the cases of
    the units a user reaches. ``open_hint``/``closed_hint`` tell SQLite which index lists them
    in order; ``units`` (ids) marks a source read unit by unit."""

    condition: Q
    open_hint: str = ""
    closed_hint: str = ""
    units: QuerySet[Unit] | None = None


def _sources(user: User, tab: InboxTab) -> list[_Source]:
    """Where ``tab`` draws its cases from; together they are exactly ``_by_tab``."""
    if tab in (InboxTab.OVERDUE, InboxTab.ALL):
        if user.is_superuser:
            return [_Source(Q())]
        if not user.is_active:
            return []
    owned = _Source(Q(owner=user), open_hint='INDEXED BY "case_open_by_owner_due"')
    # From the user's watcher rows to the cases by primary key: walking the cases in deadline
    # order and probing for a watcher row would read every open case.
    watched = _Source(
        Q(pk__in=CaseWatcher.objects.filter(user=user).values("case_id")),
        open_hint="NOT INDEXED",
        closed_hint="NOT INDEXED",
    )
    if tab == InboxTab.MINE:
        return [owned]
    if tab == InboxTab.WATCHING:
        return [watched]
    reach = units_reachable_by(user).values("pk")
    in_units = _Source(
        Q(unit_id__in=reach),
        open_hint='INDEXED BY "case_open_by_unit_due"',
        closed_hint='INDEXED BY "case_closed_by_unit_due"',
        units=reach,
    )
    return [in_units] if tab == InboxTab.UNITS else [owned, watched, in_units]


def _deadline_parts(
    cases: QuerySet[Case], filters: InboxFilters, after: InboxKey | None
) -> list[tuple[QuerySet[Case], bool]]:
    """``cases`` (after the key ``after``) split into those with a resolve deadline and those
    without (flagged False), each listed in index order on its own."""
    nulls_excluded = (
        filters.tab == InboxTab.OVERDUE
        or filters.status == DisplayStatus.OVERDUE
        or filters.due_after is not None
        or filters.due_before is not None
    )
    with_due = cases.filter(resolve_due_at__isnull=False)
    without_due = cases.filter(resolve_due_at__isnull=True)
    if after is not None:
        due, pk = after
        if due is None:
            return [(without_due.filter(pk__gt=pk), False)]
        # ">=" gives the index a range to start from; the OR then skips the rows already shown.
        with_due = with_due.filter(
            Q(resolve_due_at__gte=due) & (Q(resolve_due_at__gt=due) | Q(pk__gt=pk))
        )
    return [(with_due, True)] if nulls_excluded else [(with_due, True), (without_due, False)]


def _first_ids(
    source: _Source,
    cases: QuerySet[Case],
    has_due: bool,
    closed: bool,
    wanted: int,
    *,
    least_urgent_first: bool,
) -> tuple[str, list[object]]:
    """SQL for the ids (and deadlines) of the first ``wanted`` of ``cases`` from ``source``,
    read in order off its partial index.

    Per unit: SQLite walks ``unit_id IN (…)`` unit by unit and, once it holds ``wanted`` rows,
    leaves each unit at its first row that cannot make the page (its LIMIT sorter stops the IN
    loop early), so it reads about ``wanted`` index entries per unit; PostgreSQL is given the
    same merge explicitly, a LIMITed index scan per unit in a LATERAL join. SQLite is told the
    index: left alone it prefers (unit, status, created) and sorts every open case.
    """
    direction = "-" if least_urgent_first else ""
    ordering = [f"{direction}resolve_due_at", f"{direction}id"] if has_due else [f"{direction}id"]
    vendor = connections[cases.db].vendor
    if vendor == "postgresql" and source.units is not None and has_due:
        units_sql, units_params = _compiled(source.units)
        inner = cases.filter(unit_id=RawSQL("reach.unit_id", ()))
        sql, params = _compiled(inner.order_by(*ordering).values("id", "resolve_due_at")[:wanted])
        sort = "DESC" if least_urgent_first else "ASC"
        return (
            "SELECT merged.id, merged.resolve_due_at"  # noqa: S608 (compiled by the ORM)
            f" FROM ({units_sql}) AS reach(unit_id)"
            f" CROSS JOIN LATERAL ({sql}) AS merged"
            f" ORDER BY merged.resolve_due_at {sort}, merged.id {sort} LIMIT {int(wanted)}",
            [*units_params, *params],
        )
    listed = cases.filter(source.condition).order_by(*ordering).values("id", "resolve_due_at")
    sql, params = _compiled(listed[:wanted])
    hint = source.closed_hint if closed else source.open_hint
    if vendor == "sqlite" and hint:
        table = connections[cases.db].ops.quote_name(Case._meta.db_table)
        sql = sql.replace(f"FROM {table}", f"FROM {table} {hint}", 1)
    return sql, list(params)


def _compiled(cases: QuerySet[Case]) -> tuple[str, tuple[object, ...]]:
    return cases.query.get_compiler(using=cases.db).as_sql()


def count_by_display_status(
    user: User, tab: InboxTab, now: datetime, *, cap: int | None = None
) -> dict[str, int]:
    """Counts for the inbox's status chips, in one query.

    What a user sees is split into parts that do not overlap (the cases of their units, then
    the ones they own elsewhere, then the ones they watch elsewhere), each counted off its own
    index: counting ``owner OR watched OR unit`` at once reads every case of the table.

    With ``cap``, each chip stops counting after ``cap`` cases and a count above ``cap`` means
    "more than that": an exact count of a region's closed cases reads hundreds of thousands of
    index entries, a capped one a bounded few, whatever the size of the region.
    """
    if tab in (InboxTab.OVERDUE, InboxTab.ALL) and user.is_active and not user.is_superuser:
        in_units = Q(unit_id__in=units_reachable_by(user).values("pk"))
        watched = _watched_by(user)
        parts = [
            Case.objects.filter(in_units),
            Case.objects.filter(owner=user).exclude(in_units),
            Case.objects.filter(watched).exclude(owner=user).exclude(in_units),
        ]
    else:
        parts = [_by_tab(user, tab)]
    if cap is not None:
        return _capped_chip_counts(parts, now, cap)
    counted = [_chip_counts(part, now) for part in parts]
    rows = counted[0].union(*counted[1:], all=True) if len(counted) > 1 else counted[0]
    totals = dict.fromkeys(CHIPS, 0)
    for row in rows:
        for chip in CHIPS:
            totals[chip] += row[chip]
    return totals


CHIPS = ("new", "in_progress", "overdue", "closed")


def _chip_conditions(now: datetime) -> dict[str, Q]:
    is_open = Q(status__in_constants=OPEN_STATUSES)
    late = is_open & Q(resolve_due_at__lte=now)
    return {
        "new": Q(status=Status.NEW) & ~late,
        "in_progress": Q(status=Status.IN_PROGRESS) & ~late,
        "overdue": late,
        "closed": Q(status=Status.CLOSED),
    }


def _capped_chip_counts(parts: list[QuerySet[Case]], now: datetime, cap: int) -> dict[str, int]:
    # One statement of LIMITed counts, one per chip and part: ``COUNT(*) FROM (… LIMIT n)``
    # stops reading the index after n entries, where an aggregate with filters reads them all.
    # Django cannot put a sliced queryset into a UNION on SQLite, hence the SQL put together
    # here from the querysets' own SQL and parameters.
    selects: list[str] = []
    params: list[object] = []
    labels: list[str] = []
    for chip, condition in _chip_conditions(now).items():
        for part in parts:
            limited = part.filter(condition).order_by().values("pk")[: cap + 1]
            sql, sql_params = limited.query.sql_with_params()
            # The SQL is Django's own for the queryset, its values stay parameters.
            selects.append(f"SELECT {len(labels)}, COUNT(*) FROM ({sql}) chip_part")  # noqa: S608
            params.extend(sql_params)
            labels.append(chip)
    totals = dict.fromkeys(CHIPS, 0)
    with connections[Case.objects.db].cursor() as cursor:
        cursor.execute(" UNION ALL ".join(selects), params)
        for label, count in cursor.fetchall():
            totals[labels[label]] += count
    return {chip: min(count, cap + 1) for chip, count in totals.items()}


def _watched_by(user: User) -> Q | RawSQL:
    """The cases ``user`` watches, for a count. PostgreSQL gets ``id = ANY(ARRAY(…))``, so the
    watcher rows are read first, off ``watcher_by_user``: as a semi-join inside a LIMITed
    count its planner chose a parallel scan of every watcher row, 10 ms a chip at 1,000,000
    cases."""
    watcher_rows = CaseWatcher.objects.filter(user=user).values("case_id")
    sql, params = watcher_rows.query.sql_with_params()
    return _among(sql, list(params))


def _chip_counts(cases: QuerySet[Case], now: datetime) -> QuerySet[Case]:
    """One row: ``cases`` counted by display status."""
    return (
        cases.order_by()
        .annotate(everything=Value(1))
        .values("everything")
        .annotate(
            **{
                chip: Count("pk", filter=condition)
                for chip, condition in _chip_conditions(now).items()
            }
        )
        .values(*CHIPS)
    )
