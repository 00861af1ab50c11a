"""Email delivery through a real SMTP server on loopback: what arrives, to whom, and how the
outbox behaves when the server is away."""

import threading
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr

import pytest
from django.db import connections

from caseloop.cases.models import Case
from caseloop.cases.services import assign_case
from caseloop.cases.tests.factories import make_case
from caseloop.conftest import Cast
from caseloop.notify.delivery import LEASE, _claim, backoff, deliver_due
from caseloop.notify.models import DeliveryAttempt, OutboxKind, OutboxMessage, OutboxStatus
from caseloop.notify.services import queue_customer_email, retry_outbox_now
from caseloop.notify.tests.conftest import (
    FROM_ADDRESS,
    SmtpServer,
    notify_events_of,
)
from caseloop.notify.tests.factories import make_mailbox


def pending_emails() -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(kind=OutboxKind.EMAIL, status=OutboxStatus.PENDING))


def assigned_email(smtp_server: SmtpServer) -> EmailMessage:
    [received] = [r for r in smtp_server.received if "Assigned" in str(r.message["Subject"])]
    return received.message


def plain_addresses(header: object) -> list[str]:
    return sorted(parseaddr(a.strip())[1] for a in str(header or "").split(",") if a.strip())


@pytest.fixture
def assigned(cast: Cast, now: datetime, smtp_server: SmtpServer) -> Case:
    """The cast's case handed to the unit member, its creation mail already delivered."""
    deliver_due(now=now)
    smtp_server.received.clear()
    assign_case(cast.case, actor=cast.manager, owner=cast.member, now=now)
    notify_events_of(cast.case)
    return cast.case


def test_notification_reaches_the_new_owner_with_watchers_in_copy(
    cast: Cast, now: datetime, smtp_server: SmtpServer, assigned: Case
) -> None:
    deliver_due(now=now)
    message = assigned_email(smtp_server)
    assert plain_addresses(message["To"]) == [cast.member.email]
    assert plain_addresses(message["Cc"]) == sorted(
        [cast.owner.email, cast.full_watcher.email, cast.limited_watcher.email]
    )
    assert parseaddr(str(message["From"]))[1] == FROM_ADDRESS


def test_the_smtp_envelope_carries_every_recipient(
    cast: Cast, now: datetime, smtp_server: SmtpServer, assigned: Case
) -> None:
    deliver_due(now=now)
    [received] = smtp_server.received
    assert sorted(received.rcpt_tos) == sorted(
        [cast.member.email, cast.owner.email, cast.full_watcher.email, cast.limited_watcher.email]
    )


def test_the_email_has_a_text_and_an_html_part(
    now: datetime, smtp_server: SmtpServer, assigned: Case
) -> None:
    deliver_due(now=now)
    message = assigned_email(smtp_server)
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and assigned.number in text.get_content()
    assert html is not None and f'href="https://cases.example.test/cases/{assigned.pk}/"' in (
        html.get_content()
    )


def test_the_subject_names_the_case_and_the_new_owner(
    cast: Cast, now: datetime, smtp_server: SmtpServer, assigned: Case
) -> None:
    deliver_due(now=now)
    subject = str(assigned_email(smtp_server)["Subject"])
    assert subject == f"[{assigned.number}] Assigned to {cast.member}: {assigned.subject}"


def test_reply_to_carries_the_case_number(
    now: datetime, smtp_server: SmtpServer, assigned: Case
) -> None:
    deliver_due(now=now)
    reply_to = str(assigned_email(smtp_server)["Reply-To"])
    assert reply_to == f"cases+{assigned.number}@caseloop.test"


def test_reply_to_uses_the_programs_own_address_when_it_has_one(
    cast: Cast, now: datetime, smtp_server: SmtpServer, assigned: Case
) -> None:
    make_mailbox(cast.program, cast.store, "help@store.test")
    deliver_due(now=now)
    reply_to = str(assigned_email(smtp_server)["Reply-To"])
    assert reply_to == f"help+{assigned.number}@store.test"


def test_message_id_is_the_one_stored_and_mail_loops_are_prevented(
    now: datetime, smtp_server: SmtpServer, assigned: Case
) -> None:
    row = OutboxMessage.objects.get(case=assigned, template_event="assigned")
    deliver_due(now=now)
    message = assigned_email(smtp_server)
    assert str(message["Message-ID"]) == row.message_id
    assert str(message["Auto-Submitted"]) == "auto-generated"
    assert str(message["References"]) == f"<case-{assigned.number}@caseloop.test>"


def test_customer_text_is_escaped_in_the_html_body(
    cast: Cast, now: datetime, smtp_server: SmtpServer
) -> None:
    case = make_case(
        program=cast.program, unit=cast.store, now=now, verbatim="<script>alert(1)</script>"
    )
    notify_events_of(case)
    deliver_due(now=now)
    [received] = [r for r in smtp_server.received if case.number in str(r.message["Subject"])]
    html = received.message.get_body(("html",))
    assert html is not None
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html.get_content()
    assert "<script>" not in html.get_content()


def test_a_delivered_message_is_marked_sent_with_its_attempt(
    now: datetime, smtp_server: SmtpServer, assigned: Case
) -> None:
    deliver_due(now=now)
    row = OutboxMessage.objects.get(case=assigned, template_event="assigned")
    assert (row.status, row.sent_at, row.next_attempt_at) == (OutboxStatus.SENT, now, None)
    [attempt] = DeliveryAttempt.objects.filter(message=row)
    assert attempt.succeeded


