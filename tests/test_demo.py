"""The demo data: generated from a fixed seed, loaded through the services, loaded once.

A small demo is loaded into the test database (SQLite and PostgreSQL); ``test_demo_command``
runs the real ``caseloop demo`` against a fresh data directory.
"""

import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.contrib.auth import authenticate
from django.db import transaction
from pytest_django import DjangoDbBlocker

from caseloop.cases.models import Case, CaseEvent, CaseWatcher, EventKind, Status, WatcherAccess
from caseloop.cases.queries import Access, InboxTab, access_of, count_by_display_status
from caseloop.demo.catalogue import DEMO_PASSWORD, LIMITED_WATCHER
from caseloop.demo.loader import DemoLoad, load_demo, users_per_role
from caseloop.demo.plan import build_plan
from caseloop.org.models import Role, User

# A Wednesday morning: business-day deadlines of the small demo fall the same way every run.
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SMALL = {"customers": 80, "cases": 150}


@pytest.fixture(scope="module")
def small_demo_once(
    django_db_setup: None, django_db_blocker: DjangoDbBlocker
) -> Iterator[DemoLoad]:
    """One small demo for the whole module, in a transaction rolled back at the module's end;
    each test runs in a savepoint inside it."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield load_demo(now=NOW, **SMALL)
        transaction.set_rollback(True)


@pytest.fixture
def small_demo(small_demo_once: DemoLoad, db: None) -> DemoLoad:
    return small_demo_once


# --- the plan ---------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_plan() -> None:
    assert build_plan(now=NOW, seed=7, **SMALL) == build_plan(now=NOW, seed=7, **SMALL)


def test_another_seed_gives_another_plan() -> None:
    assert build_plan(now=NOW, seed=7, **SMALL) != build_plan(now=NOW, seed=8, **SMALL)


def test_planning_leaves_the_global_random_generator_alone() -> None:
    random.seed(1)
    expected = random.random()
    random.seed(1)

    build_plan(now=NOW, **SMALL)

    assert random.random() == expected


def test_nothing_in_the_plan_happens_after_now() -> None:
    plan = build_plan(now=NOW, **SMALL)

    latest = max(step.at for case in plan.cases for step in case.steps)

    assert latest < NOW


# --- loading into the test database -----------------------------------------------------------


def test_the_demo_has_cases_in_every_display_status(small_demo: DemoLoad) -> None:
    admin = User.objects.get(username="admin")

    counts = count_by_display_status(admin, InboxTab.ALL, NOW)

    assert all(counts[status] > 0 for status in ("new", "in_progress", "overdue", "closed"))
    assert sum(counts.values()) == SMALL["cases"]


def test_the_demo_has_users_in_every_role(small_demo: DemoLoad) -> None:
    assert users_per_role() == {Role.ADMIN: 1, Role.MANAGER: 5, Role.AGENT: 15, Role.VIEWER: 1}
    assert list(User.objects.filter(is_superuser=True).values_list("username", flat=True)) == [
        "admin"
    ]


def test_loading_the_demo_twice_adds_nothing(small_demo: DemoLoad) -> None:
    cases, events = Case.objects.count(), CaseEvent.objects.count()

    second = load_demo(now=NOW, **SMALL)

    assert not second.loaded
    assert (Case.objects.count(), CaseEvent.objects.count()) == (cases, events)


def test_demo_users_log_in_with_the_demo_password(small_demo: DemoLoad) -> None:
    assert authenticate(username="olivia", password=DEMO_PASSWORD) is not None
    assert User.objects.values("password").distinct().count() == 1


def test_every_demo_case_was_opened_through_the_service(small_demo: DemoLoad) -> None:
    opened = CaseEvent.objects.filter(kind=EventKind.CREATED).values("case").distinct().count()

    assert opened == Case.objects.count()


def test_closed_demo_cases_carry_a_closing_status_and_root_causes(small_demo: DemoLoad) -> None:
    closed = Case.objects.filter(status=Status.CLOSED)

    assert closed.exists()
    assert not closed.filter(closing_status=None).exists()
    assert not closed.filter(root_causes=None).exists()


def test_worked_demo_cases_record_when_work_started(small_demo: DemoLoad) -> None:
    worked = Case.objects.exclude(status=Status.NEW)

    assert worked.exists()
    assert not worked.filter(first_activity_at=None).exists()


def test_the_limited_watcher_may_only_read_the_cases_she_watches(small_demo: DemoLoad) -> None:
    lara = User.objects.get(username=LIMITED_WATCHER)
    watches = CaseWatcher.objects.filter(user=lara).select_related("case__unit")

    assert watches.exists()
    assert {w.access for w in watches} == {WatcherAccess.LIMITED}
    assert access_of(lara, watches[0].case) == Access.READ
