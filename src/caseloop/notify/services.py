"""Every write of the notification app: what a case event causes to be sent, templates,
subscriptions, mail preferences, in-app notifications read, failed deliveries retried.

``notify_case_event`` runs inside the case service's transaction: it decides who is told, and
writes outbox rows and in-app notifications, without rendering or any network I/O. A rollback
of the case change takes the notifications with it; a commit makes them the worker's to send.
"""

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import formataddr
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from caseloop.bulkrows import Table, instances, select_in
from caseloop.cases.models import Case, CaseEvent, CaseWatcher, EventKind
from caseloop.errors import InvalidInput
from caseloop.notify.models import (
    InAppNotification,
    NotificationPreference,
    NotificationTemplate,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    ProgramMailbox,
    TemplateEvent,
    WebhookSubscription,
)
from caseloop.notify.rendering import TemplateProblem, TemplateSource, case_url, template_problems
from caseloop.org.models import User

JsonDict = dict[str, object]


@dataclass(frozen=True)
class _MailPlan:
    """Who an event's email is addressed to: ``to`` by user id, and whether the case's other
    people (watchers, and the owner when the mail is addressed to someone else) get copies."""

    template_event: TemplateEvent
    to: list[int]
    copies: bool = True
    # Someone outside the case's people who must hear of it: the owner a case was taken from.
    also: list[int] = field(default_factory=list)


def _mail_plan(event: CaseEvent, case: Case) -> _MailPlan | None:
    """The email a case event causes, or None for events nobody is mailed about."""
    data = event.data or {}
    owner = [case.owner_id] if case.owner_id else []
    kind = event.kind
    if kind == EventKind.WATCHER_ADDED:
        user_id = data.get("user")
        return (
            _MailPlan(TemplateEvent.WATCHER_ADDED, [user_id], copies=False)
            if isinstance(user_id, int)
            else None
        )
    if kind == EventKind.ESCALATED:
        designee = data.get("designee")
        return _MailPlan(
            TemplateEvent.ESCALATED, [designee] if isinstance(designee, int) else owner
        )
    previous = [data["previous_owner"]] if isinstance(data.get("previous_owner"), int) else []
    if kind == EventKind.TRANSFERRED:
        # A move to another unit is, for the new owner, an assignment.
        if data.get("owner") and data.get("owner") != data.get("previous_owner"):
            return _MailPlan(TemplateEvent.ASSIGNED, owner, also=previous)
        return None
    if kind == EventKind.ASSIGNED:
        return _MailPlan(TemplateEvent.ASSIGNED, owner, also=previous)
    simple = {
        EventKind.CREATED: TemplateEvent.CREATED,
        EventKind.OVERDUE: TemplateEvent.OVERDUE,
        EventKind.CLOSED: TemplateEvent.CLOSED,
        EventKind.REOPENED: TemplateEvent.REOPENED,
    }
    if kind in simple:
        return _MailPlan(simple[EventKind(kind)], owner)
    return None


@dataclass
class _Audience:
    to: list[User] = field(default_factory=list)
    cc: list[User] = field(default_factory=list)
    # Everyone told in the app: mail opt-outs and missing addresses do not apply there.
    in_app: list[User] = field(default_factory=list)


def reply_domain() -> str:
    return settings.CASELOOP_REPLY_ADDRESS.rpartition("@")[2] or "localhost"


def new_message_id(case: Case) -> str:
    """A Message-ID that stays the same on every retry and names the case it belongs to."""
    return _message_id(case, reply_domain())


def _message_id(case: Case, domain: str) -> str:
    return f"<{uuid.uuid4().hex}.{case.number}@{domain}>"


def template_enabled(program_id: int, event: str) -> bool:
    return not NotificationTemplate.objects.filter(
        program_id=program_id, event=event, is_active=False
    ).exists()


