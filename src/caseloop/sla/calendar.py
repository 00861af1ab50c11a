"""Business-time arithmetic for case deadlines.

A unit's business calendar says when the unit is at work: a time zone, working periods for each
weekday (local wall-clock times, e.g. 09:00-12:00 and 13:00-17:00), public holidays of a country
and optional subdivision (from the ``holidays`` package) and extra closed dates such as a company
party. Deadlines like "open within 1 business day" or "resolve within 8 business hours" are
computed in that calendar.

Conventions
-----------
* Instants go in as timezone-aware datetimes in any zone and come out as datetimes in UTC. Which
  day an instant belongs to (weekday, holiday, closed date) is always decided by the unit's local
  date, never by the input's zone or the server's.
* Working time includes a period's opening time and excludes its closing time: at exactly 17:00 a
  09:00-17:00 office is closed. An end of ``00:00`` (``"24:00"`` in JSON) means the period runs to
  midnight at the end of that day, which allows round-the-clock calendars.
* Business hours are elapsed time inside working periods. Counting starts at ``start`` when it lies
  in working time, otherwise at the next opening; the deadline is where the N-th business hour
  ends. A deadline that ends exactly at a closing time is that closing time, not the next opening.
  Adding 0 hours gives the next working instant, or ``start`` itself during working time. Hours
  are real elapsed hours, so a period that spans a clock change is an hour shorter or longer.
* Business days keep the local wall-clock time. A start outside working time first moves to the
  next opening; the deadline is then the same local time on the N-th following working day. If
  that day closes earlier, the deadline is its last closing time; if the time falls before an
  opening or in a break, the deadline is the next opening that day. Adding 0 days gives the next
  working instant, or ``start`` itself during working time.
* Clock changes: a local time that occurs twice (autumn) means its first occurrence; a local time
  that is skipped (spring) is read with the offset in force before the change, so it lands as much
  later as the clock jumped (02:30 on 29 March 2026 in Berlin becomes 03:30 summer time). This is
  zoneinfo's ``fold=0`` reading. A working period that this would make run backwards is treated as
  closed for that day, one pushed into the next period starts where the previous one ends, and a
  day left without working time does not count as a business day.
* Public holidays are the ones the ``holidays`` package lists for the country and subdivision,
  including the substitute days it marks as observed.
* Business seconds between two instants are negative when the end lies before the start.
* A search for working time gives up with ``CalendarError`` after ``MAX_DAY_WALK`` calendar days,
  so a calendar that is never open cannot hang a request.
"""

import functools
import itertools
import math
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cached_property
from types import MappingProxyType
from typing import Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = ["MAX_DAY_WALK", "BusinessCalendar", "CalendarError", "WorkingPeriod"]

MAX_DAY_WALK = 3700
"""How many calendar days any computation may look ahead (about ten years)."""

_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_ONE_DAY = timedelta(days=1)
_MICROSECONDS_PER_HOUR = 3_600_000_000
_MIDNIGHT = time(0)
_ZERO = timedelta(0)
# Bulk imports hit the same few dates over and over; a full clear keeps the bound cheap.
_INTERVAL_CACHE_SIZE = 1024


class CalendarError(ValueError):
    """A business calendar is invalid, or a computation cannot be answered within it."""


@dataclass(frozen=True)
class WorkingPeriod:
    """One local working interval on a weekday, e.g. 09:00-17:00.

    ``end == time(0)`` means midnight at the end of the day.
    """

    start: time
    end: time

    def __str__(self) -> str:
        return f"{_format_time(self.start)}-{_format_time(self.end, end=True)}"


@functools.lru_cache(maxsize=1024)
def _holiday_dates(country: str, subdivision: str, year: int) -> frozenset[date]:
    # ``years`` must be explicit: without it the holiday set expands lazily and reads as empty.
    found = holidays.country_holidays(country, subdiv=subdivision or None, years=year)
    return frozenset(found.keys())


def _format_time(value: time, *, end: bool = False) -> str:
    if end and value == _MIDNIGHT:
        return "24:00"
    if value.second == 0 and value.microsecond == 0:
        return value.isoformat(timespec="minutes")
    return value.isoformat()


