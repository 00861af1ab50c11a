"""When a case must be started and resolved, from its program's deadlines."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from caseloop.org.models import Unit
from caseloop.programs.models import DeadlineUnit, Program
from caseloop.sla.calendar import BusinessCalendar


@dataclass(frozen=True)
class Deadlines:
    start_due_at: datetime
    resolve_due_at: datetime


def calendar_for(unit: Unit) -> BusinessCalendar:
    """The business calendar that applies to ``unit``: Monday to Friday, 09:00–17:00, in the
    server's time zone, until a unit's own calendar says otherwise."""
    return BusinessCalendar.standard(settings.TIME_ZONE)


def _add(calendar: BusinessCalendar, start: datetime, amount: int, unit: str) -> datetime:
    if unit == DeadlineUnit.BUSINESS_HOURS:
        return calendar.add_business_hours(start, amount)
    return calendar.add_business_days(start, amount)


def deadlines_for(program: Program, unit: Unit, opened_at: datetime) -> Deadlines:
    """Start-by and resolve-by for a case of ``program`` opened at ``unit`` at ``opened_at``."""
    calendar = calendar_for(unit)
    return Deadlines(
        start_due_at=_add(calendar, opened_at, program.start_deadline, program.start_deadline_unit),
        resolve_due_at=_add(
            calendar, opened_at, program.resolve_deadline, program.resolve_deadline_unit
        ),
    )