def webhook_payload(event: CaseEvent, case: Case, delivery_id: str) -> JsonDict:
    """What a subscriber receives: the event, the case as it stood, and no customer details
    beyond the id (the subscriber asks the API for more, with its own rights)."""
    owner = case.owner
    return {
        "id": delivery_id,
        "type": f"case.{event.kind}",
        "occurred_at": event.created_at.isoformat(),
        "actor": {"id": event.actor_id, "name": str(event.actor)} if event.actor_id else None,
        "case": {
            "id": case.pk,
            "number": case.number,
            "url": case_url(case.pk),
            "program": case.program.code,
            "unit": case.unit.code,
            "subject": case.subject,
            "status": case.status,
            "priority": case.priority,
            "owner": {"id": owner.pk, "name": str(owner)} if owner else None,
            "customer": {"id": case.customer_id},
            "resolve_due_at": case.resolve_due_at.isoformat() if case.resolve_due_at else None,
        },
        "data": event.data,
    }


def notify_case_event(event: CaseEvent) -> None:
    """Write what ``event`` causes, in the caller's transaction: an email to the people of the
    case (the one it concerns in To, owner and watchers in Cc unless they opted out of watcher
    mail, never the person who acted), a line in each of their in-app lists, and a webhook
    delivery for each of the program's subscriptions that wants this kind of event.

    Nothing is rendered or sent here. Calling it twice for the same event changes nothing.
    """
    notify_case_events([event])


def notify_case_events(
    events: Sequence[CaseEvent], *, watchers_at: Mapping[int, Collection[int]] | None = None
) -> None:
    """``notify_case_event`` for many events at once, in the caller's transaction and in a
    fixed number of queries whatever their number (the worker tells about thousands of
    events per run). Writes exactly the rows one call per event would write, and nothing for
    what is already written; each event's ``case`` must be the case as its people are to be
    told (its owner at that moment), and ``watchers_at`` gives, by event id, the case's
    watchers at that moment (the current watchers when not given). Long because it builds the
    email, in-app and webhook rows of every event in one pass over them."""
    if not events:
        return
    plans = [(event, _mail_plan(event, event.case)) for event in events]
    audiences = _audiences(
        [(event, plan) for event, plan in plans if plan is not None], watchers_at
    )
    programs = {event.case.program_id for event in events}
    turned_off = set(
        NotificationTemplate.objects.filter(program_id__in=programs, is_active=False).values_list(
            "program_id", "event"
        )
    )
    subscriptions: dict[int, list[WebhookSubscription]] = {}
    for subscription in WebhookSubscription.objects.filter(
        program_id__in=programs, is_active=True
    ).order_by("pk"):
        subscriptions.setdefault(subscription.program_id, []).append(subscription)
    # Plain ``IN`` lists: ``filter(event_id__in=…)`` prepares thousands of ids one by one.
    event_ids = [event.pk for event in events]
    written = {key for (key,) in select_in(OutboxMessage, ["dedup_key"], "event_id", event_ids)}
    told = set(select_in(InAppNotification, ["event_id", "user_id"], "event_id", event_ids))
    _read_owners([event.case for event in events if event.case.program_id in subscriptions])
    outbox: list[tuple[object, ...]] = []
    in_app: list[tuple[object, ...]] = []
    labels: dict[str, str] = {}
    book = _AddressBook()
    domain = reply_domain()
    for event, plan in plans:
        case, at = event.case, event.created_at
        if plan is not None:
            audience = audiences[event.pk]
            to, taken = book.addresses(audience.to)
            cc, _ = book.addresses(audience.cc, taken)
            if not to:
                to, cc = cc, []
            key = f"email:event:{event.pk}"
            wanted = (case.program_id, plan.template_event) not in turned_off
            if to and wanted and key not in written:
                recipients = {"to": to, "cc": cc}
                email = (OutboxKind.EMAIL, key, case.pk, event.pk, plan.template_event, None)
                outbox.append((*email, recipients, {}, _message_id(case, domain), at, at))
            # The event kind's label is looked up once per kind (the translated label costs
            # more than everything else about an in-app line).
            label = labels.get(event.kind) or labels.setdefault(
                event.kind, str(event.get_kind_display())
            )
            title = f"{case.number} · {label}: {case.subject}"[:300]
            in_app.extend(
                (user.pk, case.pk, event.pk, event.kind, title, at)
                for user in audience.in_app
                if (event.pk, user.pk) not in told
            )
        for subscription in subscriptions.get(case.program_id, []):
            key = f"webhook:event:{event.pk}:{subscription.pk}"
            if subscription.wants(event.kind) and key not in written:
                delivery_id = str(uuid.uuid4())
                payload = webhook_payload(event, case, delivery_id)
                hook = (OutboxKind.WEBHOOK, key, case.pk, event.pk, "", subscription.pk)
                outbox.append((*hook, {"url": subscription.url}, payload, delivery_id, at, at))
    # Plain rows written at executemany/COPY speed: ``bulk_create`` compiles SQL value by value,
    # which cost more than everything else the sweep does.
    Table(OutboxMessage, _OUTBOX_COLUMNS).insert(outbox)
    Table(InAppNotification, _IN_APP_COLUMNS).insert(in_app)


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


