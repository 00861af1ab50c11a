"""Inbox pages read the partial indexes of open (and closed) cases by owner and by unit, on
both databases."""

from datetime import datetime

import pytest
from django.db import connection

from caseloop.cases.models import Case, DisplayStatus
from caseloop.cases.queries import InboxFilters, InboxTab, inbox_page_query
from caseloop.conftest import Cast
from caseloop.org.models import User

pytestmark = pytest.mark.django_db


def test_my_open_cases_use_the_owner_due_partial_index(cast: Cast, now: datetime) -> None:
    page = inbox_page_query(cast.owner, InboxFilters(), now, limit=50)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Tiny test tables would make any planner prefer a full scan.
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = page.explain()
    assert "case_open_by_owner_due" in plan


def test_in_constants_refuses_anything_but_code_constants(cast: Cast) -> None:
    with pytest.raises(ValueError, match="lower_snake"):
        list(Case.objects.filter(status__in_constants=["new'; drop table x; --"]))


def _page_plan(user: User, filters: InboxFilters, now: datetime) -> list[str]:
    page = inbox_page_query(user, filters, now, limit=50)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
        return page.explain().splitlines()


def _case_reads(plan: list[str]) -> list[str]:
    """The plan's reads of the cases table (SQLite ``SEARCH``/``SCAN``, PostgreSQL scans)."""
    if connection.vendor == "postgresql":
        # A bitmap heap scan fetches rows for the bitmap index scan listed under it.
        return [line for line in plan if " on cases_case" in line and "Heap Scan" not in line]
    return [line for line in plan if "cases_case" in line and ("SEARCH" in line or "SCAN" in line)]


@pytest.mark.parametrize("status", [None, DisplayStatus.NEW, DisplayStatus.OVERDUE])
def test_my_units_reads_each_unit_off_the_open_cases_partial_index(
    cast: Cast, now: datetime, status: DisplayStatus | None
) -> None:
    plan = _page_plan(cast.manager, InboxFilters(tab=InboxTab.UNITS, status=status), now)
    reads = _case_reads(plan)
    by_index = [line for line in reads if "case_open_by_unit_due" in line]
    # Every other read of the table fetches the page's own candidates by primary key.
    others = [line for line in reads if line not in by_index]
    assert by_index
    assert all("PRIMARY KEY" in line or "cases_case_pkey" in line for line in others)
    if connection.vendor == "postgresql":
        # One LIMITed index scan per unit: the merge never reads a unit past a page. (Cases
        # without a deadline are read apart, by the index's NULL entries.)
        per_unit = [
            n for n, line in enumerate(plan[:-1]) if line in by_index and "unit_id =" in plan[n + 1]
        ]
        assert per_unit
        assert all("Limit" in plan[n - 1] for n in per_unit)
    else:
        # SQLite walks the units of ``unit_id IN (…)`` in the index's order; its LIMIT sorter
        # leaves each unit at the first row that cannot make the page.
        assert all("(unit_id=?" in line for line in by_index)


def test_my_units_closed_reads_the_closed_cases_partial_index(cast: Cast, now: datetime) -> None:
    filters = InboxFilters(tab=InboxTab.UNITS, status=DisplayStatus.CLOSED)
    reads = _case_reads(_page_plan(cast.manager, filters, now))
    assert any("case_closed_by_unit_due" in line for line in reads)
    assert not any("case_unit_status" in line for line in reads)


def test_overdue_tab_reads_owner_watcher_and_unit_indexes(cast: Cast, now: datetime) -> None:
    plan = "\n".join(_page_plan(cast.manager, InboxFilters(tab=InboxTab.OVERDUE), now))
    assert "case_open_by_unit_due" in plan
    if connection.vendor == "sqlite":
        # SQLite is told these indexes; PostgreSQL's planner picks among its own on tiny tables.
        assert "case_open_by_owner_due" in plan
        assert "watcher_by_user" in plan