def _offset(value: time, *, end: bool = False) -> timedelta:
    """Distance of a wall-clock time from local midnight; an end of 00:00 is the next midnight."""
    if end and value == _MIDNIGHT:
        return _ONE_DAY
    return timedelta(
        hours=value.hour, minutes=value.minute, seconds=value.second, microseconds=value.microsecond
    )


def _as_utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _hours_to_delta(hours: float | Decimal) -> timedelta:
    finite = hours.is_finite() if isinstance(hours, Decimal) else math.isfinite(hours)
    if not finite:
        raise ValueError(f"business hours must be a finite number, got {hours}")
    if hours < 0:
        raise ValueError(f"business hours must not be negative, got {hours}")
    if hours > 24 * MAX_DAY_WALK:
        raise CalendarError(f"{hours} business hours is beyond {MAX_DAY_WALK} days")
    if isinstance(hours, Decimal):
        # timedelta does not take Decimal; scale to whole microseconds without a float detour.
        scaled = (hours * _MICROSECONDS_PER_HOUR).to_integral_value(rounding=ROUND_HALF_EVEN)
        return timedelta(microseconds=int(scaled))
    return timedelta(hours=hours)


# A working period on one local date: wall-clock start/end (offsets from local midnight) and the
# UTC instants they resolve to.
_Interval = tuple[timedelta, timedelta, datetime, datetime]


class _Schedule:
    """Validated, precomputed form of a calendar used by the arithmetic."""

    __slots__ = (
        "closed_dates",
        "country",
        "holiday_years",
        "interval_cache",
        "periods",
        "subdivision",
        "zone",
    )

    def __init__(self, calendar: "BusinessCalendar") -> None:
        self.zone = ZoneInfo(calendar.time_zone)
        self.country = calendar.country
        self.subdivision = calendar.subdivision
        self.closed_dates = calendar.closed_dates
        self.holiday_years: dict[int, frozenset[date]] = {}
        self.interval_cache: dict[date, tuple[_Interval, ...]] = {}
        by_weekday: list[tuple[tuple[timedelta, timedelta], ...]] = []
        for weekday in range(7):
            spans = sorted(
                (_offset(p.start), _offset(p.end, end=True))
                for p in calendar.weekly_hours.get(weekday, ())
            )
            by_weekday.append(tuple(spans))
        self.periods = tuple(by_weekday)

    def is_working_day(self, day: date) -> bool:
        if not self.periods[day.weekday()] or day in self.closed_dates:
            return False
        if not self.country:
            return True
        year_holidays = self.holiday_years.get(day.year)
        if year_holidays is None:
            year_holidays = _holiday_dates(self.country, self.subdivision, day.year)
            self.holiday_years[day.year] = year_holidays
        return day not in year_holidays

    def to_utc(self, local: datetime) -> datetime:
        """Resolve a naive local wall-clock time with ``fold=0`` (see module docstring)."""
        return (local - (self.zone.utcoffset(local) or _ZERO)).replace(tzinfo=UTC)

    def local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()

    def intervals(self, day: date) -> tuple[_Interval, ...]:
        """The day's working periods in order, each as wall-clock offsets and UTC instants."""
        cached = self.interval_cache.get(day)
        if cached is None:
            if len(self.interval_cache) >= _INTERVAL_CACHE_SIZE:
                self.interval_cache.clear()
            cached = self.interval_cache[day] = self._compute_intervals(day)
        return cached

    def _compute_intervals(self, day: date) -> tuple[_Interval, ...]:
        spans = self.periods[day.weekday()]
        if not spans or not self.is_working_day(day):
            return ()
        midnight = datetime(day.year, day.month, day.day)
        result: list[_Interval] = []
        previous_end: datetime | None = None
        for wall_start, wall_end in spans:
            start = self.to_utc(midnight + wall_start)
            end = self.to_utc(midnight + wall_end)
            # Skipped local times can resolve out of order; never let working time run backwards.
            if previous_end is not None and start < previous_end:
                start = previous_end
            if end <= start:
                continue
            result.append((wall_start, wall_end, start, end))
            previous_end = end
        return tuple(result)


