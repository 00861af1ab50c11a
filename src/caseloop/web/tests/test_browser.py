"""The web app in a real Chromium against a live server: the agent's day from login to a closed
case, a read-only watcher, and search by a phone number written differently.

Screenshots of the inbox and the case page (wide and phone-sized) go to ``test-results/``.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from caseloop.cases.models import Case, WatcherAccess
from caseloop.cases.services import add_watcher
from caseloop.cases.tests.factories import make_case
from caseloop.customers.tests.factories import make_customer
from caseloop.org.models import Role, User
from caseloop.org.tests.factories import make_membership, make_unit, make_user
from caseloop.programs.tests.factories import make_program

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
OpenPage = Callable[..., Page]


@dataclass
class Desk:
    owner: User
    limited_watcher: User
    new_case: Case
    other_cases: list[Case]


@pytest.fixture
def desk() -> Desk:
    """A store whose owner has a few open cases, one of them watched read-only by a manager."""
    now = timezone.now()
    owner = make_user(username="olivia", first_name="Olivia", last_name="Owens")
    watcher = make_user(username="lars", first_name="Lars", last_name="Lind")
    region = make_unit(code="north", name="North", kind="region")
    store = make_unit(code="store-1", name="Berlin Mitte", parent=region, owner=owner)
    make_membership(owner, store, Role.AGENT)
    program = make_program(name="Retail survey")
    customer = make_customer(name="Jane Doe", email="jane@example.com", phone="+12025550143")
    new_case = make_case(
        program=program,
        unit=store,
        customer=customer,
        subject="Charged twice at checkout",
        verbatim="I was charged twice and nobody <b>cared</b>.",
        now=now,
    )
    add_watcher(new_case, actor=None, user=watcher, access=WatcherAccess.LIMITED, now=now)
    others = [
        make_case(program=program, unit=store, subject=subject, now=now)
        for subject in ("Refund not received", "Rude staff", "Wrong size delivered")
    ]
    return Desk(owner=owner, limited_watcher=watcher, new_case=new_case, other_cases=others)


def log_in(page: Page, live_server: LiveServer, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_agent_works_a_new_case_from_login_to_closed(
    open_page: OpenPage, live_server: LiveServer, desk: Desk, screenshot_dir: Path
) -> None:
    page = open_page()
    log_in(page, live_server, "olivia")
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    page.screenshot(path=screenshot_dir / "inbox.png", full_page=True)

    page.get_by_role("link", name=re.compile(r"^New \d+")).click()
    page.get_by_role("link", name=re.compile(desk.new_case.number)).click()
    status = page.locator(".case-head__chips .chip").first
    expect(status).to_have_text("New")

    # A mark on the window survives only if the page is updated in place, not reloaded.
    page.evaluate("window.stayedOnPage = true")
    page.get_by_label("Note", exact=True).fill("Called Jane, she wants a refund.")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_text("Note added.")).to_be_visible()
    expect(status).to_have_text("In Progress")
    assert page.evaluate("window.stayedOnPage") is True
    expect(page.locator(".timeline")).to_contain_text("Called Jane, she wants a refund.")

    page.get_by_text("Close this case…").click()
    page.get_by_label("Closing status").select_option(label="Resolved")
    page.get_by_label("Final note").fill("Refunded the second charge.")
    page.get_by_role("button", name="Close case").click()
    expect(page.get_by_text("requires a root cause to close")).to_be_visible()

    page.get_by_label("Staff behaviour").check()
    page.get_by_role("button", name="Close case").click()
    expect(page.get_by_text("Case closed.")).to_be_visible()
    expect(status).to_have_text("Closed")
    assert page.evaluate("window.stayedOnPage") is True
    page.screenshot(path=screenshot_dir / "case.png", full_page=True)

    page.get_by_role("link", name="Inbox").first.click()
    page.get_by_role("link", name=re.compile(r"^Closed \d+")).click()
    expect(page.locator("table.cases")).to_contain_text(desk.new_case.number)
    expect(page.locator("table.cases tbody tr")).to_have_count(1)


def test_pages_are_readable_on_a_phone(
    open_page: OpenPage, live_server: LiveServer, desk: Desk, screenshot_dir: Path
) -> None:
    page = open_page(width=390, height=844)
    log_in(page, live_server, "olivia")
    expect(page.locator("table.cases")).to_contain_text(desk.new_case.number)
    page.screenshot(path=screenshot_dir / "inbox-phone.png", full_page=True)
    page.goto(f"{live_server.url}/cases/{desk.new_case.pk}/")
    expect(page.get_by_role("button", name="Add note")).to_be_visible()
    page.screenshot(path=screenshot_dir / "case-phone.png", full_page=True)
    # Nothing is wider than the screen: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_limited_watcher_sees_no_action_controls(
    open_page: OpenPage, live_server: LiveServer, desk: Desk
) -> None:
    page = open_page()
    log_in(page, live_server, "lars")
    page.goto(f"{live_server.url}/cases/{desk.new_case.pk}/")
    expect(page.get_by_text("You can read this case but not change it.")).to_be_visible()
    expect(page.get_by_text("I was charged twice and nobody <b>cared</b>.")).to_be_visible()
    expect(page.locator("#case form")).to_have_count(0)
    expect(page.locator("#case button")).to_have_count(0)


def test_search_by_phone_written_differently_finds_the_customer(
    open_page: OpenPage, live_server: LiveServer, desk: Desk, screenshot_dir: Path
) -> None:
    page = open_page()
    log_in(page, live_server, "olivia")
    page.get_by_label("Search cases and customers").fill("(202) 555-0143")
    page.get_by_label("Search cases and customers").press("Enter")
    page.get_by_role("link", name="Jane Doe").click()
    expect(page.get_by_role("heading", name="Jane Doe")).to_be_visible()
    expect(page.locator("table.cases")).to_contain_text(desk.new_case.number)
    page.screenshot(path=screenshot_dir / "customer.png", full_page=True)
