"""Inbound email through ``ingest_message``: replies thread onto their case, new messages open
cases, machines and malformed messages change nothing."""

from datetime import datetime

import pytest

from caseloop.cases.models import Case, CaseAttachment, CaseNote, Source, Status
from caseloop.conftest import Cast
from caseloop.customers.models import Channel, Customer, Direction, Interaction
from caseloop.customers.tests.factories import make_customer
from caseloop.notify.inbound import IngestOutcome, ingest_message, strip_quoted
from caseloop.notify.models import InboundMessage, OutboxMessage
from caseloop.notify.queries import list_notifications_for
from caseloop.notify.rendering import REPLY_MARKER
from caseloop.notify.tests.conftest import make_email
from caseloop.notify.tests.factories import make_mailbox

QUOTED_REPLY = f"""Called her back, refund is on its way.

On Mon, 23 Nov 2026 at 09:00, caseloop <notifications@caseloop.test> wrote:
> {REPLY_MARKER}
>
> Olivia assigned this case to you.
"""


@pytest.fixture
def mailbox_cast(cast: Cast) -> Cast:
    make_mailbox(cast.program, cast.store, "support@retail.test")
    return cast


def notification_id(case: Case) -> str:
    return OutboxMessage.objects.filter(case=case).order_by("pk").first().message_id  # type: ignore[union-attr]


def test_owners_reply_to_a_notification_becomes_a_note(cast: Cast, now: datetime) -> None:
    raw = make_email(
        sender=f"Olivia <{cast.owner.email}>",
        to="cases@caseloop.test",
        subject=f"Re: [{cast.case.number}] New case",
        body=QUOTED_REPLY,
        in_reply_to=notification_id(cast.case),
    )
    result = ingest_message(raw, now=now)
    assert (result.outcome, result.case_id) == (IngestOutcome.REPLY_ADDED, cast.case.pk)
    note = CaseNote.objects.get(case=cast.case)
    assert note.author == cast.owner
    assert note.body == "Called her back, refund is on its way."


def test_a_reply_finds_its_case_by_the_address_tag_alone(cast: Cast, now: datetime) -> None:
    raw = make_email(
        sender=cast.owner.email, to=f"cases+{cast.case.number}@caseloop.test", subject="Re: hi"
    )
    assert ingest_message(raw, now=now).case_id == cast.case.pk


def test_a_reply_finds_its_case_by_the_subject_reference(cast: Cast, now: datetime) -> None:
    raw = make_email(
        sender=cast.owner.email, to="cases@caseloop.test", subject=f"Re: [{cast.case.number}] x"
    )
    assert ingest_message(raw, now=now).case_id == cast.case.pk


def test_a_reply_finds_its_case_by_the_thread_root_id(cast: Cast, now: datetime) -> None:
    raw = make_email(
        sender=cast.owner.email,
        to="someone-else@caseloop.test",
        subject="Re: no reference here",
        in_reply_to=f"<case-{cast.case.number}@caseloop.test>",
    )
    assert ingest_message(raw, now=now).case_id == cast.case.pk


def test_the_owners_emailed_note_counts_as_first_activity(cast: Cast, now: datetime) -> None:
    raw = make_email(sender=cast.owner.email, to=f"cases+{cast.case.number}@caseloop.test")
    ingest_message(raw, now=now)
    cast.case.refresh_from_db()
    assert cast.case.status == Status.IN_PROGRESS


def test_a_customers_reply_is_an_inbound_email_on_the_case(cast: Cast, now: datetime) -> None:
    raw = make_email(
        sender=cast.case.customer.email,
        to=f"cases+{cast.case.number}@caseloop.test",
        body="Thanks, but the refund has not arrived yet.",
    )
    result = ingest_message(raw, now=now)
    assert result.outcome == IngestOutcome.REPLY_ADDED
    interaction = Interaction.objects.get(case=cast.case, channel=Channel.EMAIL)
    assert interaction.direction == Direction.INBOUND
    assert interaction.summary == "Thanks, but the refund has not arrived yet."
    assert not CaseNote.objects.filter(case=cast.case).exists()


def test_a_customers_reply_tells_the_owner_in_the_app(cast: Cast, now: datetime) -> None:
    raw = make_email(sender=cast.case.customer.email, to=f"cases+{cast.case.number}@caseloop.test")
    ingest_message(raw, now=now)
    assert list_notifications_for(cast.owner)[0].kind == "email_received"


