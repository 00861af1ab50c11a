"""When a case must be started and resolved: program deadlines in the unit's business calendar."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from caseloop.org.models import Unit
from caseloop.programs.models import DeadlineUnit, Program
from caseloop.sla.calendar import BusinessCalendar
from caseloop.sla.models import UnitCalendar


@dataclass(frozen=True)
class Deadlines:
    start_due_at: datetime
    resolve_due_at: datetime


def default_calendar() -> BusinessCalendar:
    """Monday to Friday, 09:00–17:00, in the server's time zone."""
    return BusinessCalendar.standard(settings.TIME_ZONE)


def calendars_for_units(units: Iterable[Unit]) -> dict[int, BusinessCalendar]:
    """Each unit's calendar — its own, else its nearest ancestor's, else the default — in one
    query for all of them (bulk intake opens thousands of cases per batch)."""
    units = list(units)
    ancestor_ids = {ancestor for unit in units for ancestor in unit.ancestor_ids}
    by_unit = {
        row.unit_id: row.as_business_calendar()
        for row in UnitCalendar.objects.filter(unit_id__in=ancestor_ids)
    }
    fallback = default_calendar()
    result: dict[int, BusinessCalendar] = {}
    for unit in units:
        nearest = next((by_unit[a] for a in reversed(unit.ancestor_ids) if a in by_unit), fallback)
        result[unit.pk] = nearest
    return result


def calendar_for(unit: Unit) -> BusinessCalendar:
    """The business calendar that applies to ``unit``."""
    return calendars_for_units([unit])[unit.pk]


def add_deadline(calendar: BusinessCalendar, start: datetime, amount: int, unit: str) -> datetime:
    if unit == DeadlineUnit.BUSINESS_HOURS:
        return calendar.add_business_hours(start, amount)
    return calendar.add_business_days(start, amount)


def deadlines_in(calendar: BusinessCalendar, program: Program, opened_at: datetime) -> Deadlines:
    return Deadlines(
        start_due_at=add_deadline(
            calendar, opened_at, program.start_deadline, program.start_deadline_unit
        ),
        resolve_due_at=add_deadline(
            calendar, opened_at, program.resolve_deadline, program.resolve_deadline_unit
        ),
    )


def deadlines_for(program: Program, unit: Unit, opened_at: datetime) -> Deadlines:
    """Start-by and resolve-by for a case of ``program`` opened at ``unit`` at ``opened_at``."""
    return deadlines_in(calendar_for(unit), program, opened_at)
