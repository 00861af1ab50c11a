"""Cases: one tracked customer problem from intake to close, with its whole history."""

import re
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models.lookups import In
from django.utils.translation import gettext_lazy as _

CASE_NUMBER_PREFIX = "CL-"


class Status(models.TextChoices):
    NEW = "new", _("New")
    IN_PROGRESS = "in_progress", _("In Progress")
    CLOSED = "closed", _("Closed")


OPEN_STATUSES = (Status.NEW, Status.IN_PROGRESS)


class DisplayStatus(models.TextChoices):
    """What the inbox shows: an open case past its resolve deadline shows as Overdue."""

    NEW = "new", _("New")
    IN_PROGRESS = "in_progress", _("In Progress")
    OVERDUE = "overdue", _("Overdue")
    CLOSED = "closed", _("Closed")


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class Source(models.TextChoices):
    MANUAL = "manual", _("Entered by staff")
    API = "api", _("API")
    WEB = "web", _("Web form")
    EMAIL = "email", _("Email")
    PHONE = "phone", _("Phone call")
    SURVEY = "survey", _("Survey alert")


class CaseState:
    """A case's number and the status it shows, for a case model and for a case read as plain
    values (an inbox row) alike."""

    __slots__ = ()
    pk: int | None
    status: str
    resolve_due_at: datetime | None

    @property
    def number(self) -> str:
        return format_case_number(self.pk)

    @property
    def is_open(self) -> bool:
        return self.status != Status.CLOSED

    def is_overdue(self, now: datetime) -> bool:
        return self.is_open and self.resolve_due_at is not None and self.resolve_due_at <= now

    def display_status(self, now: datetime) -> DisplayStatus:
        """An open case past its resolve deadline shows as Overdue."""
        if self.is_overdue(now):
            return DisplayStatus.OVERDUE
        return DisplayStatus(self.status)


class Case(CaseState, models.Model):
    """A customer problem being worked: who owns it, who watches, how late it may be, how it ended.

    Status moves New → In Progress (first activity by someone who may act on it) → Closed, and
    back to In Progress when reopened. ``was_overdue`` stays set once a deadline was missed, for
    reporting. ``version`` grows with every change, so two people acting on the same case at
    once cannot silently overwrite each other.
    """

    # Program, customer, unit and owner have no index of their own: ``case_program_created``,
    # ``case_customer_recent``, ``case_unit_status`` and ``case_owner_status`` lead with them,
    # and every index is one more write per case the import opens and the sweep reassigns.
    program = models.ForeignKey(
        "programs.Program", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    case_type = models.ForeignKey("programs.CaseType", on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="cases", db_index=False
    )
    unit = models.ForeignKey(
        "org.Unit", on_delete=models.PROTECT, related_name="cases", db_index=False
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_cases",
        db_index=False,
    )
    transaction = models.ForeignKey(
        "customers.Transaction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.NORMAL)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    external_source = models.CharField(max_length=64, blank=True)
    external_id = models.CharField(max_length=128, blank=True)
    alert_reason = models.JSONField(
        default=dict, blank=True, help_text=_("Which alert rule fired and the values that made it.")
    )
    verbatim = models.TextField(blank=True, help_text=_("The customer's own words."))
    needs_contact_info = models.BooleanField(
        default=False, help_text=_("The customer could not be matched to any contact details.")
    )

    created_at = models.DateTimeField()
    start_due_at = models.DateTimeField(null=True, blank=True)
    resolve_due_at = models.DateTimeField(null=True, blank=True)
    first_activity_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    was_overdue = models.BooleanField(default=False)
    # The next instant the deadline sweep must look at this case (a start or resolve deadline,
    # or the next escalation step); NULL once nothing is pending. The sweep reads only the
    # partial index on this column, so its cost follows the cases due, not the cases open.
    next_deadline_at = models.DateTimeField(null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    reopen_count = models.PositiveIntegerField(default=0)

    closing_status = models.ForeignKey(
        "programs.ClosingStatus", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    root_causes = models.ManyToManyField("programs.RootCause", blank=True, related_name="+")
    final_note = models.TextField(blank=True)

    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # The same survey response or message delivered twice must make one case.
            models.UniqueConstraint(
                fields=["external_source", "external_id"],
                condition=~models.Q(external_id=""),
                name="case_unique_external_ref",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="closed") | models.Q(closed_at__isnull=False),
                name="case_closed_has_closed_at",
            ),
            models.CheckConstraint(
                condition=models.Q(status="closed") | models.Q(closing_status__isnull=True),
                name="case_open_has_no_closing_status",
            ),
        ]
        indexes = [
            # The agent's inbox: my open cases, most urgent first.
            models.Index(
                fields=["owner", "resolve_due_at", "id"],
                condition=models.Q(status__in=["new", "in_progress"]),
                name="case_open_by_owner_due",
            ),
            models.Index(
                fields=["unit", "resolve_due_at", "id"],
                condition=models.Q(status__in=["new", "in_progress"]),
                name="case_open_by_unit_due",
            ),
            # "My units" with the Closed chip: the closed cases of each unit in inbox order, so
            # that a page reads a page per unit instead of sorting every closed case (#3).
            models.Index(
                fields=["unit", "resolve_due_at", "id"],
                condition=models.Q(status__in=["closed"]),
                name="case_closed_by_unit_due",
            ),
            models.Index(
                fields=["next_deadline_at", "id"],
                condition=models.Q(next_deadline_at__isnull=False),
                name="case_next_deadline_due",
            ),
            models.Index(fields=["owner", "status", "-created_at"], name="case_owner_status"),
            models.Index(fields=["unit", "status", "-created_at"], name="case_unit_status"),
            # The inbox's status chips for a manager count every case of their units by status
            # and deadline: read from this index alone, never from the table rows (#3).
            models.Index(fields=["unit", "status", "resolve_due_at"], name="case_unit_status_due"),
            models.Index(fields=["program", "created_at"], name="case_program_created"),
            models.Index(fields=["customer", "-created_at"], name="case_customer_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.subject}"


class InConstants(In):
    """``status__in_constants=OPEN_STATUSES``: the values are written into the SQL text.

    SQLite uses a partial index only when the query repeats the index's WHERE clause
    literally; with bound parameters (``IN (%s, %s)``) it never does and sorts every case of
    an owner instead. Only code constants of the form ``lower_snake`` are accepted.
    """

    lookup_name = "in_constants"

    def as_sql(self, compiler, connection):
        values = [str(value) for value in self.rhs]
        if not values or not all(re.fullmatch(r"[a-z_]+", value) for value in values):
            raise ValueError(f"in_constants takes lower_snake constants, not {values!r}")
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} IN ({', '.join(repr(value) for value in values)})", params


Case._meta.get_field("status").register_lookup(InConstants)


def format_case_number(pk: int | None) -> str:
    return f"{CASE_NUMBER_PREFIX}{pk:06d}" if pk else ""


def parse_case_number(text: str) -> int | None:
    """The case id in ``CL-000123``, ``cl-123`` or ``123``; None when the text is not a number."""
    text = text.strip().upper()
    if text.startswith(CASE_NUMBER_PREFIX):
        text = text[len(CASE_NUMBER_PREFIX) :]
    return int(text) if text.isdigit() and len(text) < 19 else None


class WatcherAccess(models.TextChoices):
    FULL = "full", _("Full access")
    LIMITED = "limited", _("Read only")


class CaseWatcher(models.Model):
    """Someone kept informed of a case: full-access watchers may act like the owner, limited-access
    watchers only read."""

    # No index of their own: the unique (case, user) key and ``watcher_by_user`` lead with them,
    # and every index is one more write per watcher the import and the sweep add.
    case = models.ForeignKey(
        Case, on_delete=models.CASCADE, related_name="watchers", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="watched_cases",
        db_index=False,
    )
    access = models.CharField(max_length=8, choices=WatcherAccess.choices)
    added_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "user"], name="watcher_once_per_case")
        ]
        indexes = [models.Index(fields=["user", "case"], name="watcher_by_user")]

    def __str__(self) -> str:
        return f"{self.user} watches case {self.case_id}"