def test_a_read_only_watchers_reply_is_not_a_note(cast: Cast, now: datetime) -> None:
    raw = make_email(
        sender=cast.limited_watcher.email, to=f"cases+{cast.case.number}@caseloop.test"
    )
    ingest_message(raw, now=now)
    assert not CaseNote.objects.filter(case=cast.case).exists()
    summary = Interaction.objects.get(case=cast.case, channel=Channel.EMAIL).summary
    assert summary.startswith(f"From {cast.limited_watcher.email}")


def test_attachments_of_a_reply_are_kept_on_the_case(cast: Cast, now: datetime) -> None:
    raw = make_email(
        sender=cast.owner.email,
        to=f"cases+{cast.case.number}@caseloop.test",
        attachments=[
            ("receipt.pdf", "application/pdf", b"%PDF-1.4 receipt"),
            ("tool.exe", "application/x-msdownload", b"MZ"),
        ],
    )
    result = ingest_message(raw, now=now)
    attachment = CaseAttachment.objects.get(case=cast.case)
    assert attachment.original_name == "receipt.pdf"
    assert attachment.file.read() == b"%PDF-1.4 receipt"
    assert result.attachments_kept == ("receipt.pdf",)
    assert result.attachments_refused[0].startswith("tool.exe")


def test_new_message_to_a_program_address_opens_a_case_for_a_new_customer(
    mailbox_cast: Cast, now: datetime
) -> None:
    raw = make_email(
        sender="Jane Roe <jane.roe@customer.test>",
        subject="My order never arrived",
        body="Order 4711, three weeks ago.",
    )
    result = ingest_message(raw, now=now)
    assert result.outcome == IngestOutcome.CASE_OPENED
    case = Case.objects.get(pk=result.case_id)
    assert (case.subject, case.description) == (
        "My order never arrived",
        "Order 4711, three weeks ago.",
    )
    assert (case.source, case.unit, case.program) == (
        Source.EMAIL,
        mailbox_cast.store,
        mailbox_cast.program,
    )
    assert (case.customer.name, case.customer.email) == ("Jane Roe", "jane.roe@customer.test")


def test_a_known_customer_is_found_by_address(mailbox_cast: Cast, now: datetime) -> None:
    customer = make_customer(email="Known@Customer.test")
    result = ingest_message(make_email(sender="known@customer.test"), now=now)
    assert Case.objects.get(pk=result.case_id).customer == customer


def test_the_new_case_records_the_email_on_the_customers_timeline(
    mailbox_cast: Cast, now: datetime
) -> None:
    result = ingest_message(make_email(body="Please call me."), now=now)
    interaction = Interaction.objects.get(case_id=result.case_id)
    assert (interaction.channel, interaction.summary) == (Channel.EMAIL, "Please call me.")


def test_an_html_only_message_is_read_as_text(mailbox_cast: Cast, now: datetime) -> None:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = "jane@customer.test"
    message["To"] = "support@retail.test"
    message["Subject"] = "Broken"
    message["Message-ID"] = "<html-only@customer.test>"
    message.set_content(
        "<p>The lid</p><p>is <b>broken</b>.</p><script>x()</script>", subtype="html"
    )
    result = ingest_message(message.as_bytes(), now=now)
    assert Case.objects.get(pk=result.case_id).description == "The lid\n\nis broken."


def test_the_same_message_twice_changes_nothing_the_second_time(
    mailbox_cast: Cast, now: datetime
) -> None:
    raw = make_email(message_id="<once@customer.test>")
    first = ingest_message(raw, now=now)
    second = ingest_message(raw, now=now)
    assert second.outcome == IngestOutcome.DUPLICATE
    assert second.case_id == first.case_id
    assert Case.objects.filter(source=Source.EMAIL).count() == 1


def test_a_message_without_message_id_is_known_again_by_its_bytes(
    mailbox_cast: Cast, now: datetime
) -> None:
    raw = b"From: jane@customer.test\r\nTo: support@retail.test\r\nSubject: Hi\r\n\r\nHello\r\n"
    ingest_message(raw, now=now)
    assert ingest_message(raw, now=now).outcome == IngestOutcome.DUPLICATE


