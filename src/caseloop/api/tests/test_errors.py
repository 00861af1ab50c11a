"""Every client error has the one shape, with the status that says what went wrong."""

from typing import Any

import pytest
from django.test import Client

from caseloop.api.tests.conftest import BASE, Api, error_of
from caseloop.cases.models import CaseEvent
from caseloop.conftest import Cast

pytestmark = pytest.mark.django_db


def test_unreadable_json_is_400(api: Api, cast: Cast) -> None:
    response = api.client.post(
        f"{BASE}/cases/{cast.case.pk}/notes",
        "{not json",
        content_type="application/json",
        **api.headers(cast.owner),
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_request"


def test_missing_credentials_are_401(client: Client, cast: Cast) -> None:
    response = client.get(f"{BASE}/cases/{cast.case.pk}")
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


def test_forbidden_action_is_403(api: Api, cast: Cast) -> None:
    response = api.post(f"/cases/{cast.case.pk}/notes", cast.viewer, {"body": "Hi"})
    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "forbidden"
    assert "not change" in error["message"]


def test_missing_case_is_404(api: Api, cast: Cast) -> None:
    response = api.post("/cases/424242/notes", cast.owner, {"body": "Hi"})
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_unknown_path_is_404(api: Api, cast: Cast) -> None:
    response = api.get("/no/such/thing", cast.owner)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_unknown_task_is_404(api: Api, cast: Cast) -> None:
    response = api.post(f"/cases/{cast.case.pk}/tasks/424242/complete", cast.owner)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_wrong_method_is_405_and_names_the_allowed_ones(api: Api, cast: Cast) -> None:
    response = api.delete(f"/cases/{cast.case.pk}/notes", cast.owner)
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert response["Allow"] == "POST"


def test_illegal_transition_is_409(api: Api, cast: Cast) -> None:
    response = api.post(f"/cases/{cast.case.pk}/reopen", cast.owner, {"reason": "Why not"})
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "illegal_transition"
    assert cast.case.number in error["message"]


def test_stale_version_is_409_conflict(api: Api, cast: Cast) -> None:
    response = api.post(
        f"/cases/{cast.case.pk}/notes", cast.owner, {"body": "Hi", "expected_version": 1}
    )
    assert response.status_code == 409
    assert error_of(response)["code"] == "conflict"


def test_broken_business_rule_is_422_naming_the_field(api: Api, cast: Cast) -> None:
    response = api.post(f"/cases/{cast.case.pk}/notes", cast.owner, {"body": "   "})
    assert response.status_code == 422
    error = error_of(response)
    assert (error["code"], error["field"]) == ("invalid", "body")
    assert error["details"] == []


def test_unparseable_value_is_422_with_the_validation_details(api: Api, cast: Cast) -> None:
    response = api.post(
        f"/cases/{cast.case.pk}/contact-attempts", cast.owner, {"outcome": "telepathy"}
    )
    assert response.status_code == 422
    error = error_of(response)
    assert (error["code"], error["field"]) == ("validation_error", "outcome")
    assert error["details"][0]["loc"] == ["body", "payload", "outcome"]
    assert error["details"][0]["type"] == "enum"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/cases/{case}/notes", {"body": "nul \x00 byte"}),
        ("post", "/cases/{case}/notes", ["a", "list"]),
        ("post", "/cases/{case}/notes", {"body": {"nested": True}}),
        ("post", "/cases/{case}/notes", {"body": "Hi", "expected_version": "new"}),
        ("post", "/cases/{case}/assign", {"owner": 2**70}),
        ("post", "/cases/{case}/assign", {"owner": -1}),
        ("post", "/cases/{case}/watchers", {"user": 424242}),
        ("post", "/cases/{case}/close", {"closing_status": 424242, "final_note": "x"}),
        ("post", "/cases/{case}/close", {"closing_status": 1, "root_causes": "all"}),
        ("post", "/cases/{case}/tasks/abc/complete", {}),
        ("get", "/cases/99999999999999999999", None),
        ("get", "/cases/-5", None),
        ("delete", "/cases/{case}/watchers/424242", {}),
        ("post", "/cases", {}),
        ("post", "/tokens", {"name": "x" * 500}),
        ("delete", "/tokens/abc", None),
    ],
)
def test_bad_input_is_a_shaped_4xx_and_changes_nothing(
    api: Api, cast: Cast, method: str, path: str, body: Any
) -> None:
    events = CaseEvent.objects.count()
    path = BASE + path.format(case=cast.case.pk)
    headers = api.headers(cast.owner)
    if method == "get":
        response = api.client.get(path, **headers)
    else:
        send = getattr(api.client, method)
        response = send(path, body, content_type="application/json", **headers)
    assert 400 <= response.status_code < 500, response.content
    error_of(response)
    assert CaseEvent.objects.count() == events
