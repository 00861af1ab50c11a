"""The benchmark data set looks like what the case services produce, and the inbox scenario
measures what it claims to. Nothing here is timed: timings belong in ``python -m bench``."""

import io
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import transaction
from django.db.models import Count
from rich.console import Console

# bench/ sits beside src/ and is not part of the installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.generate import REFERENCE_NOW, Dataset, generate
from bench.harness import Context
from bench.scenarios import SCENARIOS
from bench.scenarios.inbox import mine_page, next_page
from caseloop.cases.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    CaseWatcher,
    EventKind,
    Status,
)
from caseloop.cases.queries import InboxFilters, InboxTab, inbox_cases, inbox_page
from caseloop.customers.models import Customer, Interaction
from caseloop.customers.services import normalize_email, normalize_phone
from caseloop.org.models import User

SIZE = 2_400


@pytest.fixture(scope="module")
def generated(django_db_setup: None, django_db_blocker: object) -> Iterator[None]:
    """One small data set for the whole module, rolled back at its end."""
    with django_db_blocker.unblock(), transaction.atomic():  # type: ignore[attr-defined]
        generate(SIZE)
        yield
        transaction.set_rollback(True)


pytestmark = pytest.mark.usefixtures("generated")


@pytest.mark.django_db
def test_generates_exactly_the_requested_number_of_cases() -> None:
    assert Case.objects.count() == SIZE


@pytest.mark.django_db
def test_a_quarter_of_cases_are_new_a_quarter_in_progress_and_half_closed() -> None:
    shares = {
        status: count / SIZE
        for status, count in Case.objects.values_list("status").annotate(Count("id"))
    }
    assert shares[Status.NEW] == pytest.approx(0.25, abs=0.04)
    assert shares[Status.IN_PROGRESS] == pytest.approx(0.25, abs=0.04)
    assert shares[Status.CLOSED] == pytest.approx(0.5, abs=0.04)


@pytest.mark.django_db
def test_generated_customers_have_about_a_third_as_many_rows_as_cases() -> None:
    assert Customer.objects.count() == SIZE // 3


@pytest.mark.django_db
def test_closed_cases_carry_closing_status_and_root_causes_of_their_own_program() -> None:
    for case in Case.objects.filter(status=Status.CLOSED).prefetch_related("root_causes"):
        causes = list(case.root_causes.all())
        assert case.closed_at is not None and case.final_note
        assert case.closing_status.program_id == case.program_id
        assert causes and all(cause.program_id == case.program_id for cause in causes)


@pytest.mark.django_db
def test_closed_cases_are_marked_overdue_exactly_when_closed_after_the_resolve_deadline() -> None:
    for case in Case.objects.filter(status=Status.CLOSED):
        assert case.was_overdue == (case.closed_at > case.resolve_due_at)


@pytest.mark.django_db
def test_open_cases_have_no_closing_fields_and_wait_for_their_earlier_deadline() -> None:
    for case in Case.objects.filter(status__in=OPEN_STATUSES):
        assert case.closed_at is None and case.closing_status_id is None and not case.final_note
        assert case.next_deadline_at == min(case.start_due_at, case.resolve_due_at)


@pytest.mark.django_db
def test_every_case_has_both_deadlines_after_it_was_opened() -> None:
    assert not Case.objects.filter(start_due_at__isnull=True).exists()
    for case in Case.objects.all():
        assert case.created_at < case.start_due_at <= case.resolve_due_at


@pytest.mark.django_db
def test_some_open_cases_are_overdue_and_some_are_not() -> None:
    open_cases = Case.objects.filter(status__in=OPEN_STATUSES)
    overdue = open_cases.filter(resolve_due_at__lt=REFERENCE_NOW).count()
    assert 0.1 < overdue / open_cases.count() < 0.9


@pytest.mark.django_db
def test_case_ids_grow_with_the_time_cases_were_opened() -> None:
    opened = list(Case.objects.order_by("id").values_list("created_at", flat=True))
    assert opened == sorted(opened)


@pytest.mark.django_db
def test_generated_cases_pass_model_validation_including_check_constraints() -> None:
    for case in Case.objects.order_by("id")[::12]:
        case.full_clean()


@pytest.mark.django_db
def test_customer_contact_details_are_stored_normalised() -> None:
    for customer in Customer.objects.all()[::5]:
        assert normalize_phone(customer.phone) == customer.phone
        assert normalize_email(customer.email) == customer.email


@pytest.mark.django_db
def test_cases_of_customers_without_contact_details_need_contact_info() -> None:
    for case in Case.objects.select_related("customer"):
        assert case.needs_contact_info == (not case.customer.has_contact)


