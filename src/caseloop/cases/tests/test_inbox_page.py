"""Inbox pages read through the partial indexes list exactly the cases of the plain query, in
the same order on both databases, whatever the tab, filter, page size or way of paging (#3)."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from pytest_django import DjangoAssertNumQueries

from caseloop.cases import services
from caseloop.cases.models import Case, DisplayStatus, WatcherAccess
from caseloop.cases.queries import (
    InboxFilters,
    InboxTab,
    count_by_display_status,
    inbox_cases,
    inbox_page,
    inbox_page_query,
    inbox_rows,
    visible_cases,
)
from caseloop.cases.tests.factories import make_case
from caseloop.conftest import Cast
from caseloop.customers.models import Customer
from caseloop.org.models import Unit, User
from caseloop.org.queries import units_reachable_by
from caseloop.org.tests.factories import make_unit
from caseloop.programs.models import Program
from caseloop.programs.tests.factories import make_program

pytestmark = pytest.mark.django_db


@dataclass
class Inbox:
    """The cast's organisation with cases spread over it: a kiosk below the store, a second
    store in the region, another region the manager does not reach."""

    cast: Cast
    kiosk: Unit
    store_b: Unit
    other_program: Program
    now: datetime

    @property
    def manager(self) -> User:
        return self.cast.manager


def _close(case: Case, actor: User, at: datetime) -> None:
    services.close_case(
        case,
        actor=actor,
        closing_status_id=case.program.closing_statuses.get(code="resolved").pk,
        root_cause_ids=[case.program.root_causes.first().pk],
        final_note="Refunded",
        now=at,
    )


@pytest.fixture
def inbox(cast: Cast, now: datetime) -> Inbox:
    kiosk = make_unit(parent=cast.store)
    store_b = make_unit(parent=cast.region)
    other_program = make_program()
    units = [cast.store, kiosk, store_b, cast.other_store]
    for n in range(24):
        # Three cases opened at each instant: equal deadlines, the id breaks the tie.
        opened = now - timedelta(days=n // 3 % 6, hours=n // 3)
        program = other_program if n % 5 == 0 else cast.program
        case = make_case(program=program, unit=units[n % 4], now=opened)
        actor = case.owner or cast.admin
        if n % 7 == 1:
            services.add_note(case, actor=actor, body="Called", now=opened)
        if n % 6 == 2:
            _close(case, actor, opened + timedelta(hours=1))
    # No service leaves a case without a deadline, but the column allows it and the databases
    # keep NULL at opposite ends of an index.
    ids = Case.objects.filter(unit__in=units).order_by("id").values_list("pk", flat=True)
    Case.objects.filter(pk__in=list(ids[1:20:4])).update(resolve_due_at=None)
    # The manager also owns a case and watches another, both in the region they do not reach.
    make_case(program=cast.program, unit=cast.other_store, owner=cast.manager, now=now)
    watched = make_case(program=cast.program, unit=cast.other_store, now=now - timedelta(days=9))
    services.add_watcher(watched, actor=None, user=cast.manager, access=WatcherAccess.FULL, now=now)
    return Inbox(cast, kiosk, store_b, other_program, now + timedelta(days=2))


def _key(case: Case) -> tuple[bool, datetime | None, int]:
    return (case.resolve_due_at is None, case.resolve_due_at, case.pk)


def _reference(user: User, filters: InboxFilters, now: datetime) -> list[int]:
    """The plain query's cases, ordered here: deadline first, none last, then id."""
    return [case.pk for case in sorted(inbox_cases(user, filters, now), key=_key)]


def _by_offset(page: Callable[..., list[Case]], size: int) -> list[int]:
    seen: list[int] = []
    for number in range(100):
        rows = page(offset=number * size)
        seen += [case.pk for case in rows]
        if len(rows) < size:
            return seen
    raise AssertionError("paging did not end")


def _by_key(page: Callable[..., list[Case]], size: int) -> list[int]:
    """Pages as the API reads them: each after the (resolve_due_at, id) of the last case."""
    seen: list[int] = []
    after = None
    for _ in range(100):
        rows = page(after=after)
        seen += [case.pk for case in rows]
        if len(rows) < size:
            return seen
        after = (rows[-1].resolve_due_at, rows[-1].pk)
    raise AssertionError("paging did not end")


