"""The notifications of many cases opened at once (a survey import), row for row what
``notify_case_event`` writes for each case's CREATED event, in a few queries for the batch.

``notify_case_event`` reads the case's people with one query per case; an import opens
thousands of cases, so here the people of the whole batch are read once and every outbox row and
in-app notification goes out in one bulk insert each. The rule is the same: the email goes to
the owner with the watchers in Cc (a watcher who turned watcher mail off gets no copy; with no
owner the watchers are the addressees), an in-app line for each of them (inactive users never),
and a webhook delivery for each of the program's subscriptions that wants ``created``.
``test_alert_case_is_what_open_case_opens`` compares the rows of both paths.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from caseloop.cases.models import Case, CaseEvent, EventKind, Status, format_case_number
from caseloop.intake.bulk import Table
from caseloop.notify.models import (
    InAppNotification,
    NotificationPreference,
    OutboxKind,
    OutboxMessage,
    TemplateEvent,
    WebhookSubscription,
)
from caseloop.notify.services import _addresses, reply_domain, template_enabled, webhook_payload
from caseloop.org.models import Unit, User
from caseloop.programs.models import Program


@dataclass(frozen=True)
class OpenedCase:
    """A case just inserted in bulk with its CREATED event, as the notifications need it."""

    case_id: int
    event_id: int
    event_data: dict[str, object]
    created_at: datetime
    subject: str
    priority: str
    unit: Unit
    owner: User | None
    watcher_ids: Sequence[int]
    customer_id: int
    resolve_due_at: datetime | None


_OUTBOX_COLUMNS = (
    "kind",
    "dedup_key",
    "case_id",
    "event_id",
    "template_event",
    "subscription_id",
    "recipients",
    "payload",
    "message_id",
    "created_at",
    "next_attempt_at",
)
_IN_APP_COLUMNS = ("user_id", "case_id", "event_id", "kind", "title", "created_at")


def _recipients(
    owner_id: int | None, watcher_ids: Sequence[int], people: dict[int, User], quiet: set[int]
) -> dict[str, list[str]] | None:
    """``_queue_email``'s addressees of a CREATED event, or None when nobody gets the mail."""
    audience = sorted({*([owner_id] if owner_id else []), *watcher_ids})
    to = _addresses(people[u] for u in audience if u == owner_id and u in people)
    cc = _addresses(
        (people[u] for u in audience if u != owner_id and u in people and u not in quiet),
        exclude=to,
    )
    if not to:
        to, cc = cc, []
    return {"to": to, "cc": cc} if to else None


def notify_cases_opened_unsafe_outside_transaction(
    program: Program, opened: Sequence[OpenedCase]
) -> None:
    """Write, in the caller's transaction, what ``notify_case_event`` writes for the CREATED
    event of each case of ``opened`` (all of ``program``, opened by the system)."""
    if not opened:
        return
    wanted = {u for c in opened for u in (*c.watcher_ids, *([c.owner.pk] if c.owner else []))}
    people = User.objects.filter(pk__in=wanted, is_active=True).in_bulk()
    quiet = set(
        NotificationPreference.objects.filter(user__in=wanted, watcher_mail=False).values_list(
            "user_id", flat=True
        )
    )
    mail_on = template_enabled(program.pk, TemplateEvent.CREATED)
    hooks = [
        s
        for s in WebhookSubscription.objects.filter(program_id=program.pk, is_active=True)
        if s.wants(EventKind.CREATED)
    ]
    kind_label = str(EventKind.CREATED.label)
    outbox: list[tuple[object, ...]] = []
    in_app: list[tuple[object, ...]] = []
    for case in opened:
        number = format_case_number(case.case_id)
        owner_id = case.owner.pk if case.owner else None
        recipients = _recipients(owner_id, case.watcher_ids, people, quiet) if mail_on else None
        if recipients is not None:
            message_id = f"<{uuid.uuid4().hex}.{number}@{reply_domain()}>"
            outbox.append(
                (
                    OutboxKind.EMAIL.value,
                    f"email:event:{case.event_id}",
                    case.case_id,
                    case.event_id,
                    TemplateEvent.CREATED.value,
                    None,
                    recipients,
                    {},
                    message_id,
                    case.created_at,
                    case.created_at,
                )
            )
        title = f"{number} · {kind_label}: {case.subject}"[:300]
        audience = sorted(u for u in {*([owner_id] if owner_id else []), *case.watcher_ids})
        in_app += [
            (user_id, case.case_id, case.event_id, EventKind.CREATED.value, title, case.created_at)
            for user_id in audience
            if user_id in people
        ]
        outbox += [_webhook_row(program, case, hook) for hook in hooks]
    Table(OutboxMessage, _OUTBOX_COLUMNS).insert(outbox)
    Table(InAppNotification, _IN_APP_COLUMNS).insert(in_app)


def _webhook_row(
    program: Program, opened: OpenedCase, subscription: WebhookSubscription
) -> tuple[object, ...]:
    # Unsaved instances carry what ``webhook_payload`` reads, so the payload is the one the
    # single path sends; subscriptions are few, so their cost does not matter.
    case = Case(
        pk=opened.case_id,
        program=program,
        unit=opened.unit,
        owner=opened.owner,
        customer_id=opened.customer_id,
        subject=opened.subject,
        status=Status.NEW,
        priority=opened.priority,
        resolve_due_at=opened.resolve_due_at,
    )
    event = CaseEvent(
        pk=opened.event_id,
        case=case,
        kind=EventKind.CREATED,
        data=opened.event_data,
        created_at=opened.created_at,
    )
    delivery_id = str(uuid.uuid4())
    return (
        OutboxKind.WEBHOOK.value,
        f"webhook:event:{opened.event_id}:{subscription.pk}",
        opened.case_id,
        opened.event_id,
        "",
        subscription.pk,
        {"url": subscription.url},
        webhook_payload(event, case, delivery_id),
        delivery_id,
        opened.created_at,
        opened.created_at,
    )