def _read_owners(cases: Sequence[Case]) -> None:
    """The owners of ``cases`` not yet read (webhook payloads name them), in one query."""
    owner = Case._meta.get_field("owner")
    missing = {case.owner_id for case in cases if case.owner_id and not owner.is_cached(case)}
    if not missing:
        return
    users = User.objects.in_bulk(missing)
    for case in cases:
        if case.owner_id in missing:
            owner.set_cached_value(case, users.get(case.owner_id))


class _AddressBook:
    """The email addresses of people, each formatted "Name <address>" once and each given
    once per message: the same few people are told about case after case."""

    def __init__(self) -> None:
        self.formatted: dict[int, tuple[str, str] | None] = {}

    def addresses(
        self, users: Iterable[User], taken: Iterable[str] = ()
    ) -> tuple[list[str], set[str]]:
        """The users' formatted addresses, leaving out those whose (lower-case) address is in
        ``taken`` or came earlier; and the lower-case addresses now taken."""
        seen = set(taken)
        result = []
        for user in users:
            if user.pk not in self.formatted:
                self.formatted[user.pk] = (
                    (formataddr((str(user), user.email)), user.email.lower())
                    if user.email
                    else None
                )
            entry = self.formatted[user.pk]
            if entry is not None and entry[1] not in seen:
                seen.add(entry[1])
                result.append(entry[0])
        return result, seen


def _audiences(
    planned: Sequence[tuple[CaseEvent, _MailPlan]],
    watchers_at: Mapping[int, Collection[int]] | None = None,
) -> dict[int, _Audience]:
    """Who is told of each event, in two queries (the cases' watchers, unless ``watchers_at``
    gives them by event, then the people): never the person who made the change, never an
    inactive user; watchers who opted out of watcher mail get no copy (the owner and a former
    owner do: it is their case, not one they watch)."""
    if watchers_at is None:
        case_ids = list({event.case_id for event, _ in planned})
        by_case: dict[int, set[int]] = {}
        for case_id, user_id in select_in(CaseWatcher, ("case_id", "user_id"), "case_id", case_ids):
            by_case.setdefault(case_id, set()).add(user_id)
        watchers = {event.pk: by_case.get(event.case_id, set()) for event, _ in planned}
    else:
        watchers = {event.pk: set(watchers_at.get(event.pk, ())) for event, _ in planned}
    wanted: dict[int, tuple[set[int], list[int]]] = {}
    for event, plan in planned:
        case = event.case
        copied = [*([case.owner_id] if case.owner_id else []), *plan.also] if plan.copies else []
        people = {*plan.to, *copied, *(watchers[event.pk] if plan.copies else ())}
        wanted[event.pk] = (people, copied)
    everyone = set().union(*(people for people, _ in wanted.values()))
    users = _active_people(everyone)
    audiences: dict[int, _Audience] = {}
    for event, plan in planned:
        people, copied = wanted[event.pk]
        watching = watchers[event.pk]
        audience = audiences[event.pk] = _Audience()
        for user_id in sorted(people):
            user = users.get(user_id)
            if user is None or user_id == event.actor_id:
                continue
            audience.in_app.append(user)
            if user_id in plan.to:
                audience.to.append(user)
            elif not (user_id in watching and user.watcher_mail_off and user_id not in copied):
                audience.cc.append(user)
    return audiences


