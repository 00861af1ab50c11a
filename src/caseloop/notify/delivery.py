"""The outbox worker: deliver due messages, retry with exponential backoff, give up visibly.

Each due row is claimed on its own by a conditional UPDATE that moves ``next_attempt_at`` one
lease ahead and must touch exactly one row (the row must still be pending and still due at the
instant this worker read). Two workers racing for a row: the database lets one UPDATE match,
the other touches nothing and moves on. A worker killed after its claim leaves a row that falls
due again when the lease ends, so nothing is lost; at worst it is sent twice, and the receiver
recognises the repeat by its Message-ID or delivery id.
"""

import logging
import smtplib
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from caseloop.cases.models import Case, CaseEvent
from caseloop.notify.models import (
    DeliveryAttempt,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    ProgramMailbox,
)
from caseloop.notify.rendering import TemplateProblem, build_context, render_email, template_for
from caseloop.notify.webhooks import WebhookRejected, post_webhook

logger = logging.getLogger("caseloop.notify")

LEASE = timedelta(minutes=5)
DEFAULT_BATCH_SIZE = 100
# One run of the duty stops taking new rows after this long, so it ends well inside its lease.
RUN_BUDGET_SECONDS = 60.0


@dataclass
class DeliveryResult:
    """What one call of ``deliver_due`` did."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    gave_up: int = 0
    cancelled: int = 0


class _Cancel(Exception):
    """The message can never be delivered (its case is gone, its subscription removed)."""


class _Permanent(Exception):
    """The receiving side refused for good; retrying would only repeat the refusal."""


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failure: the base doubled each time, capped."""
    base = settings.CASELOOP_OUTBOX_BACKOFF_SECONDS
    cap = settings.CASELOOP_OUTBOX_BACKOFF_MAX_SECONDS
    return timedelta(seconds=min(cap, base * 2 ** max(attempts - 1, 0)))


def _claim(pk: int, seen_due: datetime, at: datetime) -> bool:
    claimed = OutboxMessage.objects.filter(
        pk=pk, status=OutboxStatus.PENDING, next_attempt_at=seen_due
    ).update(next_attempt_at=at + LEASE, attempts=F("attempts") + 1)
    return claimed == 1


def _reply_to(message: OutboxMessage, case: Case) -> str:
    """The address a reply goes to: the program's mailbox (or the general reply address) with
    the case number added, so the reply finds its case even without its threading headers."""
    mailbox = ProgramMailbox.objects.filter(program_id=case.program_id, is_active=True).first()
    base = mailbox.address if mailbox else settings.CASELOOP_REPLY_ADDRESS
    local, _, domain = base.partition("@")
    return f"{local}+{case.number}@{domain}"


def _account_email(message: OutboxMessage, content: dict[str, str]) -> EmailMultiAlternatives:
    if not content.get("text"):
        raise _Cancel("The account email was blanked before it was sent.")
    email = EmailMultiAlternatives(
        subject=content.get("subject", ""),
        body=content["text"],
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(message.recipients.get("to") or []),
        headers={
            "Message-ID": message.message_id,
            "Auto-Submitted": "auto-generated",
            "X-Auto-Response-Suppress": "All",
            "X-Caseloop-Delivery": message.dedup_key,
        },
    )
    if content.get("html"):
        email.attach_alternative(content["html"], "text/html")
    return email