def test_outbox_survives_an_smtp_outage_and_delivers_every_message_once(
    cast: Cast, now: datetime, smtp_server: SmtpServer
) -> None:
    deliver_due(now=now)
    smtp_server.received.clear()
    cases = [make_case(program=cast.program, unit=cast.store, now=now) for _ in range(4)]
    for case in cases:
        notify_events_of(case)
    smtp_server.stop()
    for minutes in range(0, 10, 2):
        deliver_due(now=now + timedelta(minutes=minutes))
    assert len(pending_emails()) == 4
    smtp_server.start()
    later = now + timedelta(hours=2)
    deliver_due(now=later)
    deliver_due(now=later + timedelta(hours=1))
    ids = [str(r.message["Message-ID"]) for r in smtp_server.received]
    assert sorted(ids) == sorted(
        OutboxMessage.objects.filter(case__in=cases).values_list("message_id", flat=True)
    )
    assert pending_emails() == []


def test_while_smtp_is_down_a_message_waits_longer_after_each_failure(
    now: datetime, smtp_server: SmtpServer, assigned: Case
) -> None:
    smtp_server.stop()
    deliver_due(now=now)
    row = OutboxMessage.objects.get(case=assigned, template_event="assigned")
    assert row.next_attempt_at == now + timedelta(seconds=30)
    deliver_due(now=now + timedelta(seconds=30))
    row.refresh_from_db()
    assert row.next_attempt_at == now + timedelta(seconds=30 + 60)
    assert row.attempts == 2
    assert "Connection refused" in row.last_error or "refused" in row.last_error.lower()


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(50) == timedelta(hours=1)


def test_delivery_gives_up_after_the_attempt_limit_with_the_error_kept(
    now: datetime, smtp_server: SmtpServer, assigned: Case
) -> None:
    smtp_server.stop()
    at = now
    for _ in range(6):
        deliver_due(now=at)
        at += timedelta(hours=2)
    row = OutboxMessage.objects.get(case=assigned, template_event="assigned")
    assert row.status == OutboxStatus.FAILED
    assert row.attempts == 4
    assert DeliveryAttempt.objects.filter(message=row, succeeded=False).count() == 4
    assert row.last_error


def test_retry_now_sends_a_failed_message_again(
    now: datetime, smtp_server: SmtpServer, assigned: Case
) -> None:
    smtp_server.stop()
    at = now
    for _ in range(5):
        deliver_due(now=at)
        at += timedelta(hours=2)
    row = OutboxMessage.objects.get(case=assigned, template_event="assigned")
    smtp_server.start()
    assert retry_outbox_now([row.pk], now=at) == 1
    deliver_due(now=at)
    row.refresh_from_db()
    assert row.status == OutboxStatus.SENT
    assert len(smtp_server.received) == 1


def test_a_permanent_refusal_gives_up_at_once(
    cast: Cast, now: datetime, smtp_server: SmtpServer, assigned: Case
) -> None:
    smtp_server.catcher.refuse.update(
        {cast.member.email, cast.owner.email, cast.full_watcher.email, cast.limited_watcher.email}
    )
    deliver_due(now=now)
    row = OutboxMessage.objects.get(case=assigned, template_event="assigned")
    assert row.status == OutboxStatus.FAILED
    assert row.attempts == 1
    assert "550" in row.last_error


def test_a_claim_of_a_killed_worker_falls_due_after_the_lease(
    now: datetime, smtp_server: SmtpServer, assigned: Case
) -> None:
    row = OutboxMessage.objects.get(case=assigned, template_event="assigned")
    assert _claim(row.pk, row.next_attempt_at, now)
    deliver_due(now=now + LEASE - timedelta(seconds=1))
    assert smtp_server.received == []
    deliver_due(now=now + LEASE)
    assert len(smtp_server.received) == 1


def test_a_remeasurement_request_goes_to_the_customer_alone(
    cast: Cast, now: datetime, smtp_server: SmtpServer
) -> None:
    deliver_due(now=now)
    smtp_server.received.clear()
    queue_customer_email(
        cast.case,
        template_event="remeasurement_request",
        dedup_key=f"remeasure:{cast.case.pk}:1",
        survey={"url": "https://cases.example.test/s/abc", "expires_at": now + timedelta(days=7)},
        now=now,
    )
    deliver_due(now=now)
    [received] = smtp_server.received
    assert received.rcpt_tos == [cast.case.customer.email]
    text = received.message.get_body(("plain",))
    assert text is not None and "https://cases.example.test/s/abc" in text.get_content()
    assert received.message["Reply-To"] is None


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_never_send_the_same_message_twice(
    cast: Cast, now: datetime, smtp_server: SmtpServer
) -> None:
    cases = [make_case(program=cast.program, unit=cast.store, now=now) for _ in range(6)]
    for case in cases:
        notify_events_of(case)
    expected = OutboxMessage.objects.filter(status=OutboxStatus.PENDING).count()
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            deliver_due(now=now, batch_size=3)
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    ids = [str(r.message["Message-ID"]) for r in smtp_server.received]
    assert len(ids) == expected
    assert len(set(ids)) == expected
