"""The outbox in the admin: failures visible with their error, and "retry now"."""

from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from caseloop.conftest import Cast
from caseloop.notify.delivery import deliver_due
from caseloop.notify.models import OutboxMessage, OutboxStatus
from caseloop.notify.tests.conftest import SmtpServer


@pytest.fixture
def failed(cast: Cast, now: datetime, smtp_server: SmtpServer) -> OutboxMessage:
    """The cast's creation email, given up on while the SMTP server was away."""
    smtp_server.stop()
    at = now
    # While the server is away each run tries one email; the others wait their turn.
    for _ in range(20):
        deliver_due(now=at)
        at += timedelta(hours=2)
    message = OutboxMessage.objects.get(case=cast.case, template_event="created")
    assert message.status == OutboxStatus.FAILED
    return message


@pytest.fixture
def admin_client_for(client: Client, cast: Cast) -> Client:
    client.force_login(cast.admin)
    return client


def test_failed_messages_show_their_last_error(
    failed: OutboxMessage, admin_client_for: Client
) -> None:
    response = admin_client_for.get(
        reverse("admin:notify_outboxmessage_changelist"), {"status__exact": "failed"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert failed.last_error.strip().splitlines()[-1][:60] in body


def test_a_failed_message_shows_every_attempt(
    failed: OutboxMessage, admin_client_for: Client
) -> None:
    response = admin_client_for.get(reverse("admin:notify_outboxmessage_change", args=[failed.pk]))
    assert response.content.decode().count("Connection refused") >= 4


def test_retry_now_reschedules_the_chosen_messages(
    failed: OutboxMessage, admin_client_for: Client
) -> None:
    response = admin_client_for.post(
        reverse("admin:notify_outboxmessage_changelist"),
        {"action": "retry_now", "_selected_action": [failed.pk]},
    )
    assert response.status_code == 302
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (OutboxStatus.PENDING, 0)