def build_email(message: OutboxMessage, *, now: datetime) -> EmailMultiAlternatives:
    """Render the message's template for its case now and put the email together; an email
    about a user's account comes rendered already."""
    account_mail = message.payload.get("account_mail")
    if isinstance(account_mail, dict):
        return _account_email(message, account_mail)
    case = (
        Case.objects.select_related(
            "program", "case_type", "unit", "owner", "customer", "transaction", "closing_status"
        )
        .filter(pk=message.case_id)
        .first()
    )
    if case is None:
        raise _Cancel("The case no longer exists.")
    source = template_for(case.program_id, message.template_event)
    if source is None:
        raise _Cancel("The program has turned this email off.")
    event = (
        CaseEvent.objects.select_related("actor").filter(pk=message.event_id).first()
        if message.event_id
        else None
    )
    survey = dict(message.payload.get("survey") or {})
    if isinstance(survey.get("expires_at"), str):
        survey["expires_at"] = parse_datetime(survey["expires_at"])
    customer_mail = bool(message.payload.get("customer_mail"))
    context = build_context(
        case,
        event,
        recipient_name=case.customer.name if customer_mail else "",
        survey=survey,
        now=now,
    )
    rendered = render_email(source, context)
    domain = message.message_id.rpartition("@")[2].rstrip(">")
    headers = {
        "Message-ID": message.message_id,
        # Every mail about one case forms one thread in the reader's mail program.
        "References": f"<case-{case.number}@{domain}>",
        "In-Reply-To": f"<case-{case.number}@{domain}>",
        # RFC 3834: out-of-office robots must not answer, and our own inbound path ignores
        # anything so marked, so a notification can never start a mail loop.
        "Auto-Submitted": "auto-generated",
        "X-Auto-Response-Suppress": "All",
        "X-Caseloop-Delivery": message.dedup_key,
    }
    email = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(message.recipients.get("to") or []),
        cc=list(message.recipients.get("cc") or []),
        reply_to=[] if customer_mail else [_reply_to(message, case)],
        headers=headers,
    )
    if rendered.html:
        email.attach_alternative(rendered.html, "text/html")
    return email


def _is_permanent_smtp(error: Exception) -> bool:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    if isinstance(error, smtplib.SMTPResponseException):
        return 500 <= error.smtp_code < 600 and error.smtp_code not in (503, 530, 535)
    return False


class _Sender:
    """Sends one run's messages, over one SMTP connection opened when the first email goes."""

    def __init__(self) -> None:
        self._smtp: BaseEmailBackend | None = None
        self.smtp_down = False

    def send(self, message: OutboxMessage, at: datetime) -> str:
        if message.kind == OutboxKind.EMAIL:
            return self._send_email(message, at)
        if message.kind == OutboxKind.WEBHOOK:
            subscription = message.subscription
            if subscription is None or not subscription.is_active:
                raise _Cancel("The webhook subscription was removed or switched off.")
            try:
                return post_webhook(subscription, message.payload, message.message_id)
            except WebhookRejected as error:
                raise _Permanent(str(error)) from None
        raise _Cancel(f"Unknown outbox kind {message.kind!r}.")

    def _send_email(self, message: OutboxMessage, at: datetime) -> str:
        email = build_email(message, now=at)
        if self._smtp is None:
            self._smtp = get_connection(fail_silently=False)
        email.connection = self._smtp
        try:
            email.send()
        except (smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected):
            self._down()
            raise
        except smtplib.SMTPException as error:
            self.close()
            if _is_permanent_smtp(error):
                raise _Permanent(f"{type(error).__name__}: {error}") from None
            raise
        except OSError:
            # Refused, unreachable, timed out (SMTPException is an OSError too: caught above).
            self._down()
            raise
        return f"accepted for {len(email.recipients())} recipient(s)"

    def _down(self) -> None:
        # The server cannot be reached: the rest of this run's mail would fail the same way,
        # so it waits for the next run instead of each message spending an attempt.
        self.smtp_down = True
        self.close()

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            except (OSError, smtplib.SMTPException):
                logger.debug("Closing the SMTP connection failed.", exc_info=True)
            self._smtp = None


