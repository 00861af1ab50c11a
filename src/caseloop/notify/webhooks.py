"""Webhook deliveries: a JSON POST signed with HMAC-SHA256, and the check a receiver makes.

The signature covers the timestamp and the exact body bytes: ``X-Caseloop-Signature:
sha256=<hex of HMAC(secret, "<timestamp>.<body>")>``, with ``X-Caseloop-Timestamp`` (Unix
seconds) so that a receiver can refuse old replays, and ``X-Caseloop-Delivery``, the id that
stays the same on every retry of one delivery so that a receiver can drop repeats.
"""

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from caseloop.notify.models import WebhookSubscription

SIGNATURE_HEADER = "X-Caseloop-Signature"
TIMESTAMP_HEADER = "X-Caseloop-Timestamp"
DELIVERY_HEADER = "X-Caseloop-Delivery"
EVENT_HEADER = "X-Caseloop-Event"
DEFAULT_TOLERANCE_SECONDS = 300
# Client errors that mean "try later" rather than "never".
RETRYABLE_CLIENT_ERRORS = frozenset({408, 409, 425, 429})


class WebhookRejected(Exception):
    """The receiver refused the delivery for good (a 4xx answer, or a redirect)."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    secret: str,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    now: datetime | None = None,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """Whether a received webhook is genuine and recent: the signature matches (compared in
    constant time) and the timestamp is within ``tolerance_seconds`` of ``now``."""
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = int((now or timezone.now()).timestamp())
    if abs(current - sent_at) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, sent_at, body), signature or "")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect would resend the signed body somewhere the administrator never configured.
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def encode_payload(payload: Mapping[str, object]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()


def post_webhook(
    subscription: WebhookSubscription,
    payload: Mapping[str, object],
    delivery_id: str,
    *,
    now: datetime | None = None,
) -> str:
    """POST ``payload`` to the subscription's URL; returns the answer's status line.

    Raises ``WebhookRejected`` for a refusal that retrying cannot fix, and any other error
    (timeout, refused connection, 5xx) for the worker to retry.
    """
    if not subscription.url.lower().startswith(("https://", "http://")):
        # urllib would also open file:// and ftp:// URLs.
        raise WebhookRejected(f"Only http(s) URLs are delivered to, not {subscription.url!r}.")
    body = encode_payload(payload)
    timestamp = int((now or timezone.now()).timestamp())
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked just above
        subscription.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "caseloop-webhooks",
            EVENT_HEADER: str(payload.get("type", "")),
            DELIVERY_HEADER: delivery_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(subscription.secret, timestamp, body),
        },
    )
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=settings.CASELOOP_WEBHOOK_TIMEOUT) as response:
            return f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        status = error.code
        error.close()
        if (300 <= status < 500) and status not in RETRYABLE_CLIENT_ERRORS:
            raise WebhookRejected(f"HTTP {status} from {subscription.url}") from None
        raise