_PERSON_COLUMNS = ("id", "username", "first_name", "last_name", "email")


def _active_people(user_ids: Iterable[int]) -> dict[int, User]:
    """The active users among ``user_ids``, with what their addresses need, each marked
    ``watcher_mail_off`` if they opted out of watcher mail: no full ``User`` through the ORM
    for each of the hundreds of people a batch of events tells."""
    ids = [user_id for user_id in user_ids if user_id is not None]
    rows = select_in(User, _PERSON_COLUMNS, "id", ids, equal={"is_active": True})
    opted_out = {
        user_id
        for (user_id,) in select_in(
            NotificationPreference, ["user_id"], "user_id", ids, equal={"watcher_mail": False}
        )
    }
    people: dict[int, User] = {}
    for user in instances(User, _PERSON_COLUMNS, rows):
        user.watcher_mail_off = user.pk in opted_out
        people[user.pk] = user
    return people


@transaction.atomic
def queue_customer_email(
    case: Case,
    *,
    template_event: TemplateEvent | str,
    dedup_key: str,
    survey: Mapping[str, object] | None = None,
    now: datetime | None = None,
) -> OutboxMessage | None:
    """Queue an email to the case's customer (the remeasurement survey, for one), rendered from
    the program's template for ``template_event`` when delivered. Returns None when the customer
    has no address or the program turned that email off; the same ``dedup_key`` queues once."""
    at = now or timezone.now()
    if template_event not in TemplateEvent.values:
        raise InvalidInput(f"Unknown template event {template_event!r}.", field="template_event")
    if not case.customer.email or not template_enabled(case.program_id, template_event):
        return None
    expires_at = (survey or {}).get("expires_at")
    message, _ = OutboxMessage.objects.get_or_create(
        dedup_key=dedup_key,
        defaults={
            "kind": OutboxKind.EMAIL,
            "case": case,
            "template_event": template_event,
            "recipients": {"to": [formataddr((case.customer.name, case.customer.email))], "cc": []},
            "payload": {
                "survey": {
                    "url": str((survey or {}).get("url") or ""),
                    "expires_at": expires_at.isoformat()
                    if isinstance(expires_at, datetime)
                    else None,
                },
                "customer_mail": True,
            },
            "message_id": new_message_id(case),
            "created_at": at,
            "next_attempt_at": at,
        },
    )
    return message


def notify_user_in_app(
    user: User, *, case: Case | None, kind: str, title: str, now: datetime | None = None
) -> InAppNotification:
    """Put one line in ``user``'s notification list (e.g. "the customer replied")."""
    return InAppNotification.objects.create(
        user=user, case=case, kind=kind, title=title[:300], created_at=now or timezone.now()
    )


def mark_notifications_read(
    user: User, ids: Sequence[int] | None = None, *, now: datetime | None = None
) -> int:
    """Mark ``user``'s notifications read: those with ``ids``, or all unread ones. Someone
    else's notifications are never touched. Returns how many changed."""
    unread = InAppNotification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    return unread.update(read_at=now or timezone.now())


def set_watcher_mail(user: User, *, enabled: bool) -> NotificationPreference:
    """Turn copies of the mail about cases ``user`` watches (but does not own) on or off."""
    preference, _ = NotificationPreference.objects.update_or_create(
        user=user, defaults={"watcher_mail": enabled}
    )
    return preference