def test_a_customers_follow_up_to_their_own_message_threads_onto_its_case(
    mailbox_cast: Cast, now: datetime
) -> None:
    first = ingest_message(make_email(message_id="<first@customer.test>"), now=now)
    follow_up = make_email(subject="Re: My order", in_reply_to="<first@customer.test>")
    assert ingest_message(follow_up, now=now).case_id == first.case_id


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"X-Autoreply": "yes"},
        {"List-Id": "<news.shop.test>"},
        {"Return-Path": "<>"},
    ],
)
def test_auto_replies_and_bulk_mail_open_no_case(
    mailbox_cast: Cast, now: datetime, headers: dict[str, str]
) -> None:
    result = ingest_message(make_email(subject="Out of office", headers=headers), now=now)
    assert result.outcome == IngestOutcome.IGNORED
    assert not Case.objects.filter(source=Source.EMAIL).exists()


def test_a_bounce_opens_no_case(mailbox_cast: Cast, now: datetime) -> None:
    raw = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.retail.test>\r\n"
        b"To: support@retail.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <bounce-1@mx.retail.test>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nI could not deliver your message.\r\n--b--\r\n"
    )
    result = ingest_message(raw, now=now)
    assert result.outcome == IngestOutcome.IGNORED
    assert InboundMessage.objects.get(message_key="<bounce-1@mx.retail.test>").reason


def test_an_auto_reply_to_a_notification_adds_nothing_to_the_case(
    cast: Cast, now: datetime
) -> None:
    raw = make_email(
        sender=cast.owner.email,
        to=f"cases+{cast.case.number}@caseloop.test",
        subject="Automatic reply: I am on holiday",
        headers={"Auto-Submitted": "auto-replied"},
    )
    assert ingest_message(raw, now=now).outcome == IngestOutcome.IGNORED
    assert not CaseNote.objects.filter(case=cast.case).exists()


def test_our_own_notification_coming_back_is_ignored(mailbox_cast: Cast, now: datetime) -> None:
    raw = make_email(sender="caseloop <notifications@caseloop.test>", subject="[CL-000001] x")
    assert ingest_message(raw, now=now).outcome == IngestOutcome.IGNORED


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\x01\x02 this is not an email at all",
        b"To: support@retail.test\r\nSubject: no sender\r\n\r\nHello\r\n",
        b"From: not an address\r\nTo: support@retail.test\r\n\r\nHello\r\n",
    ],
)
def test_a_malformed_message_is_rejected_and_changes_nothing(
    mailbox_cast: Cast, now: datetime, raw: bytes
) -> None:
    customers = Customer.objects.count()
    result = ingest_message(raw, now=now)
    assert result.outcome == IngestOutcome.REJECTED
    assert result.reason
    assert not InboundMessage.objects.exists()
    assert Customer.objects.count() == customers


def test_an_oversized_message_is_rejected(mailbox_cast: Cast, now: datetime) -> None:
    raw = make_email(body="x" * (1024 * 1024 + 1))
    assert ingest_message(raw, now=now).outcome == IngestOutcome.REJECTED


def test_mail_to_an_address_that_is_not_ours_is_ignored(mailbox_cast: Cast, now: datetime) -> None:
    result = ingest_message(make_email(to="someone@elsewhere.test"), now=now)
    assert result.outcome == IngestOutcome.IGNORED
    assert not Case.objects.filter(source=Source.EMAIL).exists()


def test_a_program_that_takes_no_new_cases_leaves_no_customer_behind(
    mailbox_cast: Cast, now: datetime
) -> None:
    mailbox_cast.program.is_active = False
    mailbox_cast.program.save()
    customers = Customer.objects.count()
    result = ingest_message(make_email(sender="new.person@customer.test"), now=now)
    assert result.outcome == IngestOutcome.IGNORED
    assert Customer.objects.count() == customers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (QUOTED_REPLY, "Called her back, refund is on its way."),
        ("Danke!\n\nAm 23.11.2026 um 09:00 schrieb caseloop <a@b.test>:\n> alt\n", "Danke!"),
        ("Fine.\n\n-----Original Message-----\nFrom: x\nSent: y\n\nold", "Fine."),
        ("Steps:\n- refund issued\n- apology sent", "Steps:\n- refund issued\n- apology sent"),
    ],
)
def test_quoted_history_is_cut_off(text: str, expected: str) -> None:
    assert strip_quoted(text) == expected


def test_a_new_case_from_email_with_an_attachment_stays_new(
    mailbox_cast: Cast, now: datetime
) -> None:
    """Keeping the customer's file is no work on the case: only people start a case."""
    raw = make_email(attachments=[("photo.png", "image/png", b"\x89PNG\r\n\x1a\n")])
    result = ingest_message(raw, now=now)
    case = Case.objects.get(pk=result.case_id)
    assert result.attachments_kept == ("photo.png",)
    assert case.status == Status.NEW