FILTERS: list[Callable[[Inbox], InboxFilters]] = [
    lambda i: InboxFilters(tab=InboxTab.UNITS),
    lambda i: InboxFilters(tab=InboxTab.UNITS, status=DisplayStatus.NEW),
    lambda i: InboxFilters(tab=InboxTab.UNITS, status=DisplayStatus.IN_PROGRESS),
    lambda i: InboxFilters(tab=InboxTab.UNITS, status=DisplayStatus.OVERDUE),
    lambda i: InboxFilters(tab=InboxTab.UNITS, status=DisplayStatus.CLOSED),
    lambda i: InboxFilters(tab=InboxTab.UNITS, program_id=i.other_program.pk),
    lambda i: InboxFilters(tab=InboxTab.UNITS, case_type_id=i.cast.program.case_types.first().pk),
    lambda i: InboxFilters(tab=InboxTab.UNITS, unit_id=i.cast.store.pk),
    lambda i: InboxFilters(tab=InboxTab.UNITS, unit_id=i.cast.other_store.pk),
    lambda i: InboxFilters(
        tab=InboxTab.UNITS, due_after=i.now - timedelta(days=2), due_before=i.now
    ),
    lambda i: InboxFilters(tab=InboxTab.OVERDUE),
    lambda i: InboxFilters(tab=InboxTab.ALL),
    lambda i: InboxFilters(tab=InboxTab.ALL, status=DisplayStatus.CLOSED),
    lambda i: InboxFilters(tab=InboxTab.MINE),
    lambda i: InboxFilters(tab=InboxTab.WATCHING),
]


@pytest.mark.parametrize("size", [1, 4, 50])
@pytest.mark.parametrize("make_filters", FILTERS)
def test_pages_list_the_plain_querys_cases_in_inbox_order(
    inbox: Inbox, make_filters: Callable[[Inbox], InboxFilters], size: int
) -> None:
    filters = make_filters(inbox)
    expected = _reference(inbox.manager, filters, inbox.now)

    def page(**paging: object) -> list[Case]:
        return inbox_page(inbox.manager, filters, inbox.now, limit=size, **paging)  # type: ignore[arg-type]

    assert (_by_offset(page, size), _by_key(page, size)) == (expected, expected)


@pytest.mark.parametrize("make_filters", FILTERS[:5])
def test_least_urgent_first_is_the_exact_reverse(
    inbox: Inbox, make_filters: Callable[[Inbox], InboxFilters]
) -> None:
    filters = make_filters(inbox)
    expected = _reference(inbox.manager, filters, inbox.now)[::-1]
    pages = [
        inbox_page(
            inbox.manager, filters, inbox.now, limit=3, offset=offset, least_urgent_first=True
        )
        for offset in range(0, len(expected) + 3, 3)
    ]
    assert [case.pk for rows in pages for case in rows] == expected


