"""The case page: everything needed to act, controls only for those who may use them, user text
shown as text, and a case out of reach is a 404."""

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoAssertNumQueries

from caseloop.cases import services
from caseloop.cases.models import ContactOutcome, Source
from caseloop.cases.tests.factories import make_case
from caseloop.conftest import Cast
from caseloop.customers.models import Channel, Direction, Transaction
from caseloop.customers.services import record_interaction
from caseloop.customers.tests.factories import make_customer
from caseloop.sla.services import sweep_deadlines

pytestmark = pytest.mark.django_db

Login = Callable[[str], Client]

WRITERS = ["owner", "full_watcher", "manager", "admin"]
READERS = ["limited_watcher", "viewer", "member"]
ACTION_URL_NAMES = [
    "add_note",
    "attach_file",
    "log_contact_attempt",
    "complete_task",
    "assign_case",
    "add_watcher",
    "remove_watcher",
    "close_case",
]


def page(client: Client, cast: Cast) -> str:
    response = client.get(reverse("web:case", args=[cast.case.pk]))
    assert response.status_code == 200
    return response.content.decode()


def action_forms(html: str, cast: Cast) -> list[str]:
    """The case actions the page offers, by URL name."""
    prefix = f"/cases/{cast.case.pk}/"
    found = []
    for name in [*ACTION_URL_NAMES, "reopen_case", "undo_task"]:
        marker = {
            "add_note": f'action="{prefix}notes/"',
            "attach_file": f'action="{prefix}files/"',
            "log_contact_attempt": f'action="{prefix}contact-attempts/"',
            "complete_task": "/done/",
            "undo_task": "/undone/",
            "assign_case": f'action="{prefix}owner/"',
            "add_watcher": f'action="{prefix}watchers/"',
            "remove_watcher": "/remove/",
            "close_case": f'action="{prefix}close/"',
            "reopen_case": f'action="{prefix}reopen/"',
        }[name]
        if marker in html:
            found.append(name)
    return found


def test_customer_contacts_are_click_to_call_and_mail(login: Login, cast: Cast) -> None:
    html = page(login("owner"), cast)
    customer = cast.case.customer
    assert f'href="tel:{customer.phone}"' in html
    assert f'href="mailto:{customer.email}?subject=' in html
    assert reverse("web:customer", args=[customer.pk]) in html


def test_deadlines_show_time_left(login: Login, cast: Cast) -> None:
    html = page(login("owner"), cast)
    assert "23h 0m left" in html  # start by: one business day after opening, an hour later
    assert "2d 23h left" in html


def test_survey_verbatim_and_alert_reason_are_shown(
    login: Login, cast: Cast, now: datetime
) -> None:
    case = make_case(
        program=cast.program,
        unit=cast.store,
        now=now,
        source=Source.SURVEY,
        verbatim="Nobody called me back.",
        # What the survey intake records (intake.alerts.Alert.reason).
        alert_reason={
            "rule": "Concern raised",
            "rule_id": 7,
            "expression": "concern == true || q_overall <= 6",
            "values": {"concern": True, "q_overall": 3},
            "response": {"source": "survey-platform", "external_id": "R-981"},
        },
    )
    html = login("owner").get(reverse("web:case", args=[case.pk])).content.decode()
    assert "Nobody called me back." in html
    assert "from their survey answer" in html
    assert "<dt>Alert rule</dt><dd>Concern raised</dd>" in html
    assert "<dt>Answers that fired it</dt><dd>concern = yes, q_overall = 3</dd>" in html
    assert "<dt>Survey response</dt><dd>survey-platform R-981</dd>" in html
    assert "Rule id" not in html


def test_verbatim_and_alert_reason_come_before_the_rest_of_the_case(
    login: Login, cast: Cast, now: datetime
) -> None:
    case = make_case(
        program=cast.program,
        unit=cast.store,
        now=now,
        source=Source.SURVEY,
        verbatim="Nobody called me back.",
        alert_reason={"rule": "Concern raised"},
    )
    html = login("owner").get(reverse("web:case", args=[case.pk])).content.decode()
    reason, verbatim = html.index("Concern raised"), html.index("Nobody called me back.")
    assert max(reason, verbatim) < html.index('class="case__layout"')


