"""Survey responses over HTTP: ``POST /responses`` for integrations holding an API token, and
``POST /webhooks/survey/{program_code}`` for survey platforms, which sign each delivery.

Both hand the responses to ``ingest_responses`` all-or-nothing: a batch with one bad response is
refused whole (422, every bad response listed in ``details``), and a delivery repeated after a
timeout stores nothing twice. The webhook checks the ``X-Caseloop-Signature`` header
(``sha256=`` + hex HMAC-SHA256 of the raw body with the program's secret) before reading the
body; a missing or wrong signature is a 401 and changes nothing.
"""

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema
from ninja.responses import Status
from pydantic import BaseModel, ConfigDict

from caseloop.api.errors import ErrorOut, error_response
from caseloop.intake.queries import program_by_code
from caseloop.intake.services import (
    BadRecords,
    BadSignature,
    IntakeResult,
    IntakeSession,
    ingest_responses,
    program_for_webhook,
    records_from_json,
)
from caseloop.org.models import User

SIGNATURE_HEADER = "X-Caseloop-Signature"
MAX_BATCH = 1000


class RespondentIn(Schema):
    external_id: str | int | None = Field(None, description="The customer's number with you.")
    email: str | None = None
    phone: str | None = Field(None, description="Any format; stored as E.164.")
    name: str | None = None


class TransactionIn(Schema):
    reference: str | int | None = None
    kind: str | None = Field(None, description="e.g. purchase, stay, repair")
    occurred_at: str | None = Field(None, description="ISO 8601")
    amount: str | float | None = None
    currency: str | None = Field(None, description="ISO 4217, e.g. EUR")


class SurveyResponseIn(BaseModel):
    """One response. Keys other than these are taken as answers."""

    # A plain pydantic model: ninja's Schema reads input through attribute access and would
    # drop the extra keys, which are the answers.
    model_config = ConfigDict(extra="allow")

    external_id: str | int | None = Field(
        None, description="Required: the platform's id of the response."
    )
    source: str | None = Field(None, description="The platform; default: the program's.")
    unit: str | None = Field(None, description="Required: the code of the unit it concerns.")
    received_at: str | None = Field(None, description="ISO 8601; default: now.")
    respondent: RespondentIn | None = None
    transaction: TransactionIn | None = None
    answers: dict[str, Any] | None = Field(
        None, description='Question id → number, true/false, text or list: {"q_overall": 4}'
    )
    verbatims: dict[str, Any] | None = Field(None, description="Question id → free text.")
    verbatim: str | None = Field(None, description="Short for verbatims.verbatim.")


class ResponsesIn(Schema):
    program: str = Field(description="The program's code.")
    responses: list[SurveyResponseIn] = Field(min_length=1, max_length=MAX_BATCH)


class OutcomeOut(Schema):
    row: int = Field(description="The response's position in the request, from 1.")
    source: str
    external_id: str
    response_id: int
    case_id: int | None
    alert_rule: str | None = Field(description="The rule that fired, if any.")
    duplicate: bool = Field(description="Already stored by an earlier delivery.")


class IntakeOut(Schema):
    created: int
    duplicates: int
    cases_opened: int
    responses: list[OutcomeOut]


def _body(result: IntakeResult) -> Status:
    body = IntakeOut(
        created=result.created,
        duplicates=result.duplicates,
        cases_opened=result.cases_opened,
        responses=[OutcomeOut(**outcome.__dict__) for outcome in result.outcomes],
    )
    return Status(201 if result.created else 200, body)


def _bad_records(exc: BadRecords) -> HttpResponse:
    details = [{"row": p.row, "field": p.field, "message": p.message} for p in exc.problems]
    return error_response(422, exc.code, exc.message, details=details)


class _AuthedRequest(HttpRequest):
    auth: User


def build_router() -> Router:
    """A fresh router with the intake endpoints (a router can be mounted on one API only)."""
    router = Router(tags=["survey intake"])

    @router.post(
        "/responses",
        response={200: IntakeOut, 201: IntakeOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
        summary="Take in survey responses",
    )
    def post_responses(request: _AuthedRequest, payload: ResponsesIn) -> Status | HttpResponse:
        """Store one or more survey responses of a program and open a case for each that fires
        an alert rule. 201 when something new was stored, 200 when every response was already
        there. Needs the permission ``intake.add_surveyresponse``."""
        program = program_by_code(payload.program)
        records = records_from_json(
            [item.model_dump(exclude_none=True) for item in payload.responses]
        )
        try:
            result = ingest_responses(
                program,
                records,
                actor=request.auth,
                session=IntakeSession(program, mapping={}),
                all_or_nothing=True,
            )
        except BadRecords as exc:
            return _bad_records(exc)
        return _body(result)

    @router.post(
        "/webhooks/survey/{program_code}",
        auth=None,
        response={
            200: IntakeOut,
            201: IntakeOut,
            400: ErrorOut,
            401: ErrorOut,
            404: ErrorOut,
            422: ErrorOut,
        },
        summary="Survey platform webhook",
    )
    def survey_webhook(request: HttpRequest, program_code: str) -> Status | HttpResponse:
        """A survey platform posts one response, a list, or ``{"responses": [...]}``, read with
        the program's field mapping. Sign the raw body: header ``X-Caseloop-Signature:
        sha256=<hex HMAC-SHA256 with the program's webhook secret>``."""
        try:
            program = program_for_webhook(
                program_code, request.body, request.headers.get(SIGNATURE_HEADER)
            )
        except BadSignature as exc:
            return error_response(401, exc.code, exc.message)
        try:
            payload = json.loads(request.body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return error_response(400, "bad_request", f"The body is not valid JSON: {exc}.")
        records = records_from_json(payload)
        if len(records) > MAX_BATCH:
            return error_response(
                422, "invalid", f"At most {MAX_BATCH} responses per delivery.", field="responses"
            )
        try:
            result = ingest_responses(program, records, actor=None, all_or_nothing=True)
        except BadRecords as exc:
            return _bad_records(exc)
        return _body(result)

    return router


router = build_router()