class CaseNote(models.Model):
    """A note written on a case by someone working it."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.body[:60]


def attachment_path(instance: "CaseAttachment", filename: str) -> str:
    # The uploaded name is never part of the path: it may contain "../" or collide.
    return f"cases/{instance.case_id}/{instance.storage_key}"


class CaseAttachment(models.Model):
    """A file uploaded to a case. The original name is kept for display only."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attachments")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    storage_key = models.CharField(max_length=64, editable=False)
    file = models.FileField(upload_to=attachment_path, max_length=255)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=128)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.original_name


class ContactOutcome(models.TextChoices):
    REACHED = "reached", _("Reached the customer")
    NO_ANSWER = "no_answer", _("No answer")
    LEFT_MESSAGE = "left_message", _("Left a message")
    WRONG_NUMBER = "wrong_number", _("Wrong number")


class ContactAttempt(models.Model):
    """An attempt to reach the customer, successful or not."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="contact_attempts")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=16, default="phone")
    outcome = models.CharField(max_length=16, choices=ContactOutcome.choices)
    note = models.TextField(blank=True)
    attempted_at = models.DateTimeField()

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} ({self.channel})"


class CaseTask(models.Model):
    """One item of the case's checklist, copied from its type's playbook when the case opened."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="tasks")
    position = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    done_at = models.DateTimeField(null=True, blank=True)
    # Indexed only where set: a case opens with its tasks undone, and the import and the
    # sweep would otherwise write an entry for every one of them.
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )

    class Meta:
        ordering = ["position", "id"]
        indexes = [
            models.Index(
                fields=["done_by"], condition=models.Q(done_by__isnull=False), name="task_done_by"
            )
        ]

    def __str__(self) -> str:
        return self.title


class EventKind(models.TextChoices):
    CREATED = "created", _("Case opened")
    STARTED = "started", _("Work started")
    NOTE_ADDED = "note_added", _("Note added")
    ATTACHMENT_ADDED = "attachment_added", _("File attached")
    CONTACT_ATTEMPTED = "contact_attempted", _("Contact attempt")
    TASK_COMPLETED = "task_completed", _("Task completed")
    TASK_UNDONE = "task_undone", _("Task unticked")
    ASSIGNED = "assigned", _("Assigned")
    WATCHER_ADDED = "watcher_added", _("Watcher added")
    WATCHER_REMOVED = "watcher_removed", _("Watcher removed")
    CLOSED = "closed", _("Closed")
    REOPENED = "reopened", _("Reopened")
    OVERDUE = "overdue", _("Became overdue")
    ESCALATED = "escalated", _("Escalated")
    TRANSFERRED = "transferred", _("Moved to another unit")


class CaseEvent(models.Model):
    """The case's append-only history: one row per thing that happened, never edited."""

    # ``event_case_timeline`` leads with the case: an index of its own would only cost writes.
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events", db_index=False)
    # Indexed only where set: the events of the sweep and the import have no actor.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["case", "created_at"], name="event_case_timeline"),
            models.Index(
                fields=["actor"], condition=models.Q(actor__isnull=False), name="event_by_actor"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on case {self.case_id}"
