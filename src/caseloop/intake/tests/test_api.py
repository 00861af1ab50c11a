"""Responses over HTTP: the token-authenticated endpoint and the signed survey webhook."""

import json
from datetime import datetime
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.http import HttpResponse
from django.test import Client

from caseloop.api.services import create_token
from caseloop.cases.models import Case
from caseloop.intake.models import SurveyResponse
from caseloop.intake.services import signature_of
from caseloop.intake.tests.conftest import Survey
from caseloop.intake.tests.factories import make_intake, response_data
from caseloop.org.models import User
from caseloop.org.tests.factories import make_user

pytestmark = [pytest.mark.django_db, pytest.mark.urls("caseloop.intake.tests.urls")]


@pytest.fixture
def integration() -> User:
    """The user a survey integration's token belongs to: allowed to send responses."""
    user = make_user(username="integration")
    user.user_permissions.add(Permission.objects.get(codename="add_surveyresponse"))
    return user


def post_responses(client: Client, user: User | None, body: dict[str, Any]) -> HttpResponse:
    headers = {}
    if user is not None:
        _, raw = create_token(actor=user, name="survey platform")
        headers["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    return client.post(
        "/api/v1/responses", json.dumps(body), content_type="application/json", **headers
    )


def concern(survey: Survey, **fields: object) -> dict[str, object]:
    return response_data(survey.store.code, answers={"concern": True}, **fields)


def test_one_response_is_stored_and_its_alert_opened(
    client: Client, survey: Survey, integration: User
) -> None:
    response = post_responses(
        client, integration, {"program": "retail", "responses": [concern(survey)]}
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["created"], body["duplicates"], body["cases_opened"]) == (1, 0, 1)
    assert body["responses"][0]["case_id"] == Case.objects.get().pk
    assert body["responses"][0]["alert_rule"] == "Concern raised"


def test_keys_that_are_not_fields_are_taken_as_answers(
    client: Client, survey: Survey, integration: User
) -> None:
    item = {"external_id": 17, "unit": "s-1", "q_overall": 3}
    response = post_responses(client, integration, {"program": "retail", "responses": [item]})
    assert response.status_code == 201
    stored = SurveyResponse.objects.get()
    assert (stored.external_id, stored.answers) == ("17", {"q_overall": 3})
    assert Case.objects.get().alert_reason["rule"] == "Low score"


def test_a_batch_delivered_again_stores_nothing_new(
    client: Client, survey: Survey, integration: User
) -> None:
    body = {"program": "retail", "responses": [concern(survey), response_data("s-1")]}
    post_responses(client, integration, body)
    again = post_responses(client, integration, body)
    assert again.status_code == 200
    assert again.json()["duplicates"] == 2
    assert (SurveyResponse.objects.count(), Case.objects.count()) == (2, 1)


