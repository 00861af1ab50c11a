"""Who may call the API: a bearer token, or a browser session that passes the CSRF check."""

import pytest
from django.test import Client

from caseloop.api.services import create_token
from caseloop.api.tests.conftest import BASE, error_of
from caseloop.cases.models import CaseNote
from caseloop.conftest import Cast

pytestmark = pytest.mark.django_db

CSRF_SECRET = "a" * 32


@pytest.fixture
def browser(cast: Cast) -> Client:
    """A logged-in browser, with CSRF checks on as in production."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.owner)
    client.cookies["csrftoken"] = CSRF_SECRET
    return client


def _note_url(cast: Cast) -> str:
    return f"{BASE}/cases/{cast.case.pk}/notes"


def test_session_may_read_without_a_csrf_token(browser: Client, cast: Cast) -> None:
    assert browser.get(f"{BASE}/cases/{cast.case.pk}").status_code == 200


def test_session_write_without_csrf_token_is_refused(browser: Client, cast: Cast) -> None:
    response = browser.post(_note_url(cast), {"body": "Called"}, content_type="application/json")
    assert response.status_code == 403
    assert error_of(response)["code"] == "csrf_failed"
    assert not CaseNote.objects.exists()


def test_session_write_with_csrf_token_is_served(browser: Client, cast: Cast) -> None:
    response = browser.post(
        _note_url(cast),
        {"body": "Called"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=CSRF_SECRET,
    )
    assert response.status_code == 201
    assert CaseNote.objects.get().author == cast.owner


def test_bearer_token_needs_no_csrf_token(cast: Cast) -> None:
    _, raw = create_token(actor=cast.owner, name="script")
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        _note_url(cast),
        {"body": "Called"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 201


def test_anonymous_read_is_401_with_a_challenge(client: Client, cast: Cast) -> None:
    response = client.get(f"{BASE}/cases")
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_anonymous_write_is_401_not_a_csrf_error(cast: Cast) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(_note_url(cast), {"body": "x"}, content_type="application/json")
    assert response.status_code == 401
    assert not CaseNote.objects.exists()


def test_session_of_a_deactivated_user_is_refused(browser: Client, cast: Cast) -> None:
    cast.owner.is_active = False
    cast.owner.save()
    assert browser.get(f"{BASE}/cases").status_code == 401