def test_transaction_is_shown(login: Login, cast: Cast, now: datetime) -> None:
    customer = make_customer()
    purchase = Transaction.objects.create(
        customer=customer, occurred_at=now, kind="purchase", reference="R-778", amount="12.50"
    )
    case = make_case(
        program=cast.program, unit=cast.store, customer=customer, transaction_record=purchase
    )
    html = login("owner").get(reverse("web:case", args=[case.pk])).content.decode()
    assert "purchase · R-778" in html
    assert "12.50" in html


def test_owner_and_watchers_with_their_access_are_shown(login: Login, cast: Cast) -> None:
    html = page(login("owner"), cast)
    assert f'<dd class="owner">{cast.owner}</dd>' in html
    assert f"<span>{cast.full_watcher}</span>" in html
    assert f"<span>{cast.limited_watcher}</span>" in html
    assert "Read only" in html


def test_playbook_checklist_is_shown(login: Login, cast: Cast) -> None:
    html = page(login("owner"), cast)
    assert "Call the customer" in html
    assert "0 of 2 done" in html


def test_timeline_tells_notes_contacts_files_and_closing(
    login: Login, cast: Cast, clock: datetime
) -> None:
    case, owner = cast.case, cast.owner
    services.add_note(case, actor=owner, body="Spoke to the store manager", now=clock)
    services.log_contact_attempt(
        case, actor=owner, outcome=ContactOutcome.LEFT_MESSAGE, note="voicemail", now=clock
    )
    upload = SimpleUploadedFile("receipt.pdf", b"%PDF-1.4", content_type="application/pdf")
    attachment = services.attach_file(case, actor=owner, upload=upload, now=clock)
    services.close_case(
        case,
        actor=owner,
        closing_status_id=cast.program.closing_statuses.get(code="resolved").pk,
        root_cause_ids=[cast.program.root_causes.get(code="staff").pk],
        final_note="Apologised and refunded",
        now=clock,
    )
    html = page(login("owner"), cast)
    for text in (
        "Spoke to the store manager",
        "Left a message",
        "voicemail",
        reverse("web:attachment", args=[case.pk, attachment.pk]),
        "receipt.pdf",
        "Apologised and refunded",
        "Staff behaviour",
    ):
        assert text in html


def test_inbound_email_appears_on_the_timeline(login: Login, cast: Cast, clock: datetime) -> None:
    record_interaction(
        customer=cast.case.customer,
        channel=Channel.EMAIL,
        direction=Direction.INBOUND,
        summary="Any news on my refund?",
        case_id=cast.case.pk,
        occurred_at=clock,
    )
    html = page(login("owner"), cast)
    assert "Any news on my refund?" in html
    assert "Email from the customer" in html


def test_contact_attempt_is_on_the_timeline_once(login: Login, cast: Cast, clock: datetime) -> None:
    services.log_contact_attempt(
        cast.case, actor=cast.owner, outcome=ContactOutcome.NO_ANSWER, note="rang twice", now=clock
    )
    assert page(login("owner"), cast).count("rang twice") == 1


def test_user_written_html_is_shown_as_text(login: Login, cast: Cast, clock: datetime) -> None:
    services.add_note(
        cast.case, actor=cast.owner, body="<script>alert('x')</script><b>bold</b>", now=clock
    )
    html = page(login("owner"), cast)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in html


def test_verbatim_with_markup_is_shown_as_text(login: Login, cast: Cast, now: datetime) -> None:
    case = make_case(
        program=cast.program,
        unit=cast.store,
        now=now,
        verbatim='<img src=x onerror="alert(1)">',
        subject="<i>subject</i>",
        customer=make_customer(name="<b>Eve</b>"),
    )
    html = login("owner").get(reverse("web:case", args=[case.pk])).content.decode()
    assert "<img src=x" not in html
    assert "<i>subject</i>" not in html
    assert "<b>Eve</b>" not in html
    assert "&lt;b&gt;Eve&lt;/b&gt;" in html


@pytest.mark.parametrize("role", WRITERS)
def test_those_who_may_act_get_every_control(login: Login, cast: Cast, role: str) -> None:
    assert action_forms(page(login(role), cast), cast) == ACTION_URL_NAMES


@pytest.mark.parametrize("role", READERS)
def test_readers_get_no_control_at_all(login: Login, cast: Cast, role: str) -> None:
    html = page(login(role), cast)
    assert action_forms(html, cast) == []
    assert 'method="post"' not in html.split('<main id="main"', 1)[1]
    assert "You can read this case but not change it." in html


