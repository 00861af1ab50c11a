"""Programs: how one kind of customer problem is handled, as data an administrator edits."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class DeadlineUnit(models.TextChoices):
    BUSINESS_DAYS = "business_days", _("Business days")
    BUSINESS_HOURS = "business_hours", _("Business hours")


class EscalationAction(models.TextChoices):
    WATCH = "watch", _("Designee becomes a full-access watcher")
    REASSIGN = "reassign", _("Designee becomes the owner")


class Program(models.Model):
    """A case-management program (e.g. "Retail purchase survey", "Contact centre complaints").

    It sets how soon a case must be started and resolved, which closing statuses and root causes
    may be chosen, and whether a root cause is required to close.
    """

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    start_deadline = models.PositiveIntegerField(
        default=1, help_text=_("How soon an owner must start working a new case.")
    )
    start_deadline_unit = models.CharField(
        max_length=16, choices=DeadlineUnit.choices, default=DeadlineUnit.BUSINESS_DAYS
    )
    resolve_deadline = models.PositiveIntegerField(
        default=3, help_text=_("How soon a case must be closed.")
    )
    resolve_deadline_unit = models.CharField(
        max_length=16, choices=DeadlineUnit.choices, default=DeadlineUnit.BUSINESS_DAYS
    )
    root_causes_required = models.BooleanField(
        default=True, help_text=_("Closing a case requires at least one root cause.")
    )
    escalation_action = models.CharField(
        max_length=16, choices=EscalationAction.choices, default=EscalationAction.WATCH
    )
    escalation_levels = models.PositiveSmallIntegerField(
        default=2, help_text=_("How many steps up the designee chain a late case may climb.")
    )
    escalation_interval_days = models.PositiveSmallIntegerField(
        default=1, help_text=_("Business days between one escalation step and the next.")
    )
    recompute_deadlines_on_transfer = models.BooleanField(
        default=False,
        help_text=_(
            "Moving a case to another unit restarts its deadlines in that unit's calendar."
        ),
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(resolve_deadline__gt=0), name="program_resolve_deadline_positive"
            )
        ]

    def __str__(self) -> str:
        return self.name


class CaseType(models.Model):
    """A kind of case within a program (e.g. "Product quality", "Billing dispute")."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="case_types")
    code = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["program", "name"]
        constraints = [
            models.UniqueConstraint(fields=["program", "code"], name="case_type_code_per_program")
        ]

    def __str__(self) -> str:
        return self.name


class PlaybookStep(models.Model):
    """One step of a case type's playbook: the checklist every case of that type starts with."""

    case_type = models.ForeignKey(CaseType, on_delete=models.CASCADE, related_name="playbook")
    position = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(max_length=200)

    class Meta:
        ordering = ["case_type", "position", "id"]

    def __str__(self) -> str:
        return self.title


class ClosingStatus(models.Model):
    """A status a case may be closed with; ``is_resolved`` says whether it counts as resolved."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="closing_statuses")
    code = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    is_resolved = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["program", "position", "id"]
        verbose_name_plural = "closing statuses"
        constraints = [
            models.UniqueConstraint(
                fields=["program", "code"], name="closing_status_code_per_program"
            )
        ]

    def __str__(self) -> str:
        return self.name


class RootCause(models.Model):
    """A reason a problem happened, chosen when closing, counted on the dashboard."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="root_causes")
    code = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    position = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["program", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["program", "code"], name="root_cause_code_per_program")
        ]

    def __str__(self) -> str:
        return self.name
