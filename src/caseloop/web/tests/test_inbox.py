"""The inbox: tabs, status chips, filters, urgency order, paging, and a fixed query count."""

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoAssertNumQueries
from pytest_django.fixtures import Settings as SettingsWrapper

from caseloop.cases import services
from caseloop.cases.models import Case
from caseloop.cases.tests.factories import make_case
from caseloop.conftest import Cast
from caseloop.customers.tests.factories import make_customer
from caseloop.org.tests.factories import make_unit
from caseloop.programs.tests.factories import make_program

pytestmark = pytest.mark.django_db

Login = Callable[[str], Client]
INBOX = reverse("web:inbox")
CHIPS = reverse("web:inbox_chips")


def rows(client: Client, query: str = "") -> list[str]:
    """The case numbers listed, in order."""
    response = client.get(INBOX + query)
    assert response.status_code == 200
    return [case.number for case in response.context["page"].rows]


def close(cast: Cast, case: Case, now: datetime) -> None:
    services.close_case(
        case,
        actor=cast.owner,
        closing_status_id=cast.program.closing_statuses.get(code="resolved").pk,
        root_cause_ids=[cast.program.root_causes.first().pk],
        final_note="Refunded",
        now=now,
    )


def test_owner_sees_their_case_under_mine(login: Login, cast: Cast) -> None:
    assert rows(login("owner")) == [cast.case.number]


def test_row_shows_number_customer_type_status_owner_and_time_left(
    login: Login, cast: Cast
) -> None:
    html = login("owner").get(INBOX).content.decode()
    for text in (
        cast.case.number,
        cast.case.customer.name,
        "Complaint",
        '<span class="chip chip--new">New</span>',
        str(cast.owner),
        "2d 23h left",  # resolve deadline three business days after opening, an hour later
    ):
        assert text in html


def test_row_links_the_case_and_shows_user_written_text_as_text(
    login: Login, cast: Cast, now: datetime
) -> None:
    customer = make_customer(name="<script>alert(1)</script> & Co")
    case = make_case(
        program=cast.program,
        unit=cast.store,
        owner=cast.owner,
        customer=customer,
        subject='Broken "kettle" <b>again</b>',
        now=now,
    )
    html = login("owner").get(INBOX).content.decode()
    assert f'href="{reverse("web:case", args=[case.pk])}"' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html
    assert "Broken &quot;kettle&quot; &lt;b&gt;again&lt;/b&gt;" in html
    assert "<script>alert(1)" not in html


def test_closed_case_row_shows_the_day_it_closed(login: Login, cast: Cast, clock: datetime) -> None:
    close(cast, cast.case, clock)
    html = login("owner").get(INBOX + "?status=closed").content.decode()
    assert f'<span class="due due--none">Closed {clock:%-d %b}</span>' in html
    assert '<span class="chip chip--closed">Closed</span>' in html


def test_unit_filter_offers_the_units_below_with_the_chosen_one_selected(
    login: Login, cast: Cast
) -> None:
    kiosk = make_unit(parent=cast.store, name="Kiosk <north> & co")
    html = login("manager").get(INBOX + f"?unit={kiosk.pk}").content.decode()
    assert f'<option value="{kiosk.pk}" selected>Kiosk &lt;north&gt; &amp; co</option>' in html
    assert f'<option value="{cast.store.pk}">{cast.store.name}</option>' in html


def test_late_case_shows_how_long_it_is_overdue(client: Client, cast: Cast, now: datetime) -> None:
    with time_machine.travel(now + timedelta(days=4, hours=2), tick=False):
        client.force_login(cast.owner)
        html = client.get(INBOX).content.decode()
    assert '<span class="chip chip--overdue">Overdue</span>' in html
    assert "1d 2h overdue" in html


def test_outsider_sees_no_case_of_another_region(login: Login, cast: Cast) -> None:
    client = login("outsider")
    assert rows(client, "?tab=overdue") == []
    assert cast.case.number not in client.get(INBOX).content.decode()


def test_watcher_finds_the_case_under_watching(login: Login, cast: Cast) -> None:
    assert rows(login("limited_watcher"), "?tab=watching") == [cast.case.number]


def test_agent_gets_no_my_units_tab(login: Login, cast: Cast) -> None:
    html = login("member").get(INBOX).content.decode()
    assert "My units" not in html


def test_manager_lands_on_my_units(login: Login, cast: Cast) -> None:
    response = login("manager").get(INBOX)
    assert response.context["filters"].tab == "units"
    assert [c.number for c in response.context["page"].rows] == [cast.case.number]
    assert 'aria-current="page">My units</a>' in response.content.decode()