@pytest.mark.parametrize("make_filters", FILTERS[:5])
def test_inbox_rows_show_the_pages_cases_as_their_pages_name_them(
    inbox: Inbox, make_filters: Callable[[Inbox], InboxFilters]
) -> None:
    filters = make_filters(inbox)
    # Customers named by their email, by their phone, and an unassigned case, among the rows.
    listed = inbox_page(inbox.manager, filters, inbox.now, limit=50)
    Customer.objects.filter(pk=listed[0].customer_id).update(name="")
    Customer.objects.filter(pk=listed[-1].customer_id).update(name="", email="")
    Case.objects.filter(pk=listed[len(listed) // 2].pk).update(owner=None)
    cases = inbox_page(inbox.manager, filters, inbox.now, limit=50)
    rows = inbox_rows(inbox.manager, filters, inbox.now, limit=50)
    assert {"", str(cases[-1].customer.phone)} <= {row.owner for row in rows} | {
        row.customer for row in rows
    }
    assert [
        (
            row.pk,
            row.number,
            row.subject,
            row.customer,
            row.case_type,
            row.unit,
            row.owner,
            row.is_open,
            row.display_status(inbox.now),
            row.resolve_due_at,
            row.closed_at,
        )
        for row in rows
    ] == [
        (
            case.pk,
            case.number,
            case.subject,
            str(case.customer),
            case.case_type.name,
            case.unit.name,
            str(case.owner) if case.owner else "",
            case.is_open,
            case.display_status(inbox.now),
            case.resolve_due_at,
            case.closed_at,
        )
        for case in cases
    ]


def test_units_tab_fixture_mixes_what_the_order_must_handle(inbox: Inbox) -> None:
    # Guards the test above: ties, missing deadlines, closed and other-program cases all occur.
    cases = list(inbox_cases(inbox.manager, InboxFilters(tab=InboxTab.ALL), inbox.now))
    dues = [case.resolve_due_at for case in cases if case.resolve_due_at is not None]
    assert len(dues) > len(set(dues))
    assert any(case.resolve_due_at is None for case in cases)
    assert Case.objects.filter(status="closed", unit=inbox.store_b).exists()
    assert Case.objects.filter(program=inbox.other_program, unit=inbox.kiosk).exists()


def test_cases_without_a_deadline_come_last_on_every_database(inbox: Inbox) -> None:
    rows = inbox_page(inbox.manager, InboxFilters(tab=InboxTab.UNITS), inbox.now, limit=100)
    missing = [case.resolve_due_at is None for case in rows]
    assert missing == sorted(missing)
    assert missing[-1] is True


def test_units_tab_never_shows_a_unit_out_of_reach(inbox: Inbox) -> None:
    rows = inbox_page(inbox.manager, InboxFilters(tab=InboxTab.UNITS), inbox.now, limit=100)
    assert rows
    assert inbox.cast.other_store.pk not in {case.unit_id for case in rows}
    outsider = inbox_page(
        inbox.cast.outsider, InboxFilters(tab=InboxTab.UNITS), inbox.now, limit=100
    )
    assert {case.unit_id for case in outsider} == {inbox.cast.other_store.pk}


def test_a_page_is_one_query_whatever_its_size(
    inbox: Inbox, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    for size in (1, 10, 100):
        with django_assert_num_queries(1):
            inbox_page(inbox.manager, InboxFilters(tab=InboxTab.OVERDUE), inbox.now, limit=size)


def test_no_rows_wanted_reads_nothing(inbox: Inbox) -> None:
    assert inbox_page(inbox.manager, InboxFilters(tab=InboxTab.UNITS), inbox.now, limit=0) == []


def test_units_page_reads_a_page_per_unit_not_every_open_case(cast: Cast, now: datetime) -> None:
    """What a page costs, counted deterministically (unlike time): in SQLite virtual-machine
    steps, in the rows PostgreSQL's plan actually read from the cases table. A store with ten
    times more open cases must not make the first page ten times dearer."""
    quiet = make_unit(parent=cast.region)
    busy = make_unit(parent=cast.region)
    for n in range(12):
        make_case(program=cast.program, unit=quiet, now=now - timedelta(hours=n))

    def cost() -> int:
        if connection.vendor == "postgresql":
            return _case_rows_read(cast.manager, now)
        count = 0

        def tick() -> int:
            nonlocal count
            count += 1
            return 0

        raw = connection.connection
        raw.set_progress_handler(tick, 1)
        try:
            inbox_page(cast.manager, InboxFilters(tab=InboxTab.UNITS), now, limit=5)
        finally:
            raw.set_progress_handler(None, 1)
        return count

    for n in range(12):
        make_case(program=cast.program, unit=busy, now=now - timedelta(hours=n))
    few = cost()
    for n in range(12, 150):
        make_case(program=cast.program, unit=busy, now=now - timedelta(hours=n))
    many = cost()
    assert many < few * 1.5


@pytest.mark.parametrize("tab", list(InboxTab))
@pytest.mark.parametrize("role", ["manager", "owner", "outsider", "admin"])
def test_chip_counts_count_each_visible_case_once(inbox: Inbox, tab: InboxTab, role: str) -> None:
    user = inbox.cast.user(role)
    # A case the manager watches also sits in a unit they reach; another owned by the outsider.
    services.add_watcher(inbox.cast.case, actor=None, user=inbox.manager)
    outsiders = make_case(program=inbox.cast.program, unit=inbox.store_b, owner=inbox.cast.outsider)
    services.add_watcher(outsiders, actor=None, user=inbox.manager)
    shown = {
        InboxTab.MINE: Case.objects.filter(owner=user),
        InboxTab.WATCHING: Case.objects.filter(watchers__user=user),
        InboxTab.UNITS: Case.objects.filter(unit__in=units_reachable_by(user)),
    }.get(tab, visible_cases(user))
    expected = dict.fromkeys(["new", "in_progress", "overdue", "closed"], 0)
    for case in set(shown):
        expected[case.display_status(inbox.now)] += 1
    assert count_by_display_status(user, tab, inbox.now) == expected


@pytest.mark.parametrize("cap", [0, 1, 2, 1000])
@pytest.mark.parametrize("tab", [InboxTab.UNITS, InboxTab.OVERDUE, InboxTab.ALL])
def test_capped_chip_counts_are_exact_up_to_the_cap_and_one_more_beyond(
    inbox: Inbox, tab: InboxTab, cap: int
) -> None:
    services.add_watcher(inbox.cast.case, actor=None, user=inbox.manager)
    outsiders = make_case(program=inbox.cast.program, unit=inbox.store_b, owner=inbox.cast.outsider)
    services.add_watcher(outsiders, actor=None, user=inbox.manager)
    exact = count_by_display_status(inbox.manager, tab, inbox.now)
    assert any(count > 2 for count in exact.values()), "the data must exceed the small caps"

    capped = count_by_display_status(inbox.manager, tab, inbox.now, cap=cap)

    assert capped == {chip: min(count, cap + 1) for chip, count in exact.items()}


def _case_rows_read(user: User, now: datetime) -> int:
    """Rows PostgreSQL read from the cases table and its indexes for one units page, from the
    executed plan (``EXPLAIN ANALYZE``): each node's actual rows times its loops."""
    page = inbox_page_query(user, InboxFilters(tab=InboxTab.UNITS), now, limit=5)
    with connection.cursor() as cursor:
        # Tiny test tables would make any planner prefer a full scan.
        cursor.execute("SET LOCAL enable_seqscan = off")
        [plan] = json.loads(page.explain(format="json", analyze=True))

    def rows(node: dict[str, Any]) -> int:
        own = 0
        if node.get("Relation Name") == "cases_case" or "case" in node.get("Index Name", ""):
            own = int(node["Actual Rows"]) * int(node["Actual Loops"])
        return own + sum(rows(child) for child in node.get("Plans", []))

    return rows(plan["Plan"])
