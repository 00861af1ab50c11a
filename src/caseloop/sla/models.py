"""Business calendars of units and the record of every escalation."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from caseloop.sla.calendar import BusinessCalendar


def _standard_week() -> dict[str, list[list[str]]]:
    return {str(day): [["09:00", "17:00"]] for day in range(5)}


class UnitCalendar(models.Model):
    """When a unit is at work: its time zone, weekly working hours, public holidays (country and
    subdivision) and extra closed days. A unit without one uses the nearest ancestor's; a tree
    without any uses Monday–Friday 09:00–17:00 in the server's time zone."""

    unit = models.OneToOneField("org.Unit", on_delete=models.CASCADE, related_name="calendar")
    time_zone = models.CharField(max_length=64, default="UTC")
    weekly_hours = models.JSONField(
        default=_standard_week,
        help_text=_('Weekday (0 = Monday) → working periods, e.g. {"0": [["09:00", "17:00"]]}'),
    )
    country = models.CharField(max_length=8, blank=True, help_text=_("e.g. DE, US, GB"))
    subdivision = models.CharField(max_length=16, blank=True, help_text=_("e.g. BE, CA"))
    closed_dates = models.JSONField(
        default=list, blank=True, help_text=_('Extra closed days, e.g. ["2026-12-24"]')
    )

    def __str__(self) -> str:
        return f"Calendar of {self.unit}"

    def as_business_calendar(self) -> BusinessCalendar:
        return BusinessCalendar.from_json(
            {
                "time_zone": self.time_zone,
                "weekly_hours": self.weekly_hours,
                "country": self.country,
                "subdivision": self.subdivision,
                "closed_dates": self.closed_dates,
            }
        )


class DeadlineKind(models.TextChoices):
    START = "start", _("Start deadline")
    RESOLVE = "resolve", _("Resolve deadline")


class Escalation(models.Model):
    """One step up the designee chain because a deadline was missed.

    The unique key (case, deadline, deadline time, level) is what guarantees that a case is never
    escalated twice for the same deadline, whatever the number of workers or restarts.
    """

    # The unique key leads with the case: an index of its own would only cost writes.
    case = models.ForeignKey(
        "cases.Case", on_delete=models.CASCADE, related_name="escalations", db_index=False
    )
    deadline = models.CharField(max_length=8, choices=DeadlineKind.choices)
    deadline_at = models.DateTimeField()
    level = models.PositiveSmallIntegerField()
    designee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["case", "deadline", "deadline_at", "level"],
                name="escalation_once_per_deadline_level",
            )
        ]

    def __str__(self) -> str:
        return f"Case {self.case_id}: {self.deadline} level {self.level}"