def test_closed_case_offers_reopen_and_notes_but_not_close(
    login: Login, cast: Cast, clock: datetime
) -> None:
    services.close_case(
        cast.case,
        actor=cast.owner,
        closing_status_id=cast.program.closing_statuses.get(code="resolved").pk,
        root_cause_ids=[cast.program.root_causes.first().pk],
        final_note="Done",
        now=clock,
    )
    offered = action_forms(page(login("owner"), cast), cast)
    assert offered == ["add_note", "add_watcher", "remove_watcher", "reopen_case"]


def test_done_task_offers_to_untick(login: Login, cast: Cast, clock: datetime) -> None:
    task = cast.case.tasks.first()
    services.complete_task(cast.case, actor=cast.owner, task_id=task.pk, now=clock)
    html = page(login("owner"), cast)
    assert reverse("web:undo_task", args=[cast.case.pk, task.pk]) in html
    assert "1 of 2 done" in html


def test_outsider_gets_404(login: Login, cast: Cast) -> None:
    response = login("outsider").get(reverse("web:case", args=[cast.case.pk]))
    assert response.status_code == 404


def test_missing_case_is_404(login: Login, cast: Cast) -> None:
    assert login("owner").get(reverse("web:case", args=[999999])).status_code == 404


def test_htmx_request_gets_only_the_case_part(login: Login, cast: Cast) -> None:
    response = login("owner").get(reverse("web:case", args=[cast.case.pk]), HTTP_HX_REQUEST="true")
    assert response.content.decode().lstrip().startswith('<div id="case"')


def test_reader_downloads_an_attachment(login: Login, cast: Cast, clock: datetime) -> None:
    upload = SimpleUploadedFile("receipt.pdf", b"%PDF-1.4 data", content_type="application/pdf")
    attachment = services.attach_file(cast.case, actor=cast.owner, upload=upload, now=clock)
    response = login("limited_watcher").get(
        reverse("web:attachment", args=[cast.case.pk, attachment.pk])
    )
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="receipt.pdf"'
    assert b"".join(response.streaming_content) == b"%PDF-1.4 data"


def test_outsider_cannot_download_an_attachment(login: Login, cast: Cast, clock: datetime) -> None:
    upload = SimpleUploadedFile("receipt.pdf", b"%PDF-1.4", content_type="application/pdf")
    attachment = services.attach_file(cast.case, actor=cast.owner, upload=upload, now=clock)
    response = login("outsider").get(reverse("web:attachment", args=[cast.case.pk, attachment.pk]))
    assert response.status_code == 404


def test_attachment_of_another_case_is_404(login: Login, cast: Cast, clock: datetime) -> None:
    other = make_case(program=cast.program, unit=cast.store, now=clock)
    upload = SimpleUploadedFile("receipt.pdf", b"%PDF-1.4", content_type="application/pdf")
    attachment = services.attach_file(other, actor=cast.owner, upload=upload, now=clock)
    response = login("owner").get(reverse("web:attachment", args=[cast.case.pk, attachment.pk]))
    assert response.status_code == 404


def test_case_page_query_count_does_not_grow_with_its_history(
    login: Login,
    cast: Cast,
    clock: datetime,
    django_assert_max_num_queries: DjangoAssertNumQueries,
) -> None:
    client = login("owner")
    services.add_note(cast.case, actor=cast.owner, body="first", now=clock)
    with django_assert_max_num_queries(40) as few:
        page(client, cast)
    for n in range(12):
        services.add_note(cast.case, actor=cast.owner, body=f"note {n}", now=clock)
        services.log_contact_attempt(
            cast.case, actor=cast.owner, outcome=ContactOutcome.NO_ANSWER, now=clock
        )
    with django_assert_max_num_queries(len(few)):
        html = page(client, cast)
    assert "note 11" in html


def test_escalation_shows_the_missed_deadline_and_the_designee(
    client: Client, cast: Cast, now: datetime
) -> None:
    sweep_deadlines(now=now + timedelta(days=1, minutes=1))  # the start deadline passed
    with time_machine.travel(now + timedelta(days=1, hours=1), tick=False):
        client.force_login(cast.owner)
        html = page(client, cast)
    assert "Escalated" in html
    assert "start deadline missed" in html
    assert f"to {cast.manager}" in html


def test_transfer_shows_the_new_unit(login: Login, cast: Cast, clock: datetime) -> None:
    services.transfer_case(
        cast.case, actor=None, unit=cast.other_store, owner=cast.owner, now=clock
    )
    html = page(login("owner"), cast)
    assert "Moved to another unit" in html
    assert f"to {cast.other_store}" in html
