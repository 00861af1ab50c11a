"""GET /cases/{id} and what the action endpoints answer: the whole case, at a fixed query cost."""

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from caseloop.api.tests.conftest import Api, error_of
from caseloop.cases import services
from caseloop.cases.models import Case, CaseNote
from caseloop.cases.tests.factories import make_case
from caseloop.conftest import Cast

pytestmark = pytest.mark.django_db


def test_detail_has_the_case_its_people_and_its_history(api: Api, cast: Cast) -> None:
    services.add_note(cast.case, actor=cast.owner, body="Called, no answer")
    body = api.get(f"/cases/{cast.case.pk}", cast.owner).json()
    assert body["number"] == cast.case.number
    assert body["customer"]["email"] == cast.case.customer.email
    assert body["owner"]["username"] == "olivia"
    assert {(w["user"]["username"], w["access"]) for w in body["watchers"]} == {
        ("max", "full"),
        ("fiona", "full"),
        ("lars", "limited"),
    }
    assert [t["title"] for t in body["tasks"]] == ["Call the customer", "Offer a remedy"]
    assert [n["body"] for n in body["notes"]] == ["Called, no answer"]
    assert [e["kind"] for e in body["events"]][-2:] == ["started", "note_added"]
    assert body["version"] == Case.objects.get(pk=cast.case.pk).version


def test_detail_of_a_closed_case_has_how_it_was_closed(api: Api, cast: Cast) -> None:
    cause = cast.program.root_causes.get(code="staff")
    services.close_case(
        cast.case,
        actor=cast.owner,
        closing_status_id=cast.program.closing_statuses.get(code="resolved").pk,
        root_cause_ids=[cause.pk],
        final_note="Apologised and refunded",
    )
    body = api.get(f"/cases/{cast.case.pk}", cast.owner).json()
    assert (body["status"], body["display_status"]) == ("closed", "closed")
    assert body["closing_status"]["code"] == "resolved"
    assert [c["code"] for c in body["root_causes"]] == ["staff"]
    assert body["final_note"] == "Apologised and refunded"
    assert body["closed_at"] is not None


def test_late_open_case_displays_as_overdue(api: Api, cast: Cast, now: datetime) -> None:
    late = make_case(program=cast.program, unit=cast.store, now=now - timedelta(days=14))
    body = api.get(f"/cases/{late.pk}", cast.owner).json()
    assert (body["status"], body["display_status"]) == ("new", "overdue")


def test_missing_case_is_404(api: Api, cast: Cast) -> None:
    response = api.get("/cases/987654", cast.owner)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_invisible_case_answers_exactly_like_a_missing_one(api: Api, cast: Cast) -> None:
    invisible = api.get(f"/cases/{cast.case.pk}", cast.outsider)
    missing = api.get("/cases/987654", cast.outsider)
    assert invisible.status_code == missing.status_code == 404
    assert error_of(invisible)["code"] == error_of(missing)["code"]


def test_detail_costs_the_same_queries_however_long_the_history(api: Api, cast: Cast) -> None:
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            api.get(f"/cases/{cast.case.pk}", cast.owner)
        return len(captured)

    api.get(f"/cases/{cast.case.pk}", cast.owner)  # first use of the token is recorded
    short = count_queries()
    for n in range(10):
        services.add_note(cast.case, actor=cast.full_watcher, body=f"Note {n}")
        services.log_contact_attempt(cast.case, actor=cast.owner, outcome="no_answer")
    assert count_queries() == short


def test_action_answers_with_the_case_as_it_left_it(api: Api, cast: Cast) -> None:
    response = api.post(f"/cases/{cast.case.pk}/notes", cast.owner, {"body": "Called back"})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "in_progress"
    assert body["notes"][-1]["body"] == "Called back"
    assert CaseNote.objects.get().body == "Called back"


def test_watcher_who_removes_themselves_still_gets_the_result(api: Api, cast: Cast) -> None:
    response = api.delete(
        f"/cases/{cast.case.pk}/watchers/{cast.full_watcher.pk}", cast.full_watcher
    )
    assert response.status_code == 200
    assert "fiona" not in {w["user"]["username"] for w in response.json()["watchers"]}
