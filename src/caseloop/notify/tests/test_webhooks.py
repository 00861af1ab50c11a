"""Webhooks: signed JSON POSTs to a real HTTP server on loopback, retried like email."""

import hashlib
import hmac
import json
from datetime import datetime, timedelta

import pytest

from caseloop.cases.services import add_note, assign_case
from caseloop.conftest import Cast
from caseloop.errors import InvalidInput
from caseloop.notify.delivery import deliver_due
from caseloop.notify.models import OutboxKind, OutboxMessage, OutboxStatus
from caseloop.notify.tests.conftest import HookServer, notify_events_of
from caseloop.notify.tests.factories import make_subscription
from caseloop.notify.webhooks import sign, verify_signature

SECRET = "s3cret-for-tests"


def webhooks() -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(kind=OutboxKind.WEBHOOK).order_by("pk"))


def test_a_subscription_gets_a_signed_json_post_per_event(
    cast: Cast, now: datetime, hook_server: HookServer
) -> None:
    make_subscription(cast.program, hook_server.url, ["assigned"])
    assign_case(cast.case, actor=cast.manager, owner=cast.member, now=now)
    notify_events_of(cast.case)
    deliver_due(now=now)
    [request] = hook_server.requests
    timestamp = request.headers["X-Caseloop-Timestamp"]
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256)
    assert request.headers["X-Caseloop-Signature"] == f"sha256={expected.hexdigest()}"
    assert request.headers["Content-Type"] == "application/json"


def test_the_payload_describes_the_event_and_the_case(
    cast: Cast, now: datetime, hook_server: HookServer
) -> None:
    make_subscription(cast.program, hook_server.url, ["assigned"])
    assign_case(cast.case, actor=cast.manager, owner=cast.member, now=now)
    notify_events_of(cast.case)
    deliver_due(now=now)
    body = json.loads(hook_server.requests[0].body)
    assert body["type"] == "case.assigned"
    assert body["case"]["number"] == cast.case.number
    assert body["case"]["owner"]["id"] == cast.member.pk
    assert body["data"]["previous_owner"] == cast.owner.pk
    assert body["id"] == hook_server.requests[0].headers["X-Caseloop-Delivery"]


def test_a_subscription_gets_only_the_events_it_asked_for(
    cast: Cast, now: datetime, hook_server: HookServer
) -> None:
    make_subscription(cast.program, hook_server.url, ["closed"])
    add_note(cast.case, actor=cast.owner, body="Called.", now=now)
    notify_events_of(cast.case)
    assert webhooks() == []


def test_a_subscription_without_events_gets_every_event(
    cast: Cast, now: datetime, hook_server: HookServer
) -> None:
    make_subscription(cast.program, hook_server.url)
    add_note(cast.case, actor=cast.owner, body="Called.", now=now)
    notify_events_of(cast.case)
    assert {w.payload["type"] for w in webhooks()} >= {"case.note_added", "case.started"}


def test_a_server_error_is_retried_with_the_same_delivery_id(
    cast: Cast, now: datetime, hook_server: HookServer
) -> None:
    make_subscription(cast.program, hook_server.url, ["assigned"])
    assign_case(cast.case, actor=cast.manager, owner=cast.member, now=now)
    notify_events_of(cast.case)
    hook_server.statuses = [503]
    deliver_due(now=now)
    [row] = webhooks()
    row.refresh_from_db()
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 1)
    deliver_due(now=now + timedelta(seconds=30))
    row.refresh_from_db()
    assert row.status == OutboxStatus.SENT
    first, second = hook_server.requests
    assert first.headers["X-Caseloop-Delivery"] == second.headers["X-Caseloop-Delivery"]


def test_a_client_error_gives_up_at_once(
    cast: Cast, now: datetime, hook_server: HookServer
) -> None:
    make_subscription(cast.program, hook_server.url, ["assigned"])
    assign_case(cast.case, actor=cast.manager, owner=cast.member, now=now)
    notify_events_of(cast.case)
    hook_server.statuses = [410]
    deliver_due(now=now)
    [row] = webhooks()
    assert row.status == OutboxStatus.FAILED
    assert "HTTP 410" in row.last_error


def test_a_switched_off_subscription_cancels_its_waiting_deliveries(
    cast: Cast, now: datetime, hook_server: HookServer
) -> None:
    subscription = make_subscription(cast.program, hook_server.url, ["assigned"])
    assign_case(cast.case, actor=cast.manager, owner=cast.member, now=now)
    notify_events_of(cast.case)
    subscription.is_active = False
    subscription.save()
    deliver_due(now=now)
    assert webhooks()[0].status == OutboxStatus.CANCELLED
    assert hook_server.requests == []


def test_a_genuine_signature_verifies() -> None:
    body, at = b'{"a":1}', datetime(2026, 11, 23, 9, 0).astimezone()
    timestamp = int(at.timestamp())
    assert verify_signature(SECRET, body, str(timestamp), sign(SECRET, timestamp, body), now=at)


def test_a_changed_body_fails_verification() -> None:
    at = datetime(2026, 11, 23, 9, 0).astimezone()
    timestamp = int(at.timestamp())
    signature = sign(SECRET, timestamp, b'{"a":1}')
    assert not verify_signature(SECRET, b'{"a":2}', str(timestamp), signature, now=at)


def test_an_old_delivery_fails_verification() -> None:
    at = datetime(2026, 11, 23, 9, 0).astimezone()
    timestamp = int(at.timestamp())
    signature = sign(SECRET, timestamp, b"{}")
    later = at + timedelta(minutes=10)
    assert not verify_signature(SECRET, b"{}", str(timestamp), signature, now=later)


def test_another_secret_fails_verification() -> None:
    at = datetime(2026, 11, 23, 9, 0).astimezone()
    timestamp = int(at.timestamp())
    signature = sign("other", timestamp, b"{}")
    assert not verify_signature(SECRET, b"{}", str(timestamp), signature, now=at)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.test/x", "example.test"])
def test_a_subscription_must_point_to_http(cast: Cast, url: str) -> None:
    with pytest.raises(InvalidInput, match="URL"):
        make_subscription(cast.program, url)


def test_a_subscription_may_not_name_unknown_events(cast: Cast) -> None:
    with pytest.raises(InvalidInput, match="Unknown event kinds: exploded"):
        make_subscription(cast.program, "https://crm.example.test/hook", ["exploded"])
