"""The case page's actions over HTTP: each role × each action, htmx and plain posts, errors shown
beside the field, and a stale form refused with a clear message."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from caseloop.cases import services
from caseloop.cases.models import Case, CaseEvent, CaseWatcher, ContactOutcome, Status
from caseloop.conftest import Cast
from caseloop.org.tests.factories import make_membership
from caseloop.web.errors import STALE_FORM

pytestmark = pytest.mark.django_db

Login = Callable[[str], Client]
HTMX = {"HTTP_HX_REQUEST": "true"}

WRITERS = ["owner", "full_watcher", "manager", "admin"]
READERS = ["limited_watcher", "viewer", "member"]


def fresh(cast: Cast) -> Case:
    return Case.objects.get(pk=cast.case.pk)


def resolved(cast: Cast) -> int:
    return cast.program.closing_statuses.get(code="resolved").pk


def close_as_owner(cast: Cast, now: datetime) -> None:
    services.close_case(
        cast.case,
        actor=cast.owner,
        closing_status_id=resolved(cast),
        root_cause_ids=[cast.program.root_causes.first().pk],
        final_note="Refunded",
        now=now,
    )


@dataclass(frozen=True)
class Action:
    url: Callable[[Cast], str]
    data: Callable[[Cast], dict[str, object]]
    closed_first: bool = False


def _pdf() -> SimpleUploadedFile:
    return SimpleUploadedFile("receipt.pdf", b"%PDF-1.4", content_type="application/pdf")


ACTIONS: dict[str, Action] = {
    "add_note": Action(
        url=lambda c: reverse("web:add_note", args=[c.case.pk]), data=lambda c: {"body": "Called"}
    ),
    "attach_file": Action(
        url=lambda c: reverse("web:attach_file", args=[c.case.pk]), data=lambda c: {"file": _pdf()}
    ),
    "log_contact_attempt": Action(
        url=lambda c: reverse("web:log_contact_attempt", args=[c.case.pk]),
        data=lambda c: {"outcome": "no_answer", "channel": "phone", "note": ""},
    ),
    "complete_task": Action(
        url=lambda c: reverse("web:complete_task", args=[c.case.pk, c.case.tasks.first().pk]),
        data=lambda c: {},
    ),
    "assign_case": Action(
        url=lambda c: reverse("web:assign_case", args=[c.case.pk]),
        data=lambda c: {"owner": c.member.pk},
    ),
    "add_watcher": Action(
        url=lambda c: reverse("web:add_watcher", args=[c.case.pk]),
        data=lambda c: {"user": c.member.pk, "access": "limited"},
    ),
    "remove_watcher": Action(
        url=lambda c: reverse("web:remove_watcher", args=[c.case.pk, c.limited_watcher.pk]),
        data=lambda c: {},
    ),
    "close_case": Action(
        url=lambda c: reverse("web:close_case", args=[c.case.pk]),
        data=lambda c: {
            "closing_status": resolved(c),
            "root_causes": [c.program.root_causes.first().pk],
            "final_note": "Refunded",
        },
    ),
    "reopen_case": Action(
        url=lambda c: reverse("web:reopen_case", args=[c.case.pk]),
        data=lambda c: {"reason": "Customer called back"},
        closed_first=True,
    ),
}


def post(
    client: Client, cast: Cast, name: str, *, htmx: bool = True, **extra: object
) -> tuple[int, str]:
    action = ACTIONS[name]
    data = {"version": fresh(cast).version, **action.data(cast), **extra}
    response = client.post(action.url(cast), data, **(HTMX if htmx else {}))
    return response.status_code, response.content.decode()


@pytest.mark.parametrize("name", ACTIONS)
@pytest.mark.parametrize("role", WRITERS)
def test_writers_may_act_and_get_the_case_back(
    login: Login, cast: Cast, clock: datetime, role: str, name: str
) -> None:
    if ACTIONS[name].closed_first:
        close_as_owner(cast, clock)
    events = CaseEvent.objects.filter(case=cast.case).count()
    status, html = post(login(role), cast, name)
    assert status == 200, html
    assert html.lstrip().startswith('<div id="case"')
    assert CaseEvent.objects.filter(case=cast.case).count() > events


@pytest.mark.parametrize("name", ACTIONS)
@pytest.mark.parametrize("role", READERS)
def test_readers_are_refused_and_nothing_changes(
    login: Login, cast: Cast, clock: datetime, role: str, name: str
) -> None:
    if ACTIONS[name].closed_first:
        close_as_owner(cast, clock)
    version = fresh(cast).version
    status, _ = post(login(role), cast, name)
    assert status == 403
    assert fresh(cast).version == version


@pytest.mark.parametrize("name", ACTIONS)
def test_outsider_gets_404_and_nothing_changes(
    login: Login, cast: Cast, clock: datetime, name: str
) -> None:
    if ACTIONS[name].closed_first:
        close_as_owner(cast, clock)
    version = fresh(cast).version
    status, _ = post(login("outsider"), cast, name)
    assert status == 404
    assert fresh(cast).version == version


@pytest.mark.parametrize("name", ACTIONS)
def test_get_is_not_allowed_on_an_action(login: Login, cast: Cast, name: str) -> None:
    assert login("owner").get(ACTIONS[name].url(cast)).status_code == 405


def test_note_moves_a_new_case_to_in_progress(login: Login, cast: Cast) -> None:
    status, html = post(login("owner"), cast, "add_note", body="Called, no answer")
    assert status == 200
    assert fresh(cast).status == Status.IN_PROGRESS
    assert '<span class="chip chip--in_progress">In Progress</span>' in html
    assert "Called, no answer" in html
    assert "Note added." in html


def test_refreshed_forms_carry_the_new_version(login: Login, cast: Cast) -> None:
    _, html = post(login("owner"), cast, "add_note")
    assert f'name="version" value="{fresh(cast).version}"' in html


def test_post_without_htmx_redirects_to_the_case(login: Login, cast: Cast) -> None:
    client = login("owner")
    response = client.post(
        reverse("web:add_note", args=[cast.case.pk]),
        {"body": "Called", "version": fresh(cast).version},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("web:case", args=[cast.case.pk])
    assert "Note added." in client.get(response["Location"]).content.decode()


def test_empty_note_is_refused_beside_the_field(login: Login, cast: Cast) -> None:
    status, html = post(login("owner"), cast, "add_note", body="   ")
    assert status == 422
    assert "A note cannot be empty." in html
    assert not cast.case.notes.exists()


def test_stale_form_says_someone_else_changed_the_case(login: Login, cast: Cast) -> None:
    client = login("owner")
    seen = fresh(cast).version
    services.add_note(cast.case, actor=cast.manager, body="Meanwhile")
    response = client.post(
        reverse("web:add_note", args=[cast.case.pk]),
        {"body": "My late note", "version": seen},
        **HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 409
    assert STALE_FORM.replace("'", "&#x27;") in html
    assert "Meanwhile" in html  # the other change is shown
    assert "My late note</textarea>" in html  # the user's text is kept to send again
    assert f'name="version" value="{fresh(cast).version}"' in html
    assert not cast.case.notes.filter(body="My late note").exists()


def test_missing_version_is_refused(login: Login, cast: Cast) -> None:
    response = login("owner").post(
        reverse("web:add_note", args=[cast.case.pk]), {"body": "x"}, **HTMX
    )
    assert response.status_code == 422
    assert "This form is out of date" in response.content.decode()
    assert not cast.case.notes.exists()


def test_contact_attempt_is_logged_with_its_outcome(login: Login, cast: Cast) -> None:
    status, _ = post(
        login("owner"), cast, "log_contact_attempt", outcome="reached", note="All sorted"
    )
    attempt = cast.case.contact_attempts.get()
    assert status == 200
    assert (attempt.outcome, attempt.note) == (ContactOutcome.REACHED, "All sorted")


def test_unknown_contact_outcome_is_refused(login: Login, cast: Cast) -> None:
    status, html = post(login("owner"), cast, "log_contact_attempt", outcome="teleported")
    assert status == 422
    assert "Select a valid choice" in html
    assert not cast.case.contact_attempts.exists()


def test_upload_of_a_forbidden_type_is_refused_beside_the_field(login: Login, cast: Cast) -> None:
    script = SimpleUploadedFile("x.html", b"<script>", content_type="text/html")
    status, html = post(login("owner"), cast, "attach_file", file=script)
    assert status == 422
    assert "Files of type text/html are not accepted." in html
    assert not cast.case.attachments.exists()


def test_ticking_and_unticking_a_task(login: Login, cast: Cast) -> None:
    client = login("owner")
    task = cast.case.tasks.first()
    post(client, cast, "complete_task")
    task.refresh_from_db()
    assert task.done_by == cast.owner
    response = client.post(
        reverse("web:undo_task", args=[cast.case.pk, task.pk]),
        {"version": fresh(cast).version},
        **HTMX,
    )
    task.refresh_from_db()
    assert response.status_code == 200
    assert task.done_at is None


def test_task_of_another_case_is_404(login: Login, cast: Cast) -> None:
    response = login("owner").post(
        reverse("web:complete_task", args=[cast.case.pk, 999999]),
        {"version": fresh(cast).version},
        **HTMX,
    )
    assert response.status_code == 404


def test_ticking_a_done_task_twice_says_so(login: Login, cast: Cast) -> None:
    client = login("owner")
    post(client, cast, "complete_task")
    status, html = post(client, cast, "complete_task")
    assert status == 409
    assert "is already done" in html


def test_reassign_gives_the_case_to_the_chosen_person(login: Login, cast: Cast) -> None:
    status, html = post(login("manager"), cast, "assign_case", owner=cast.member.pk)
    assert status == 200
    assert fresh(cast).owner == cast.member
    assert f'<dd class="owner">{cast.member}</dd>' in html


def test_reassign_to_someone_not_offered_is_refused(login: Login, cast: Cast) -> None:
    status, _ = post(login("manager"), cast, "assign_case", owner=cast.outsider.pk)
    assert status == 422
    assert fresh(cast).owner == cast.owner


def test_adding_and_removing_a_watcher(login: Login, cast: Cast) -> None:
    client = login("owner")
    post(client, cast, "add_watcher", user=cast.member.pk, access="full")
    assert cast.case.watchers.get(user=cast.member).access == "full"
    response = client.post(
        reverse("web:remove_watcher", args=[cast.case.pk, cast.member.pk]),
        {"version": fresh(cast).version},
        **HTMX,
    )
    assert response.status_code == 200
    assert not cast.case.watchers.filter(user=cast.member).exists()


def test_removing_someone_who_does_not_watch_says_so(login: Login, cast: Cast) -> None:
    client = login("owner")
    response = client.post(
        reverse("web:remove_watcher", args=[cast.case.pk, cast.member.pk]),
        {"version": fresh(cast).version},
        **HTMX,
    )
    assert response.status_code == 422
    assert "does not watch" in response.content.decode()


def test_watcher_who_removes_themselves_out_of_reach_goes_to_the_inbox(
    login: Login, cast: Cast
) -> None:
    client = login("full_watcher")
    response = client.post(
        reverse("web:remove_watcher", args=[cast.case.pk, cast.full_watcher.pk]),
        {"version": fresh(cast).version},
        **HTMX,
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("web:inbox")
    assert not CaseWatcher.objects.filter(case=cast.case, user=cast.full_watcher).exists()


def test_close_with_status_root_cause_and_note(login: Login, cast: Cast) -> None:
    status, html = post(login("owner"), cast, "close_case")
    case = fresh(cast)
    assert status == 200
    assert case.status == Status.CLOSED
    assert case.closing_status_id == resolved(cast)
    assert list(case.root_causes.values_list("code", flat=True)) == ["staff"]
    assert '<span class="chip chip--closed">Closed</span>' in html


def test_close_without_a_root_cause_shows_the_programs_rule_inline(
    login: Login, cast: Cast
) -> None:
    status, html = post(login("owner"), cast, "close_case", root_causes=[])
    assert status == 422
    assert f"{cast.program} requires a root cause to close." in html
    assert '<details class="inline-form" open>' in html
    assert fresh(cast).status == Status.NEW


def test_close_without_a_final_note_is_refused_inline(login: Login, cast: Cast) -> None:
    status, html = post(login("owner"), cast, "close_case", final_note=" ")
    assert status == 422
    assert "Say in a final note what was done." in html
    assert fresh(cast).status == Status.NEW


def test_close_with_a_status_of_another_program_is_refused(login: Login, cast: Cast) -> None:
    status, html = post(login("owner"), cast, "close_case", closing_status=999999)
    assert status == 422
    assert "Select a valid choice" in html


def test_closing_a_case_closed_meanwhile_says_so(login: Login, cast: Cast, clock: datetime) -> None:
    client = login("owner")
    close_as_owner(cast, clock)
    status, html = post(client, cast, "close_case")
    assert status == 409
    assert "reopen it before you close it again" in html


def test_reopen_needs_a_reason(login: Login, cast: Cast, clock: datetime) -> None:
    close_as_owner(cast, clock)
    status, html = post(login("owner"), cast, "reopen_case", reason="")
    assert status == 422
    assert "This field is required." in html
    assert fresh(cast).status == Status.CLOSED


def test_reopen_puts_the_case_back_in_progress(login: Login, cast: Cast, clock: datetime) -> None:
    close_as_owner(cast, clock)
    status, _ = post(login("owner"), cast, "reopen_case")
    assert status == 200
    assert fresh(cast).status == Status.IN_PROGRESS


def test_viewer_made_manager_of_the_store_may_act(login: Login, cast: Cast) -> None:
    make_membership(cast.viewer, cast.store, "manager")
    status, _ = post(login("viewer"), cast, "add_note")
    assert status == 200
