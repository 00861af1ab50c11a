"""Fixtures of the web app's tests: a clock the views read, logged-in clients for each role of
the shared cast, and a real Chromium for the browser tests."""

import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.test import Client
from playwright.sync_api import Browser, Page, sync_playwright

from caseloop.conftest import Cast

DEBIAN_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def clock(now: datetime) -> Iterator[datetime]:
    """The time the views read: one hour after the cast's case was opened, frozen."""
    at = now + timedelta(hours=1)
    with time_machine.travel(at, tick=False):
        yield at


@pytest.fixture
def login(client: Client, cast: Cast, clock: datetime) -> Callable[[str], Client]:
    """``login("owner")`` returns the test client logged in as that member of the cast."""

    def as_role(role: str) -> Client:
        client.force_login(cast.user(role))
        return client

    return as_role


def chromium_or_skip() -> str:
    """The browser's path (``CASELOOP_CHROMIUM``, else Debian's). Without it the browser tests
    skip, unless the run must use every real part (CI sets ``CASELOOP_REQUIRE_REAL_PARTS=1``):
    then they fail."""
    path = os.environ.get("CASELOOP_CHROMIUM") or DEBIAN_CHROMIUM
    if Path(path).is_file():
        return path
    reason = f"Chromium is not installed at {path} (apt-get install chromium)."
    if os.environ.get("CASELOOP_REQUIRE_REAL_PARTS") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def screenshot_dir(request: pytest.FixtureRequest) -> Path:
    """Where the browser tests leave their screenshots: ``test-results/`` in the project."""
    path = request.config.rootpath / "test-results"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright, for one test module.

    Playwright's sync API keeps an asyncio loop marked as running while it lives, which makes
    Django refuse ORM calls; the module's tests (and the live server's database set-up) run
    with ``DJANGO_ALLOW_ASYNC_UNSAFE`` and the loop ends with the module, before other tests.
    """
    path = chromium_or_skip()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
            yield browser
            browser.close()


@pytest.fixture
def open_page(chromium: Browser) -> Iterator[Callable[..., Page]]:
    """``open_page(width=390)`` opens a tab in a fresh browser profile (own cookies)."""
    contexts = []

    def opener(width: int = 1280, height: int = 900) -> Page:
        context = chromium.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield opener
    for context in contexts:
        context.close()