def test_overdue_tab_lists_only_late_cases(client: Client, cast: Cast, now: datetime) -> None:
    make_case(program=cast.program, unit=cast.store, now=now + timedelta(days=2))
    with time_machine.travel(now + timedelta(days=4), tick=False):
        client.force_login(cast.owner)
        assert rows(client, "?tab=overdue") == [cast.case.number]


def test_status_chips_count_each_status(login: Login, cast: Cast, clock: datetime) -> None:
    started = make_case(program=cast.program, unit=cast.store, now=clock)
    services.add_note(started, actor=cast.owner, body="Called", now=clock)
    close(cast, make_case(program=cast.program, unit=cast.store, now=clock), clock)
    response = login("owner").get(CHIPS, {"tab": "mine"})
    assert response.context["chips"] == {
        "new": "1",
        "in_progress": "1",
        "overdue": "0",
        "closed": "1",
        "open": "2",
    }
    assert 'Open <span class="count">2</span>' in response.content.decode()


def test_status_chips_stop_counting_at_the_cap(
    login: Login, cast: Cast, clock: datetime, settings: SettingsWrapper
) -> None:
    settings.CASELOOP_INBOX_COUNT_CAP = 2
    for _ in range(3):
        make_case(program=cast.program, unit=cast.store, now=clock)
    close(cast, make_case(program=cast.program, unit=cast.store, now=clock), clock)
    page = login("owner").get(CHIPS, {"tab": "mine"}).content.decode()
    assert 'New <span class="count">2+</span>' in page
    assert 'Open <span class="count">2+</span>' in page
    assert 'Closed <span class="count">1</span>' in page


def test_inbox_asks_for_its_chip_counts_once_it_shows(login: Login, cast: Cast) -> None:
    html = login("manager").get(INBOX + "?status=new&page=2").content.decode()
    chips = f"{CHIPS}?status=new&amp;tab=units"
    assert f'<div id="inbox-chips" hx-get="{chips}" hx-trigger="load"' in html
    assert 'class="count"' not in html
    # The chips link to their views before the counts arrive.
    assert 'href="?status=closed"' in html


def test_chip_counts_come_without_another_request_for_them(login: Login, cast: Cast) -> None:
    html = login("manager").get(CHIPS, {"tab": "units", "status": "new"}).content.decode()
    assert html.lstrip().startswith('<div id="inbox-chips">')
    assert "hx-get" not in html.split("<nav")[0]
    assert 'New <span class="count">1</span></a>' in html
    assert 'href="?tab=units&amp;status=closed"' in html


def test_overdue_tab_chip_counts_the_late_cases_one_sees(
    client: Client, cast: Cast, now: datetime
) -> None:
    make_case(program=cast.program, unit=cast.store, now=now + timedelta(days=2))
    with time_machine.travel(now + timedelta(days=4), tick=False):
        client.force_login(cast.owner)
        html = client.get(CHIPS, {"tab": "overdue"}).content.decode()
    assert 'Overdue <span class="count">1</span>' in html


def test_chip_counts_leave_out_cases_out_of_reach(login: Login, cast: Cast) -> None:
    assert login("outsider").get(CHIPS, {"tab": "units"}).context["chips"]["new"] == "0"
    assert login("manager").get(CHIPS, {"tab": "units"}).context["chips"]["new"] == "1"


def test_chip_counts_need_a_login(client: Client, cast: Cast) -> None:
    response = client.get(CHIPS, {"tab": "units"})
    assert response.status_code == 302
    assert reverse("web:login") in response["Location"]


@pytest.mark.parametrize("tab", ["mine", "units", "overdue"])
def test_chip_counts_are_one_query_after_the_session(
    client: Client, cast: Cast, django_assert_num_queries: DjangoAssertNumQueries, tab: str
) -> None:
    client.force_login(cast.manager)
    # session, user, the counts
    with django_assert_num_queries(3):
        client.get(CHIPS, {"tab": tab})


def test_closed_chip_lists_closed_cases_only(login: Login, cast: Cast, clock: datetime) -> None:
    done = make_case(program=cast.program, unit=cast.store, now=clock)
    close(cast, done, clock)
    assert rows(login("owner"), "?status=closed") == [done.number]


def test_open_view_leaves_closed_cases_out(login: Login, cast: Cast, clock: datetime) -> None:
    close(cast, make_case(program=cast.program, unit=cast.store, now=clock), clock)
    assert rows(login("owner")) == [cast.case.number]


