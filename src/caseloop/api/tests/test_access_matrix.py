"""Every case endpoint × every role of the cast: writers act, readers get 403 and change nothing,
people who cannot see the case get 404 and change nothing."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponse

from caseloop.api.tests.conftest import Api, error_of
from caseloop.api.urls import api as ninja_api
from caseloop.cases import services
from caseloop.cases.models import Case, CaseAttachment, CaseEvent
from caseloop.conftest import Cast
from caseloop.org.tests.factories import make_user

pytestmark = pytest.mark.django_db

Body = Callable[[Cast], dict[str, object]]


def _no_body(cast: Cast) -> dict[str, object]:
    return {}


def _first_task(cast: Cast) -> int:
    return cast.case.tasks.order_by("position").first().pk


def _close_body(cast: Cast) -> dict[str, object]:
    return {
        "closing_status": cast.program.closing_statuses.get(code="resolved").pk,
        "root_causes": [cast.program.root_causes.first().pk],
        "final_note": "Refunded",
    }


def _close_as_owner(cast: Cast, now: datetime) -> None:
    body = _close_body(cast)
    services.close_case(
        cast.case,
        actor=cast.owner,
        closing_status_id=body["closing_status"],  # type: ignore[arg-type]
        root_cause_ids=body["root_causes"],  # type: ignore[arg-type]
        final_note="Refunded",
        now=now,
    )


def _tick_as_owner(cast: Cast, now: datetime) -> None:
    services.complete_task(cast.case, actor=cast.owner, task_id=_first_task(cast), now=now)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # formatted with case, task, watcher
    body: Body = _no_body
    upload: bool = False
    # Done by the owner first, so that the action makes sense (reopen needs a closed case).
    arrange: Callable[[Cast, datetime], None] | None = None
    success: int = 200

    def call(
        self, api: Api, cast: Cast, role: str, extra: dict[str, object] | None = None
    ) -> HttpResponse:
        """Call the endpoint as ``role``; ``extra`` adds fields to the body (or the form)."""
        path = self.path.format(
            case=cast.case.pk, task=_first_task(cast), watcher=cast.limited_watcher.pk
        )
        user = cast.user(role)
        if self.upload:
            pdf = SimpleUploadedFile("receipt.pdf", b"%PDF-1.4 x", content_type="application/pdf")
            return api.upload(path, user, file=pdf, **(extra or {}))
        body = {**self.body(cast), **(extra or {})}
        if self.method == "delete":
            return api.delete(path, user, body)
        return api.post(path, user, body)


ENDPOINTS: dict[str, Endpoint] = {
    "add_note": Endpoint("post", "/cases/{case}/notes", lambda c: {"body": "Called"}, success=201),
    "attach_file": Endpoint("post", "/cases/{case}/attachments", upload=True, success=201),
    "log_contact_attempt": Endpoint(
        "post", "/cases/{case}/contact-attempts", lambda c: {"outcome": "no_answer"}, success=201
    ),
    "complete_task": Endpoint("post", "/cases/{case}/tasks/{task}/complete"),
    "undo_task": Endpoint("post", "/cases/{case}/tasks/{task}/undo", arrange=_tick_as_owner),
    "assign_case": Endpoint("post", "/cases/{case}/assign", lambda c: {"owner": make_user().pk}),
    "add_watcher": Endpoint(
        "post", "/cases/{case}/watchers", lambda c: {"user": make_user().pk, "access": "full"}
    ),
    "remove_watcher": Endpoint("delete", "/cases/{case}/watchers/{watcher}"),
    "close_case": Endpoint("post", "/cases/{case}/close", _close_body),
    "reopen_case": Endpoint(
        "post", "/cases/{case}/reopen", lambda c: {"reason": "Called back"}, arrange=_close_as_owner
    ),
}

WRITERS = ["owner", "full_watcher", "manager", "admin"]
READERS = ["limited_watcher", "viewer", "member"]
STRANGERS = ["outsider"]


@dataclass(frozen=True)
class Snapshot:
    version: int
    events: int
    attachments: int


def _snapshot(cast: Cast) -> Snapshot:
    return Snapshot(
        version=Case.objects.get(pk=cast.case.pk).version,
        events=CaseEvent.objects.filter(case=cast.case).count(),
        attachments=CaseAttachment.objects.count(),
    )


def _arrange(cast: Cast, endpoint: Endpoint, now: datetime) -> Snapshot:
    if endpoint.arrange:
        endpoint.arrange(cast, now)
    return _snapshot(cast)


@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize("role", WRITERS)
def test_writers_may_act(api: Api, cast: Cast, now: datetime, role: str, name: str) -> None:
    endpoint = ENDPOINTS[name]
    before = _arrange(cast, endpoint, now)
    response = endpoint.call(api, cast, role)
    assert response.status_code == endpoint.success, response.content
    after = _snapshot(cast)
    assert after.events > before.events
    assert response.json()["version"] == after.version > before.version


@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize("role", READERS)
def test_readers_get_403_and_nothing_changes(
    api: Api, cast: Cast, now: datetime, role: str, name: str
) -> None:
    endpoint = ENDPOINTS[name]
    before = _arrange(cast, endpoint, now)
    response = endpoint.call(api, cast, role)
    assert response.status_code == 403, response.content
    assert error_of(response)["code"] == "forbidden"
    assert _snapshot(cast) == before


@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize("role", STRANGERS)
def test_strangers_get_404_and_nothing_changes(
    api: Api, cast: Cast, now: datetime, role: str, name: str
) -> None:
    endpoint = ENDPOINTS[name]
    before = _arrange(cast, endpoint, now)
    response = endpoint.call(api, cast, role)
    assert response.status_code == 404, response.content
    assert error_of(response)["code"] == "not_found"
    assert _snapshot(cast) == before


@pytest.mark.parametrize("role", [*WRITERS, *READERS])
def test_everyone_with_a_role_may_read_the_case(api: Api, cast: Cast, role: str) -> None:
    response = api.get(f"/cases/{cast.case.pk}", cast.user(role))
    assert response.status_code == 200
    assert response.json()["id"] == cast.case.pk


@pytest.mark.parametrize("role", STRANGERS)
def test_strangers_cannot_read_the_case(api: Api, cast: Cast, role: str) -> None:
    response = api.get(f"/cases/{cast.case.pk}", cast.user(role))
    assert response.status_code == 404


def test_matrix_covers_every_case_action_endpoint() -> None:
    """A new action endpoint must join the matrix before it can ship."""
    schema = ninja_api.get_openapi_schema()
    actions = {
        op["operationId"]
        for path, operations in schema["paths"].items()
        if path.startswith("/api/v1/cases/{case_id}/")
        for op in operations.values()
    }
    assert actions == set(ENDPOINTS)