@pytest.mark.django_db
def test_every_case_opens_with_a_created_event_naming_its_owner_and_watchers() -> None:
    created = {e.case_id: e for e in CaseEvent.objects.filter(kind=EventKind.CREATED)}
    watchers: dict[int, list[int]] = {}
    for case_id, user_id in CaseWatcher.objects.values_list("case_id", "user_id"):
        watchers.setdefault(case_id, []).append(user_id)
    assert len(created) == SIZE
    for case in Case.objects.all():
        data = created[case.pk].data
        assert data["owner"] == case.owner_id
        assert data["watchers"] == watchers.get(case.pk, [])


@pytest.mark.django_db
def test_the_store_manager_watches_with_full_access_the_cases_others_own() -> None:
    cases = Case.objects.select_related("unit").filter(unit__manager__isnull=False)
    watchers = {w.case_id: w for w in CaseWatcher.objects.all()}
    assert cases.exists()
    for case in cases:
        if case.owner_id == case.unit.manager_id:
            assert case.pk not in watchers
        else:
            assert watchers[case.pk].user_id == case.unit.manager_id
            assert watchers[case.pk].access == "full"
    assert 0 < CaseWatcher.objects.count() < SIZE


@pytest.mark.django_db
def test_started_cases_record_the_owners_first_activity_on_the_customer_timeline() -> None:
    started = {e.case_id: e for e in CaseEvent.objects.filter(kind=EventKind.STARTED)}
    timeline = {i.case_id: i for i in Interaction.objects.filter(case__isnull=False)}
    for case in Case.objects.exclude(status=Status.NEW):
        assert started[case.pk].actor_id == case.owner_id
        assert started[case.pk].created_at == case.first_activity_at
        if case.pk in timeline:
            assert timeline[case.pk].agent_id == case.owner_id
    assert not Case.objects.filter(status=Status.NEW, first_activity_at__isnull=False).exists()


@pytest.mark.django_db
def test_case_versions_count_the_changes_the_services_would_have_made() -> None:
    versions = Counter(Case.objects.values_list("status", "version"))
    assert set(versions) <= {
        (Status.NEW, 1),
        (Status.IN_PROGRESS, 2),
        (Status.CLOSED, 2),  # closed straight from New: started and closed in one save
        (Status.CLOSED, 3),
    }


@pytest.mark.django_db
def test_case_volume_is_skewed_across_stores() -> None:
    per_store = sorted(Case.objects.values_list("unit").annotate(n=Count("id")).values_list("n"))
    busiest, median = per_store[-1][0], per_store[len(per_store) // 2][0]
    assert busiest > 2 * median


def _heaviest_owner() -> User:
    owner_id = (
        Case.objects.filter(status__in=OPEN_STATUSES)
        .values_list("owner")
        .annotate(n=Count("id"))
        .order_by("-n")[0][0]
    )
    return User.objects.get(pk=owner_id)


@pytest.mark.django_db
def test_next_page_continues_exactly_where_the_first_page_ended() -> None:
    owner = _heaviest_owner()
    everything = list(inbox_cases(owner, InboxFilters(tab=InboxTab.MINE), REFERENCE_NOW))
    first = mine_page(owner, REFERENCE_NOW)
    second = next_page(owner, REFERENCE_NOW, (first[-1].resolve_due_at, first[-1].pk))
    assert len(everything) > 100
    assert first + second == everything[:100]


@pytest.mark.django_db
def test_the_keyset_condition_breaks_ties_on_the_deadline_by_id() -> None:
    owner = _heaviest_owner()
    cases = inbox_cases(owner, InboxFilters(tab=InboxTab.MINE), REFERENCE_NOW)
    pivot = cases[10]
    mine = InboxFilters(tab=InboxTab.MINE)
    later = inbox_page(
        owner, mine, REFERENCE_NOW, limit=1, after=(pivot.resolve_due_at, pivot.pk - 1)
    )
    assert later == [pivot]


@pytest.mark.django_db
def test_inbox_scenario_reports_latencies_baseline_query_counts_and_plans() -> None:
    dataset = Dataset(SIZE, 1, REFERENCE_NOW, generated=True, seconds=0.0, db_bytes=0)
    console = Console(file=io.StringIO())
    context = Context(dataset=dataset, console=console, database="any", quick=True)
    report = SCENARIOS["inbox"](context)
    for view in ("mine", "page2", "units"):
        assert report.figures[f"{view}_p95"].target == "< 30"
        assert isinstance(report.figures[f"{view}_plan_uses_index"].value, bool)
    assert report.figures["mine_vs_bare"].value > 0
    assert report.figures["units_vs_bare"].value > 0
    assert report.figures["mine_queries_per_page"].verdict() is True
    assert report.figures["units_queries_per_page"].verdict() is True
    assert "cases_case" in str(report.notes["plan_mine"])