def test_most_urgent_case_comes_first(login: Login, cast: Cast, now: datetime) -> None:
    earlier = make_case(program=cast.program, unit=cast.store, now=now - timedelta(days=3))
    assert rows(login("owner")) == [earlier.number, cast.case.number]


def test_least_urgent_first_reverses_the_order(login: Login, cast: Cast, now: datetime) -> None:
    earlier = make_case(program=cast.program, unit=cast.store, now=now - timedelta(days=3))
    assert rows(login("owner"), "?sort=-due") == [cast.case.number, earlier.number]


def test_program_filter(login: Login, cast: Cast, now: datetime) -> None:
    other = make_program()
    elsewhere = make_case(program=other, unit=cast.store, now=now)
    assert rows(login("owner"), f"?program={other.pk}") == [elsewhere.number]


def test_case_type_filter(login: Login, cast: Cast, now: datetime) -> None:
    other = make_program()
    elsewhere = make_case(program=other, unit=cast.store, now=now)
    type_id = other.case_types.get().pk
    assert rows(login("owner"), f"?case_type={type_id}") == [elsewhere.number]


def test_unit_filter_includes_the_units_below(login: Login, cast: Cast, now: datetime) -> None:
    kiosk = make_unit(parent=cast.store, owner=cast.owner)
    in_kiosk = make_case(program=cast.program, unit=kiosk, now=now)
    client = login("manager")
    assert rows(client, f"?unit={kiosk.pk}") == [in_kiosk.number]
    assert set(rows(client, f"?unit={cast.store.pk}")) == {cast.case.number, in_kiosk.number}


def test_due_range_filter_includes_the_whole_last_day(
    login: Login, cast: Cast, now: datetime
) -> None:
    make_case(program=cast.program, unit=cast.store, now=now + timedelta(days=7))
    due_day = cast.case.resolve_due_at.date().isoformat()
    assert rows(login("owner"), f"?due_after={due_day}&due_before={due_day}") == [cast.case.number]


def test_unreadable_filter_is_ignored(login: Login, cast: Cast) -> None:
    assert rows(login("owner"), "?program=abc&per_page=7&page=99999999999999999999") == [
        cast.case.number
    ]


def test_paging_shows_the_second_page_and_links_onwards(
    login: Login, cast: Cast, now: datetime
) -> None:
    for hours in range(1, 25):
        make_case(program=cast.program, unit=cast.store, now=now + timedelta(hours=hours))
    response = login("owner").get(INBOX + "?per_page=10&page=2")
    page = response.context["page"]
    assert (page.first, page.last, page.has_next) == (11, 20, True)
    html = response.content.decode()
    assert 'rel="next" href="?per_page=10&amp;page=3"' in html
    assert 'rel="prev" href="?per_page=10&amp;page=1"' in html


def test_last_page_has_no_next_link(login: Login, cast: Cast, now: datetime) -> None:
    for hours in range(1, 11):
        make_case(program=cast.program, unit=cast.store, now=now + timedelta(hours=hours))
    response = login("owner").get(INBOX + "?per_page=10&page=2")
    assert response.context["page"].has_next is False
    assert 'rel="next"' not in response.content.decode()


def test_htmx_request_gets_only_the_inbox_part(login: Login, cast: Cast) -> None:
    response = login("owner").get(INBOX + "?status=new", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="inbox"')
    assert "<html" not in html


def test_filter_controls_are_labelled(login: Login, cast: Cast) -> None:
    html = login("manager").get(INBOX).content.decode()
    for control in ("f-program", "f-case-type", "f-unit", "f-due-after", "f-due-before", "f-sort"):
        assert f'<label for="{control}">' in html
        assert f'id="{control}"' in html


@pytest.mark.parametrize("size", [10, 100])
def test_inbox_runs_a_fixed_number_of_queries_whatever_the_page_size(
    client: Client,
    cast: Cast,
    now: datetime,
    clock: datetime,
    django_assert_num_queries: DjangoAssertNumQueries,
    size: int,
) -> None:
    # Every row has its own customer, and half have another owner, type and unit.
    other = make_program()
    kiosk = make_unit(parent=cast.store)
    for n in range(size):
        program, unit = (other, kiosk) if n % 2 else (cast.program, cast.store)
        make_case(program=program, unit=unit, owner=cast.owner, customer=make_customer(), now=now)
    client.force_login(cast.manager)
    # session, user, role check, the units of the user (read once), rows, programs, case types
    with django_assert_num_queries(7):
        response = client.get(INBOX + f"?per_page={size}")
    assert len(response.context["page"].rows) == size