@dataclass(frozen=True)
class BusinessCalendar:
    """When a unit works: time zone, weekly working periods, public holidays, closed dates.

    ``weekly_hours`` maps 0 (Monday) to 6 (Sunday) to that weekday's working periods; a missing
    or empty weekday is closed. ``country`` and ``subdivision`` select public holidays from the
    ``holidays`` package (ISO codes, e.g. "DE" and "BE"); an empty country means no holidays.
    """

    time_zone: str
    weekly_hours: Mapping[int, tuple[WorkingPeriod, ...]]
    country: str = ""
    subdivision: str = ""
    closed_dates: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        # A private read-only copy keeps the calendar immutable even if the caller's dict changes,
        # which the cached schedule and __hash__ rely on.
        weekly = {day: tuple(periods) for day, periods in self.weekly_hours.items() if periods}
        object.__setattr__(self, "weekly_hours", MappingProxyType(weekly))
        object.__setattr__(self, "closed_dates", frozenset(self.closed_dates))

    def __hash__(self) -> int:
        return hash(
            (
                self.time_zone,
                frozenset(self.weekly_hours.items()),
                self.country,
                self.subdivision,
                self.closed_dates,
            )
        )

    def __reduce__(self) -> tuple[type[Self], tuple[object, ...]]:
        # The read-only mapping cannot be pickled or deep-copied as such; rebuild from a dict.
        return (
            type(self),
            (
                self.time_zone,
                dict(self.weekly_hours),
                self.country,
                self.subdivision,
                self.closed_dates,
            ),
        )

    @classmethod
    def standard(
        cls,
        time_zone: str = "UTC",
        *,
        country: str = "",
        subdivision: str = "",
        closed_dates: Iterable[date] = (),
    ) -> Self:
        """Monday to Friday, 09:00-17:00."""
        office_hours = (WorkingPeriod(time(9), time(17)),)
        return cls(
            time_zone=time_zone,
            weekly_hours=dict.fromkeys(range(5), office_hours),
            country=country,
            subdivision=subdivision,
            closed_dates=frozenset(closed_dates),
        )

    # -- serialisation -------------------------------------------------------------------------

    def to_json(self) -> dict[str, object]:
        """Plain JSON-compatible form; ``from_json`` reads it back to an equal calendar."""
        weekly: dict[str, object] = {
            str(day): [
                [_format_time(p.start), _format_time(p.end, end=True)]
                for p in self.weekly_hours[day]
            ]
            for day in sorted(self.weekly_hours)
        }
        return {
            "time_zone": self.time_zone,
            "weekly_hours": weekly,
            "country": self.country,
            "subdivision": self.subdivision,
            "closed_dates": [day.isoformat() for day in sorted(self.closed_dates)],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Self:
        """Build a calendar from ``to_json`` output.

        Raises ``CalendarError`` when the data is malformed. The result is not validated, so
        that a stored calendar can be loaded and its problems shown; call ``validate()``.
        """
        if not isinstance(data, Mapping):
            raise CalendarError("calendar data must be a JSON object")
        time_zone = data.get("time_zone")
        if not isinstance(time_zone, str):
            raise CalendarError("calendar data needs a 'time_zone' string")
        country = data.get("country", "")
        subdivision = data.get("subdivision", "")
        if not isinstance(country, str) or not isinstance(subdivision, str):
            raise CalendarError("'country' and 'subdivision' must be strings")
        raw_weekly = data.get("weekly_hours")
        if not isinstance(raw_weekly, Mapping):
            raise CalendarError("calendar data needs a 'weekly_hours' object")
        weekly: dict[int, tuple[WorkingPeriod, ...]] = {}
        for key, raw_periods in raw_weekly.items():
            if not (isinstance(key, str) and key in {"0", "1", "2", "3", "4", "5", "6"}):
                raise CalendarError(f"weekly_hours key {key!r} is not a weekday from '0' to '6'")
            weekly[int(key)] = _parse_periods(raw_periods, _WEEKDAY_NAMES[int(key)])
        raw_closed = data.get("closed_dates", [])
        if not isinstance(raw_closed, list):
            raise CalendarError("'closed_dates' must be a list of ISO dates")
        closed = frozenset(_parse_date(item) for item in raw_closed)
        return cls(
            time_zone=time_zone,
            weekly_hours=weekly,
            country=country,
            subdivision=subdivision,
            closed_dates=closed,
        )

    # -- validation ----------------------------------------------------------------------------

    def validate(self) -> None:
        """Raise ``CalendarError`` listing every problem with this calendar."""
        problems = self._problems()
        if problems:
            raise CalendarError("; ".join(problems))

    def _problems(self) -> list[str]:
        problems: list[str] = []
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            problems.append(f"unknown time zone {self.time_zone!r}")
        problems.extend(self._holiday_problems())
        problems.extend(self._weekly_problems())
        for day in sorted(self.closed_dates, key=str):
            if not isinstance(day, date) or isinstance(day, datetime):
                problems.append(f"closed date {day!r} must be a date")
        return problems

    def _holiday_problems(self) -> list[str]:
        if not self.country:
            if self.subdivision:
                return [f"subdivision {self.subdivision!r} is given without a country"]
            return []
        try:
            holidays.country_holidays(self.country)
        except NotImplementedError:
            return [f"unknown holiday country {self.country!r}"]
        if self.subdivision:
            try:
                holidays.country_holidays(self.country, subdiv=self.subdivision)
            except NotImplementedError:
                return [f"unknown subdivision {self.subdivision!r} for country {self.country!r}"]
        return []

    def _weekly_problems(self) -> list[str]:
        problems: list[str] = []
        has_working_time = False
        for weekday, periods in self.weekly_hours.items():
            if not (isinstance(weekday, int) and 0 <= weekday <= 6):
                problems.append(f"weekday {weekday!r} is not 0 (Monday) to 6 (Sunday)")
                continue
            name = _WEEKDAY_NAMES[weekday]
            spans: list[tuple[timedelta, timedelta, WorkingPeriod]] = []
            for period in periods:
                if not (
                    isinstance(period, WorkingPeriod)
                    and isinstance(period.start, time)
                    and isinstance(period.end, time)
                ):
                    problems.append(f"{name}: {period!r} is not a WorkingPeriod of two times")
                    continue
                if period.start.tzinfo is not None or period.end.tzinfo is not None:
                    problems.append(
                        f"{name}: working period {period} must use local times without a zone"
                    )
                    continue
                start, end = _offset(period.start), _offset(period.end, end=True)
                if end <= start:
                    problems.append(f"{name}: working period {period} does not end after it starts")
                    continue
                spans.append((start, end, period))
            spans.sort(key=lambda span: (span[0], span[1]))
            for (_, earlier_end, earlier), (later_start, _, later) in itertools.pairwise(spans):
                if later_start < earlier_end:
                    problems.append(f"{name}: working periods {earlier} and {later} overlap")
            has_working_time = has_working_time or bool(spans)
        if not has_working_time:
            problems.append("the week has no working time; give at least one weekday a period")
        return problems

    @cached_property
    def _schedule(self) -> _Schedule:
        return _schedule_for(self)

    # -- queries and arithmetic ----------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        """Whether the unit works on this local date (an aware datetime is read in its zone)."""
        schedule = self._schedule
        if isinstance(day, datetime):
            day = schedule.local_date(_as_utc(day, "day"))
        return schedule.is_working_day(day)

    def add_business_hours(self, start: datetime, hours: float | Decimal) -> datetime:
        """The instant ``hours`` business hours after ``start``, in UTC."""
        schedule = self._schedule
        current = _as_utc(start, "start")
        remaining = _hours_to_delta(hours)
        day = schedule.local_date(current)
        last_day = day + timedelta(days=MAX_DAY_WALK)
        while day <= last_day:
            for _, _, period_start, period_end in schedule.intervals(day):
                if period_end <= current:
                    continue
                current = max(current, period_start)
                available = period_end - current
                if remaining <= available:
                    return current + remaining
                remaining -= available
                current = period_end
            day += _ONE_DAY
        raise CalendarError(
            f"{hours} business hours after {start.isoformat()} is beyond {MAX_DAY_WALK} days"
        )

    def add_business_days(self, start: datetime, days: int) -> datetime:
        """The same local time ``days`` working days after ``start``, in UTC."""
        days = operator.index(days)
        if days < 0:
            raise ValueError(f"business days must not be negative, got {days}")
        if days > MAX_DAY_WALK:
            raise CalendarError(f"{days} business days is beyond {MAX_DAY_WALK} days")
        schedule = self._schedule
        current = _as_utc(start, "start")
        day = schedule.local_date(current)
        last_day = day + timedelta(days=MAX_DAY_WALK)
        wall: timedelta | None = None
        while wall is None:
            if day > last_day:
                raise CalendarError(
                    f"no working time within {MAX_DAY_WALK} days of {start.isoformat()}"
                )
            for wall_start, _, period_start, period_end in schedule.intervals(day):
                if period_end <= current:
                    continue
                if period_start <= current:
                    local = current.astimezone(schedule.zone)
                    wall = _offset(local.time())
                else:
                    current, wall = period_start, wall_start
                break
            else:
                day += _ONE_DAY
        if days == 0:
            return current

        remaining = days
        while remaining:
            day += _ONE_DAY
            if day > last_day:
                raise CalendarError(
                    f"{days} business days after {start.isoformat()} is beyond {MAX_DAY_WALK} days"
                )
            # A day counts only if it has working time left after any clock change.
            if schedule.intervals(day):
                remaining -= 1
        return self._place_on_day(schedule, day, wall)

    @staticmethod
    def _place_on_day(schedule: _Schedule, day: date, wall: timedelta) -> datetime:
        intervals = schedule.intervals(day)
        for wall_start, wall_end, period_start, period_end in intervals:
            if wall < wall_start:
                return period_start
            if wall <= wall_end:
                target = schedule.to_utc(datetime(day.year, day.month, day.day) + wall)
                return min(max(target, period_start), period_end)
        return intervals[-1][3]

    def business_seconds_between(self, start: datetime, end: datetime) -> float:
        """Working seconds from ``start`` to ``end``; negative when ``end`` is before ``start``."""
        schedule = self._schedule
        low, high = _as_utc(start, "start"), _as_utc(end, "end")
        sign = 1.0
        if high < low:
            low, high, sign = high, low, -1.0
        total = timedelta(0)
        day = schedule.local_date(low)
        last_day = schedule.local_date(high)
        while day <= last_day:
            for _, _, period_start, period_end in schedule.intervals(day):
                overlap = min(period_end, high) - max(period_start, low)
                if overlap > timedelta(0):
                    total += overlap
            day += _ONE_DAY
        return sign * total.total_seconds()


@functools.lru_cache(maxsize=128)
def _schedule_for(calendar: BusinessCalendar) -> _Schedule:
    # Callers often build an equal calendar per case; share the validated schedule between them.
    calendar.validate()
    return _Schedule(calendar)


def _parse_periods(raw: object, weekday_name: str) -> tuple[WorkingPeriod, ...]:
    if not isinstance(raw, list):
        raise CalendarError(f"{weekday_name}: working periods must be a list of [start, end]")
    periods: list[WorkingPeriod] = []
    for pair in raw:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise CalendarError(f"{weekday_name}: working period {pair!r} is not [start, end]")
        start_text, end_text = pair
        periods.append(
            WorkingPeriod(
                _parse_time(start_text, weekday_name, end=False),
                _parse_time(end_text, weekday_name, end=True),
            )
        )
    return tuple(periods)


def _parse_time(raw: object, weekday_name: str, *, end: bool) -> time:
    if end and raw == "24:00":
        return _MIDNIGHT
    if isinstance(raw, str):
        try:
            parsed = time.fromisoformat(raw)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                return parsed
    raise CalendarError(f"{weekday_name}: {raw!r} is not a local time like '09:00'")


def _parse_date(raw: object) -> date:
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    raise CalendarError(f"closed date {raw!r} is not an ISO date like '2026-12-24'")