def test_a_batch_with_a_bad_response_is_refused_whole_with_every_problem(
    client: Client, survey: Survey, integration: User
) -> None:
    bad = response_data("nowhere", respondent={"email": "nope"})
    response = post_responses(
        client, integration, {"program": "retail", "responses": [concern(survey), bad]}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["message"] == "1 of 2 responses are not valid; nothing was stored."
    assert {(d["row"], d["field"]) for d in error["details"]} == {
        (2, "unit"),
        (2, "respondent.email"),
    }
    assert SurveyResponse.objects.count() == 0


def test_without_a_token_the_endpoint_answers_401(client: Client, survey: Survey) -> None:
    response = post_responses(client, None, {"program": "retail", "responses": [concern(survey)]})
    assert response.status_code == 401
    assert SurveyResponse.objects.count() == 0


def test_a_token_without_the_intake_permission_is_refused(client: Client, survey: Survey) -> None:
    response = post_responses(
        client, survey.owner, {"program": "retail", "responses": [concern(survey)]}
    )
    assert response.status_code == 403
    assert SurveyResponse.objects.count() == 0


def test_an_unknown_program_is_404(client: Client, survey: Survey, integration: User) -> None:
    response = post_responses(
        client, integration, {"program": "nope", "responses": [concern(survey)]}
    )
    assert response.status_code == 404


def deliver(client: Client, program_code: str, body: bytes, signature: str | None) -> HttpResponse:
    headers = {"HTTP_X_CASELOOP_SIGNATURE": signature} if signature is not None else {}
    return client.post(
        f"/api/v1/webhooks/survey/{program_code}",
        body,
        content_type="application/json",
        **headers,
    )


def test_a_signed_delivery_is_taken_in(client: Client, survey: Survey) -> None:
    secret = make_intake(survey.program).webhook_secret
    body = json.dumps(concern(survey)).encode()
    response = deliver(client, "retail", body, signature_of(secret, body))
    assert response.status_code == 201
    assert (SurveyResponse.objects.count(), Case.objects.count()) == (1, 1)


def test_the_program_mapping_reads_the_platform_fields(client: Client, survey: Survey) -> None:
    intake = make_intake(
        survey.program,
        default_source="qualtrics",
        field_mapping={"ResponseId": "external_id", "Store": "unit", "Email": "respondent.email"},
    )
    body = json.dumps(
        {"ResponseId": "R_1", "Store": "s-1", "Email": "a@example.test", "q_overall": 2}
    ).encode()
    response = deliver(client, "retail", body, signature_of(intake.webhook_secret, body))
    assert response.status_code == 201
    stored = SurveyResponse.objects.get()
    assert (stored.source, stored.external_id, stored.respondent["email"]) == (
        "qualtrics",
        "R_1",
        "a@example.test",
    )


def test_a_batch_of_responses_in_one_delivery(client: Client, survey: Survey) -> None:
    secret = make_intake(survey.program).webhook_secret
    body = json.dumps({"responses": [concern(survey), response_data("s-1")]}).encode()
    response = deliver(client, "retail", body, signature_of(secret, body))
    assert response.json()["created"] == 2


def test_a_wrong_signature_changes_nothing(client: Client, survey: Survey) -> None:
    secret = make_intake(survey.program).webhook_secret
    body = json.dumps(concern(survey)).encode()
    tampered = body.replace(b"true", b"false")
    response = deliver(client, "retail", tampered, signature_of(secret, body))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "bad_signature"
    assert SurveyResponse.objects.count() == 0


def test_a_missing_signature_changes_nothing(client: Client, survey: Survey) -> None:
    make_intake(survey.program)
    response = deliver(client, "retail", json.dumps(concern(survey)).encode(), None)
    assert response.status_code == 401
    assert SurveyResponse.objects.count() == 0


def test_a_signature_with_another_programs_secret_is_refused(
    client: Client, survey: Survey
) -> None:
    make_intake(survey.program)
    body = json.dumps(concern(survey)).encode()
    response = deliver(client, "retail", body, signature_of("someone else's secret", body))
    assert response.status_code == 401


def test_a_program_without_intake_settings_has_no_webhook(client: Client, survey: Survey) -> None:
    body = json.dumps(concern(survey)).encode()
    assert deliver(client, "retail", body, signature_of("", body)).status_code == 404


def test_a_signed_body_that_is_not_json_is_400(client: Client, survey: Survey) -> None:
    secret = make_intake(survey.program).webhook_secret
    body = b"{not json"
    assert deliver(client, "retail", body, signature_of(secret, body)).status_code == 400


def test_a_repeated_delivery_makes_one_response_and_one_case(
    client: Client, survey: Survey
) -> None:
    secret = make_intake(survey.program).webhook_secret
    body = json.dumps(concern(survey)).encode()
    deliver(client, "retail", body, signature_of(secret, body))
    again = deliver(client, "retail", body, signature_of(secret, body))
    assert again.status_code == 200
    assert (SurveyResponse.objects.count(), Case.objects.count()) == (1, 1)


def test_the_webhook_refuses_a_bad_response_with_422(client: Client, survey: Survey) -> None:
    secret = make_intake(survey.program).webhook_secret
    body = json.dumps(response_data("nowhere")).encode()
    response = deliver(client, "retail", body, signature_of(secret, body))
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "unit"


def test_the_webhook_needs_no_csrf_token(survey: Survey, now: datetime) -> None:
    secret = make_intake(survey.program).webhook_secret
    body = json.dumps(concern(survey)).encode()
    strict = Client(enforce_csrf_checks=True)
    assert deliver(strict, "retail", body, signature_of(secret, body)).status_code == 201