def _record(
    message: OutboxMessage,
    started_at: datetime,
    finished_at: datetime,
    outcome: str,
    detail: str,
    error: str,
) -> str:
    """Keep the attempt and move the row on; returns the row's new state for the tally.

    Every update requires the row to be still pending: a worker whose lease ran out must not
    turn a message another worker has since delivered back into a pending one.
    """
    pending = OutboxMessage.objects.filter(pk=message.pk, status=OutboxStatus.PENDING)
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            message=message,
            number=message.attempts,
            started_at=started_at,
            finished_at=finished_at,
            succeeded=outcome == "sent",
            detail=detail[:500],
            error=error,
        )
        if outcome == "sent":
            pending.update(
                status=OutboxStatus.SENT,
                sent_at=finished_at,
                next_attempt_at=None,
                last_error="",
                payload=_without_secrets(message.payload),
            )
            return "sent"
        if outcome == "cancelled":
            pending.update(status=OutboxStatus.CANCELLED, next_attempt_at=None, last_error=error)
            return "cancelled"
        if outcome == "permanent" or message.attempts >= settings.CASELOOP_OUTBOX_MAX_ATTEMPTS:
            pending.update(status=OutboxStatus.FAILED, next_attempt_at=None, last_error=error)
            logger.warning("Gave up on outbox message %s: %s", message.pk, error.splitlines()[-1:])
            return "gave_up"
        pending.update(next_attempt_at=finished_at + backoff(message.attempts), last_error=error)
        return "retrying"


def _without_secrets(payload: dict[str, object]) -> dict[str, object]:
    # A sent password-reset link must not stay readable in the outbox for its lifetime.
    if "account_mail" not in payload:
        return payload
    account_mail = payload["account_mail"]
    subject = account_mail.get("subject", "") if isinstance(account_mail, dict) else ""
    return {"account_mail": {"subject": subject, "text": "", "html": "", "blanked": True}}


def _deliver_one(message: OutboxMessage, sender: _Sender, clock: Callable[[], datetime]) -> str:
    started_at = clock()
    detail, error, outcome = "", "", "sent"
    try:
        detail = sender.send(message, started_at)
    except _Cancel as reason:
        outcome, error = "cancelled", str(reason)
    except _Permanent as reason:
        outcome, error = "permanent", str(reason)
    except TemplateProblem as problem:
        outcome, error = "retry", f"The template cannot be rendered: {problem.message}"
    except Exception:
        # Any other failure (network, timeout, a bug) is retried with backoff; the traceback
        # is what the administrator sees on the failed row.
        outcome, error = "retry", traceback.format_exc(limit=5)
    return _record(message, started_at, clock(), outcome, detail, error)


def deliver_due(
    now: datetime | None = None, batch_size: int = DEFAULT_BATCH_SIZE
) -> DeliveryResult:
    """Deliver every outbox message that is due, oldest first, in batches read from the
    partial index of pending rows; safe to run from several workers at once.

    A failed message is tried again after an exponentially growing wait, and marked failed
    (visible to administrators) after ``CASELOOP_OUTBOX_MAX_ATTEMPTS`` tries or a permanent
    refusal. While the SMTP server cannot be reached, the run leaves the remaining email for
    the next run. ``now`` fixes the clock (tests); otherwise each step reads the time.
    """
    clock: Callable[[], datetime] = (lambda: now) if now is not None else timezone.now
    result = DeliveryResult()
    sender = _Sender()
    deadline = time.monotonic() + RUN_BUDGET_SECONDS
    after = Q()
    try:
        while time.monotonic() < deadline:
            due = list(
                OutboxMessage.objects.filter(
                    after, status=OutboxStatus.PENDING, next_attempt_at__lte=clock()
                )
                .order_by("next_attempt_at", "pk")
                .values_list("pk", "next_attempt_at", "kind")[:batch_size]
            )
            for pk, seen_due, kind in due:
                if kind == OutboxKind.EMAIL and sender.smtp_down:
                    continue
                if not _claim(pk, seen_due, clock()):
                    continue
                result.claimed += 1
                message = OutboxMessage.objects.select_related("subscription").get(pk=pk)
                outcome = _deliver_one(message, sender, clock)
                setattr(result, outcome, getattr(result, outcome) + 1)
            if len(due) < batch_size:
                break
            last_pk, last_due, _ = due[-1]
            after = Q(next_attempt_at__gt=last_due) | Q(next_attempt_at=last_due, pk__gt=last_pk)
    finally:
        sender.close()
    return result
