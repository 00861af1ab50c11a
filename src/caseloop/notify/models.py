"""Notifications: what people are told about cases, by email, webhook and in the app, and the
mail that comes back in.

Nothing here sends anything. A case service writes ``OutboxMessage`` rows in its own
transaction; the worker delivers them later, retrying with backoff (``caseloop.notify.delivery``).
"""

import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class TemplateEvent(models.TextChoices):
    """The moments a program can email people about; each has a template (subject, text, HTML)."""

    CREATED = "created", _("New case or alert")
    ASSIGNED = "assigned", _("Assigned to a new owner")
    WATCHER_ADDED = "watcher_added", _("Watcher added")
    OVERDUE = "overdue", _("Became overdue")
    ESCALATED = "escalated", _("Escalated")
    CLOSED = "closed", _("Closed")
    REOPENED = "reopened", _("Reopened")
    REMEASUREMENT_REQUEST = "remeasurement_request", _("Remeasurement survey to the customer")


class NotificationTemplate(models.Model):
    """A program's own wording for one event's email, replacing the default that ships with the
    product. Administrators write it in a sandboxed template language that sees only the case
    data given to it; a template that does not compile or render is refused when saved. A
    template marked inactive turns that email off for the program."""

    program = models.ForeignKey(
        "programs.Program", on_delete=models.CASCADE, related_name="notification_templates"
    )
    event = models.CharField(max_length=32, choices=TemplateEvent.choices)
    subject = models.CharField(max_length=500)
    body_text = models.TextField(help_text=_("Plain-text body."))
    body_html = models.TextField(
        blank=True, help_text=_("HTML body; values are escaped. Empty: text only.")
    )
    is_active = models.BooleanField(
        default=True, help_text=_("Untick to send no email for this event in this program.")
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["program", "event"]
        constraints = [
            models.UniqueConstraint(fields=["program", "event"], name="notify_template_per_event")
        ]

    def __str__(self) -> str:
        return f"{self.program} · {self.get_event_display()}"


class OutboxKind(models.TextChoices):
    EMAIL = "email", _("Email")
    WEBHOOK = "webhook", _("Webhook")


class OutboxStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed — gave up")
    CANCELLED = "cancelled", _("Cancelled")


class OutboxMessage(models.Model):
    """One message to deliver, written in the same transaction as the change that caused it.

    A pending row is due at ``next_attempt_at``. A worker claims it by moving that instant one
    lease ahead in a conditional UPDATE, so two workers never send it at once and a killed
    worker's claim simply falls due again. Delivery is at least once: the receiving side
    recognises a repeat by the stable ``message_id`` (email) or delivery id (webhook). After
    ``CASELOOP_OUTBOX_MAX_ATTEMPTS`` failures the row is marked failed for an administrator.
    """

    kind = models.CharField(max_length=16, choices=OutboxKind.choices)
    status = models.CharField(
        max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    # The same cause never queues the same message twice (e.g. one email per case event).
    dedup_key = models.CharField(max_length=200, unique=True)
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event = models.ForeignKey(
        "cases.CaseEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    template_event = models.CharField(max_length=32, choices=TemplateEvent.choices, blank=True)
    subscription = models.ForeignKey(
        "notify.WebhookSubscription",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
    )
    recipients = models.JSONField(default=dict, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    message_id = models.CharField(max_length=255, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The worker reads only due pending rows: its cost follows the backlog, not the
            # table, which keeps every message ever sent.
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=models.Q(status="pending"),
                name="outbox_pending_due",
            ),
            models.Index(
                fields=["-created_at"],
                condition=models.Q(status="failed"),
                name="outbox_failed_recent",
            ),
            models.Index(fields=["case", "-created_at"], name="outbox_by_case"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.dedup_key} ({self.get_status_display()})"


class DeliveryAttempt(models.Model):
    """One try at delivering an outbox message, kept so that a failure can be explained."""

    message = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="deliveries")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    succeeded = models.BooleanField()
    detail = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["message", "number", "id"]

    def __str__(self) -> str:
        return f"Attempt {self.number} of {self.message_id}: {'ok' if self.succeeded else 'failed'}"


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class WebhookSubscription(models.Model):
    """An outside system told about a program's case events by an HTTPS POST of JSON, signed
    with HMAC-SHA256 under the subscription's secret. No events listed means all of them."""

    program = models.ForeignKey(
        "programs.Program", on_delete=models.CASCADE, related_name="webhook_subscriptions"
    )
    name = models.CharField(max_length=200)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=128, default=new_webhook_secret)
    events = models.JSONField(
        default=list, blank=True, help_text=_('Case event kinds, e.g. ["created", "closed"].')
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["program", "name"]

    def __str__(self) -> str:
        return f"{self.name} → {self.url}"

    def wants(self, kind: str) -> bool:
        return not self.events or kind in self.events


class InAppNotification(models.Model):
    """A line in a user's notification list, unread until they open it or mark it read."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    event = models.ForeignKey(
        "cases.CaseEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=32)
    title = models.CharField(max_length=300)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Telling the same person about the same event twice is a bug, never a feature.
            models.UniqueConstraint(
                fields=["event", "user"],
                condition=models.Q(event__isnull=False),
                name="inapp_once_per_event_and_user",
            )
        ]
        indexes = [
            models.Index(fields=["user", "-created_at", "-id"], name="inapp_by_user"),
            # The unread badge is counted on every page: only unread rows are in this index.
            models.Index(
                fields=["user"], condition=models.Q(read_at__isnull=True), name="inapp_unread"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class NotificationPreference(models.Model):
    """What one user wants by email. Without a row every default applies."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="notification_preference",
    )
    watcher_mail = models.BooleanField(
        default=True,
        help_text=_("Receive copies (Cc) of the mail about cases I watch but do not own."),
    )

    def __str__(self) -> str:
        return f"Mail preferences of {self.user}"


class ProgramMailbox(models.Model):
    """The address customers write to for a program. A new message to it opens a case of
    ``case_type`` in ``unit`` for the sender; replies to the program's notifications come back
    to it too, tagged with the case (``support+CL-000123@example.com``)."""

    program = models.OneToOneField(
        "programs.Program", on_delete=models.CASCADE, related_name="mailbox"
    )
    address = models.EmailField(unique=True, help_text=_("Stored lower-case."))
    case_type = models.ForeignKey("programs.CaseType", on_delete=models.PROTECT, related_name="+")
    unit = models.ForeignKey(
        "org.Unit",
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Where new cases from email are opened."),
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "program mailboxes"

    def __str__(self) -> str:
        return self.address


class InboundOutcome(models.TextChoices):
    CASE_OPENED = "case_opened", _("Opened a case")
    REPLY_ADDED = "reply_added", _("Added to a case")
    IGNORED = "ignored", _("Ignored")


class InboundMessage(models.Model):
    """Every inbound email that was accepted, whatever became of it. ``message_key`` is the
    Message-ID (or a hash of the message when it has none): a message fetched or delivered
    twice is recognised and changes nothing the second time."""

    message_key = models.CharField(max_length=255, unique=True)
    received_at = models.DateTimeField()
    via = models.CharField(max_length=16, blank=True, help_text=_("imap or lmtp"))
    sender = models.CharField(max_length=320, blank=True)
    subject = models.CharField(max_length=500, blank=True)
    outcome = models.CharField(max_length=16, choices=InboundOutcome.choices)
    reason = models.CharField(max_length=300, blank=True)
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["case", "-received_at"], name="inbound_by_case")]

    def __str__(self) -> str:
        return f"{self.sender}: {self.subject}"


class UntoldEvent(models.Model):
    """A case event whose people are still to be told, written in the same transaction as the
    event by the services that change thousands of cases at once (the deadline sweep, the
    survey import): the outbox entry of the event as a whole. The worker's
    ``notify.tell_events`` duty writes its emails, in-app lines and webhook deliveries, by the
    same rule as a notification written at once, and deletes it in the same transaction, so an
    event is told exactly once whatever crashes in between.

    It keeps who the case's people were when the event happened (the owner, the watchers), so
    that those told are the ones a notification written at once would have told, even when a
    later step of the same sweep changed them.
    """

    event = models.OneToOneField(
        "cases.CaseEvent", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    # Plain ids rather than keys: a person removed meanwhile is simply not told.
    owner_id = models.BigIntegerField(null=True, blank=True)
    watcher_ids = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"Untold event {self.event_id}"