def save_template(template: NotificationTemplate) -> NotificationTemplate:
    """Store a program's template after checking that every part compiles and renders."""
    problems = template_problems(
        TemplateSource(template.subject, template.body_text, template.body_html)
    )
    if problems:
        field_name = next(iter(problems))
        raise TemplateProblem(" ".join(problems.values()), field=field_name)
    template.save()
    return template


def webhook_problems(url: str, events: object) -> dict[str, str]:
    """What is wrong with a subscription's target and event list, per field."""
    problems: dict[str, str] = {}
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems["url"] = "The URL must start with https:// (or http://) and name a host."
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        problems["events"] = 'List the event kinds, e.g. ["created", "closed"].'
    else:
        unknown = sorted(set(events) - set(EventKind.values))
        if unknown:
            problems["events"] = f"Unknown event kinds: {', '.join(unknown)}."
    return problems


def save_webhook_subscription(subscription: WebhookSubscription) -> WebhookSubscription:
    """Store a webhook subscription with a valid URL and known event kinds."""
    problems = webhook_problems(subscription.url, subscription.events)
    if problems:
        field_name, message = next(iter(problems.items()))
        raise InvalidInput(message, field=field_name)
    subscription.save()
    return subscription


def save_program_mailbox(mailbox: ProgramMailbox) -> ProgramMailbox:
    """Store a program's inbound address (lower-case); new cases from it must be of a case type
    of that program."""
    mailbox.address = mailbox.address.strip().lower()
    if "+" in mailbox.address.partition("@")[0]:
        raise InvalidInput("The address may not contain '+': it tags replies.", field="address")
    if mailbox.case_type.program_id != mailbox.program_id:
        raise InvalidInput("Choose a case type of the same program.", field="case_type")
    mailbox.save()
    return mailbox


def retry_outbox_now(ids: Sequence[int], *, now: datetime | None = None) -> int:
    """Send failed (or waiting) messages again at once, with a fresh allowance of attempts;
    their earlier attempts stay on record. Returns how many were rescheduled."""
    return OutboxMessage.objects.filter(
        pk__in=list(ids), status__in=[OutboxStatus.FAILED, OutboxStatus.PENDING]
    ).update(status=OutboxStatus.PENDING, next_attempt_at=now or timezone.now(), attempts=0)


def queue_account_email(
    user: User, *, subject: str, text: str, html: str = "", now: datetime | None = None
) -> OutboxMessage | None:
    """Queue an email about a user's own account (a password reset link), already rendered.

    Like every email it leaves through the outbox and the worker, never from the request. The
    body holds a secret, so the worker blanks it once the message is sent; a message that was
    never sent keeps it until it expires with the link. Returns None for a user without an
    address.
    """
    if not user.email:
        return None
    at = now or timezone.now()
    return OutboxMessage.objects.create(
        kind=OutboxKind.EMAIL,
        dedup_key=f"account:{uuid.uuid4().hex}",
        recipients={"to": [formataddr((str(user), user.email))], "cc": []},
        payload={"account_mail": {"subject": subject, "text": text, "html": html}},
        message_id=f"<{uuid.uuid4().hex}.account@{reply_domain()}>",
        created_at=at,
        next_attempt_at=at,
    )


@transaction.atomic
def cancel_unsent_email(program_ids: Sequence[int], *, reason: str) -> int:
    """Cancel every email of these programs' cases still waiting to be sent, keeping the rows
    and the reason for the record. The demo uses it so that two years of made-up history are
    not mailed out the first time a worker starts; returns how many were cancelled."""
    return OutboxMessage.objects.filter(
        kind=OutboxKind.EMAIL,
        status=OutboxStatus.PENDING,
        case__program_id__in=list(program_ids),
    ).update(status=OutboxStatus.CANCELLED, next_attempt_at=None, last_error=reason)
