"""Business-time arithmetic: expected instants are worked out by hand and written in UTC.

Reference week in June 2026: Friday 12, Saturday 13, Sunday 14, Monday 15, Tuesday 16.
"""

import json
import pickle
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import holidays
import pytest

from caseloop.sla.calendar import (
    BusinessCalendar,
    CalendarError,
    WorkingPeriod,
    _holiday_dates,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def period(start_hour: int, end_hour: int) -> WorkingPeriod:
    return WorkingPeriod(time(start_hour), time(end_hour % 24))


OFFICE = BusinessCalendar.standard("UTC")
LUNCH_BREAK = BusinessCalendar(
    time_zone="UTC",
    weekly_hours=dict.fromkeys(range(5), (period(9, 12), period(13, 17))),
)
GERMAN_OFFICE = BusinessCalendar.standard("Europe/Berlin", country="DE", subdivision="BE")
NEW_YORK_OFFICE = BusinessCalendar.standard("America/New_York")
TOKYO_OFFICE = BusinessCalendar.standard("Asia/Tokyo")
ROUND_THE_CLOCK_BERLIN = BusinessCalendar(
    time_zone="Europe/Berlin", weekly_hours=dict.fromkeys(range(7), (period(0, 24),))
)
ROUND_THE_CLOCK_NEW_YORK = BusinessCalendar(
    time_zone="America/New_York", weekly_hours=dict.fromkeys(range(7), (period(0, 24),))
)


# -- weekends ----------------------------------------------------------------------------------


def test_friday_afternoon_plus_one_business_day_is_monday_same_time() -> None:
    assert OFFICE.add_business_days(utc(2026, 6, 12, 15, 30), 1) == utc(2026, 6, 15, 15, 30)


def test_saturday_plus_one_business_day_is_tuesday_opening() -> None:
    assert OFFICE.add_business_days(utc(2026, 6, 13, 10), 1) == utc(2026, 6, 16, 9)


def test_weekend_days_are_not_working_days() -> None:
    assert not OFFICE.is_working_day(date(2026, 6, 13))
    assert not OFFICE.is_working_day(date(2026, 6, 14))


def test_weekdays_are_working_days() -> None:
    assert OFFICE.is_working_day(date(2026, 6, 15))


def test_business_hours_skip_the_weekend() -> None:
    assert OFFICE.add_business_hours(utc(2026, 6, 12, 16), 3) == utc(2026, 6, 15, 11)


# -- public holidays ---------------------------------------------------------------------------


def test_christmas_holidays_are_skipped_by_business_days() -> None:
    # Thu 24 Dec 10:00 CET; Fri 25 and Sat 26 are holidays, Sun 27 is a weekend day.
    start = datetime(2026, 12, 24, 10, tzinfo=BERLIN)
    assert GERMAN_OFFICE.add_business_days(start, 1) == utc(2026, 12, 28, 9)


def test_good_friday_is_not_a_working_day_in_germany() -> None:
    assert not GERMAN_OFFICE.is_working_day(date(2026, 4, 3))


def test_easter_holidays_are_skipped_by_business_hours() -> None:
    # Thu 2 Apr 16:00 CEST: one hour that day, then Good Friday, the weekend and Easter Monday.
    start = datetime(2026, 4, 2, 16, tzinfo=BERLIN)
    assert GERMAN_OFFICE.add_business_hours(start, 2) == utc(2026, 4, 7, 8)


def test_berlin_subdivision_closes_on_international_womens_day() -> None:
    # 8 March 2026 is a Sunday, so the Monday of 2027 shows the holiday.
    assert not GERMAN_OFFICE.is_working_day(date(2027, 3, 8))


def test_international_womens_day_is_a_working_day_outside_berlin() -> None:
    bavaria = BusinessCalendar.standard("Europe/Berlin", country="DE", subdivision="BY")
    germany = BusinessCalendar.standard("Europe/Berlin", country="DE")
    assert bavaria.is_working_day(date(2027, 3, 8))
    assert germany.is_working_day(date(2027, 3, 8))


def test_holidays_are_looked_up_by_the_units_local_date() -> None:
    # Wed 6 May 2026 is a Japanese substitute holiday, Thu 7 May is not.
    tokyo = BusinessCalendar.standard("Asia/Tokyo", country="JP")
    assert tokyo.is_working_day(utc(2026, 5, 6, 16))  # Thu 7 May 01:00 JST
    assert not tokyo.is_working_day(utc(2026, 5, 6, 14, 59))  # Wed 6 May 23:59 JST


def test_holiday_set_is_built_once_per_country_subdivision_and_year(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[tuple[str, str | None, object]] = []
    real_country_holidays: Callable[..., holidays.HolidayBase] = holidays.country_holidays

    def counting_country_holidays(
        country: str, subdiv: str | None = None, years: object = None
    ) -> holidays.HolidayBase:
        if years is not None:
            built.append((country, subdiv, years))
        return real_country_holidays(country, subdiv=subdiv, years=years)

    monkeypatch.setattr(holidays, "country_holidays", counting_country_holidays)
    _holiday_dates.cache_clear()
    hamburg = BusinessCalendar.standard("Europe/Berlin", country="DE", subdivision="HH")
    hamburg_with_party = BusinessCalendar.standard(
        "Europe/Berlin", country="DE", subdivision="HH", closed_dates=[date(2026, 7, 3)]
    )
    for offset in range(60):
        hamburg.is_working_day(date(2026, 3, 1) + timedelta(days=offset))
        hamburg_with_party.is_working_day(date(2026, 3, 1) + timedelta(days=offset))
    hamburg.is_working_day(date(2027, 1, 1))

    assert built == [("DE", "HH", 2026), ("DE", "HH", 2027)]


# -- extra closed dates ------------------------------------------------------------------------


def test_extra_closed_date_is_not_a_working_day() -> None:
    calendar = BusinessCalendar.standard("UTC", closed_dates=[date(2026, 12, 31)])
    assert not calendar.is_working_day(date(2026, 12, 31))


def test_business_days_skip_an_extra_closed_date() -> None:
    calendar = BusinessCalendar.standard("UTC", closed_dates=[date(2026, 12, 31)])
    assert calendar.add_business_days(utc(2026, 12, 30, 11), 1) == utc(2027, 1, 1, 11)


# -- business hours ----------------------------------------------------------------------------


def test_business_hours_continue_at_next_days_opening() -> None:
    assert OFFICE.add_business_hours(utc(2026, 6, 15, 15), 4) == utc(2026, 6, 16, 11)


def test_business_hours_spanning_several_days() -> None:
    # 8 hours Monday, 8 hours Tuesday, 4 hours Wednesday.
    assert OFFICE.add_business_hours(utc(2026, 6, 15, 9), 20) == utc(2026, 6, 17, 13)


def test_business_hours_ending_at_closing_time_return_closing_time() -> None:
    assert OFFICE.add_business_hours(utc(2026, 6, 15, 15), 2) == utc(2026, 6, 15, 17)


def test_zero_business_hours_during_working_time_return_start() -> None:
    start = utc(2026, 6, 15, 10, 15, 42, 123456)
    assert OFFICE.add_business_hours(start, 0) == start


def test_zero_business_hours_outside_working_time_return_next_opening() -> None:
    assert OFFICE.add_business_hours(utc(2026, 6, 13, 10), 0) == utc(2026, 6, 15, 9)


def test_closing_time_itself_is_outside_working_time() -> None:
    assert OFFICE.add_business_hours(utc(2026, 6, 12, 17), 0) == utc(2026, 6, 15, 9)


def test_business_hours_skip_lunch_break() -> None:
    assert LUNCH_BREAK.add_business_hours(utc(2026, 6, 15, 11), 2) == utc(2026, 6, 15, 14)


def test_business_hours_ending_at_lunch_return_start_of_lunch() -> None:
    assert LUNCH_BREAK.add_business_hours(utc(2026, 6, 15, 10), 2) == utc(2026, 6, 15, 12)


def test_business_hours_started_in_lunch_break_count_from_afternoon_opening() -> None:
    assert LUNCH_BREAK.add_business_hours(utc(2026, 6, 15, 12, 30), 1) == utc(2026, 6, 15, 14)


def test_fractional_float_hours_are_counted_to_the_minute() -> None:
    assert OFFICE.add_business_hours(utc(2026, 6, 15, 9), 1.5) == utc(2026, 6, 15, 10, 30)


def test_decimal_hours_are_accepted() -> None:
    assert OFFICE.add_business_hours(utc(2026, 6, 15, 9), Decimal("0.25")) == utc(
        2026, 6, 15, 9, 15
    )


# -- start outside working time ----------------------------------------------------------------


def test_business_hours_before_opening_count_from_opening() -> None:
    assert OFFICE.add_business_hours(utc(2026, 6, 15, 7, 30), 1) == utc(2026, 6, 15, 10)


def test_business_hours_after_closing_count_from_next_opening() -> None:
    assert OFFICE.add_business_hours(utc(2026, 6, 15, 18), 1) == utc(2026, 6, 16, 10)


def test_business_hours_on_weekend_count_from_monday_opening() -> None:
    assert OFFICE.add_business_hours(utc(2026, 6, 14, 12), 1) == utc(2026, 6, 15, 10)


def test_business_day_before_opening_counts_from_that_days_opening() -> None:
    assert OFFICE.add_business_days(utc(2026, 6, 15, 7, 30), 1) == utc(2026, 6, 16, 9)


def test_business_day_after_closing_counts_from_next_opening() -> None:
    # Monday 18:00 moves to Tuesday 09:00; one working day later is Wednesday 09:00.
    assert OFFICE.add_business_days(utc(2026, 6, 15, 18), 1) == utc(2026, 6, 17, 9)


def test_business_day_at_closing_time_counts_from_next_opening() -> None:
    assert OFFICE.add_business_days(utc(2026, 6, 15, 17), 1) == utc(2026, 6, 17, 9)


def test_zero_business_days_outside_working_time_return_next_opening() -> None:
    assert OFFICE.add_business_days(utc(2026, 6, 15, 18), 0) == utc(2026, 6, 16, 9)


def test_zero_business_days_during_working_time_return_start() -> None:
    assert OFFICE.add_business_days(utc(2026, 6, 16, 11, 11), 0) == utc(2026, 6, 16, 11, 11)


def test_three_business_days_from_wednesday_is_next_monday() -> None:
    assert OFFICE.add_business_days(utc(2026, 6, 17, 14, 5), 3) == utc(2026, 6, 22, 14, 5)


# -- business days on days with other working periods -----------------------------------------


def test_business_day_deadline_clamps_to_earlier_closing() -> None:
    short_friday = BusinessCalendar(
        time_zone="UTC",
        weekly_hours={0: (period(9, 17),), 3: (period(9, 17),), 4: (period(9, 13),)},
    )
    # Thursday 18 June 15:00 -> Friday 19 June, which closes at 13:00.
    assert short_friday.add_business_days(utc(2026, 6, 18, 15), 1) == utc(2026, 6, 19, 13)


def test_business_day_deadline_in_lunch_break_moves_to_afternoon_opening() -> None:
    calendar = BusinessCalendar(
        time_zone="UTC",
        weekly_hours={0: (period(9, 17),), 1: (period(9, 12), period(13, 17))},
    )
    assert calendar.add_business_days(utc(2026, 6, 15, 12, 30), 1) == utc(2026, 6, 16, 13)


def test_business_day_deadline_before_later_opening_moves_to_opening() -> None:
    calendar = BusinessCalendar(
        time_zone="UTC", weekly_hours={0: (period(9, 17),), 1: (period(10, 17),)}
    )
    assert calendar.add_business_days(utc(2026, 6, 15, 9, 30), 1) == utc(2026, 6, 16, 10)


# -- daylight saving time ----------------------------------------------------------------------


def test_business_day_across_berlin_spring_forward_keeps_local_time() -> None:
    # Fri 27 Mar 10:00 CET (09:00 UTC) -> Mon 30 Mar 10:00 CEST.
    start = datetime(2026, 3, 27, 10, tzinfo=BERLIN)
    assert GERMAN_OFFICE.add_business_days(start, 1) == utc(2026, 3, 30, 8)


def test_business_hours_across_berlin_spring_forward_weekend() -> None:
    # Fri 27 Mar 16:00 CET: one hour to closing, one more from Monday 09:00 CEST.
    start = datetime(2026, 3, 27, 16, tzinfo=BERLIN)
    assert GERMAN_OFFICE.add_business_hours(start, 2) == utc(2026, 3, 30, 8)


def test_business_day_across_berlin_fall_back_keeps_local_time() -> None:
    # Fri 23 Oct 10:00 CEST (08:00 UTC) -> Mon 26 Oct 10:00 CET.
    start = datetime(2026, 10, 23, 10, tzinfo=BERLIN)
    assert GERMAN_OFFICE.add_business_days(start, 1) == utc(2026, 10, 26, 9)


def test_business_seconds_across_berlin_fall_back_weekend() -> None:
    start = datetime(2026, 10, 23, 16, tzinfo=BERLIN)
    end = datetime(2026, 10, 26, 10, tzinfo=BERLIN)
    assert GERMAN_OFFICE.business_seconds_between(start, end) == 7200.0


def test_skipped_local_time_moves_later_by_the_clock_jump() -> None:
    # Sat 28 Mar 02:30 CET; 02:30 on Sun 29 Mar does not exist and becomes 03:30 CEST.
    start = datetime(2026, 3, 28, 2, 30, tzinfo=BERLIN)
    assert ROUND_THE_CLOCK_BERLIN.add_business_days(start, 1) == utc(2026, 3, 29, 1, 30)


def test_repeated_local_time_means_its_first_occurrence() -> None:
    # Sat 24 Oct 02:30 CEST; 02:30 on Sun 25 Oct happens twice, first at 02:30 CEST.
    start = datetime(2026, 10, 24, 2, 30, tzinfo=BERLIN)
    assert ROUND_THE_CLOCK_BERLIN.add_business_days(start, 1) == utc(2026, 10, 25, 0, 30)


def test_start_in_second_occurrence_of_repeated_hour_is_kept_for_zero_days() -> None:
    start = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN)  # 02:30 CET
    assert ROUND_THE_CLOCK_BERLIN.add_business_days(start, 0) == utc(2026, 10, 25, 1, 30)


def test_business_hours_are_elapsed_time_across_spring_forward() -> None:
    # Sat 28 Mar 12:00 CET (11:00 UTC) + 24 elapsed hours = Sun 29 Mar 13:00 CEST.
    start = datetime(2026, 3, 28, 12, tzinfo=BERLIN)
    assert ROUND_THE_CLOCK_BERLIN.add_business_hours(start, 24) == utc(2026, 3, 29, 11)


def test_berlin_spring_forward_day_has_23_business_hours_round_the_clock() -> None:
    start = datetime(2026, 3, 29, tzinfo=BERLIN)
    end = datetime(2026, 3, 30, tzinfo=BERLIN)
    assert ROUND_THE_CLOCK_BERLIN.business_seconds_between(start, end) == 23 * 3600.0


# Sundays 02:30-03:15: on 29 Mar 2026 the opening becomes 03:30 CEST, after the closing.
NIGHT_SHIFT_BERLIN = BusinessCalendar(
    time_zone="Europe/Berlin",
    weekly_hours={6: (WorkingPeriod(time(2, 30), time(3, 15)),)},
)


def test_period_made_to_run_backwards_by_the_clock_jump_gives_no_business_hours() -> None:
    # Next usable period is Sun 5 Apr 02:30 CEST (00:30 UTC).
    start = utc(2026, 3, 28, 12)
    assert NIGHT_SHIFT_BERLIN.add_business_hours(start, 0.25) == utc(2026, 4, 5, 0, 45)


def test_day_without_working_time_after_the_clock_jump_is_not_counted_as_business_day() -> None:
    # Sat 21 Mar moves to Sun 22 Mar 02:30 CET; 29 Mar has no working time, so two business
    # days later is Sun 12 Apr 02:30 CEST.
    start = utc(2026, 3, 21, 12)
    assert NIGHT_SHIFT_BERLIN.add_business_days(start, 2) == utc(2026, 4, 12, 0, 30)


def test_working_time_is_not_counted_twice_when_the_clock_jump_makes_periods_overlap() -> None:
    # On Sun 29 Mar 02:50 does not exist and becomes 03:50 CEST (01:50 UTC), past the second
    # period's 03:10 CEST opening; the working time is 00:00-03:00 UTC, three hours.
    calendar = BusinessCalendar(
        time_zone="Europe/Berlin",
        weekly_hours={
            6: (WorkingPeriod(time(1), time(2, 50)), WorkingPeriod(time(3, 10), time(5))),
        },
    )
    seconds = calendar.business_seconds_between(utc(2026, 3, 28, 12), utc(2026, 3, 30))
    assert seconds == 3 * 3600.0


def test_new_york_business_day_across_spring_forward_keeps_local_time() -> None:
    # Fri 6 Mar 15:00 EST (20:00 UTC) -> Mon 9 Mar 15:00 EDT.
    start = datetime(2026, 3, 6, 15, tzinfo=NEW_YORK)
    assert NEW_YORK_OFFICE.add_business_days(start, 1) == utc(2026, 3, 9, 19)


def test_new_york_business_hours_across_fall_back() -> None:
    # Fri 30 Oct 16:00 EDT: one hour to closing, two more from Mon 2 Nov 09:00 EST.
    start = datetime(2026, 10, 30, 16, tzinfo=NEW_YORK)
    assert NEW_YORK_OFFICE.add_business_hours(start, 3) == utc(2026, 11, 2, 16)


def test_new_york_fall_back_day_has_25_business_hours_round_the_clock() -> None:
    start = datetime(2026, 11, 1, tzinfo=NEW_YORK)
    end = datetime(2026, 11, 2, tzinfo=NEW_YORK)
    assert ROUND_THE_CLOCK_NEW_YORK.business_seconds_between(start, end) == 25 * 3600.0


# -- unit time zone differs from the input's ---------------------------------------------------


def test_business_day_uses_the_units_local_date_not_the_inputs() -> None:
    # Thu 14 May 23:30 UTC is Fri 15 May 08:30 in Tokyo: opens 09:00, +1 day is Mon 18 May.
    assert TOKYO_OFFICE.add_business_days(utc(2026, 5, 14, 23, 30), 1) == utc(2026, 5, 18, 0)


def test_business_hours_use_the_units_working_hours() -> None:
    # Fri 15 May 08:30 JST: counting starts at 09:00 JST.
    assert TOKYO_OFFICE.add_business_hours(utc(2026, 5, 14, 23, 30), 1) == utc(2026, 5, 15, 1)


def test_input_zone_does_not_change_the_result() -> None:
    start = datetime(2026, 5, 14, 19, 30, tzinfo=NEW_YORK)  # 23:30 UTC
    assert TOKYO_OFFICE.add_business_days(start, 1) == utc(2026, 5, 18, 0)


def test_results_are_in_utc() -> None:
    start = datetime(2026, 6, 15, 10, tzinfo=BERLIN)
    assert GERMAN_OFFICE.add_business_days(start, 1).tzinfo is UTC
    assert GERMAN_OFFICE.add_business_hours(start, 1).tzinfo is UTC


# -- business seconds between ------------------------------------------------------------------


def test_business_seconds_within_one_day() -> None:
    assert OFFICE.business_seconds_between(utc(2026, 6, 15, 10), utc(2026, 6, 15, 12, 30)) == 9000.0


def test_business_seconds_ignore_time_outside_working_hours() -> None:
    assert OFFICE.business_seconds_between(utc(2026, 6, 15, 7), utc(2026, 6, 15, 20)) == 8 * 3600.0


def test_business_seconds_across_weekend() -> None:
    assert OFFICE.business_seconds_between(utc(2026, 6, 12, 16), utc(2026, 6, 15, 10)) == 7200.0


def test_business_seconds_are_negative_when_end_precedes_start() -> None:
    assert OFFICE.business_seconds_between(utc(2026, 6, 15, 10), utc(2026, 6, 12, 16)) == -7200.0


def test_business_seconds_exclude_lunch_break() -> None:
    seconds = LUNCH_BREAK.business_seconds_between(utc(2026, 6, 15, 11), utc(2026, 6, 15, 14))
    assert seconds == 7200.0


# -- JSON --------------------------------------------------------------------------------------

BERLIN_SHOP = BusinessCalendar(
    time_zone="Europe/Berlin",
    weekly_hours={0: (period(9, 12), period(13, 17)), 4: (period(9, 13),)},
    country="DE",
    subdivision="BE",
    closed_dates=frozenset({date(2026, 12, 31), date(2026, 12, 24)}),
)


def test_to_json_writes_plain_json() -> None:
    data = BERLIN_SHOP.to_json()
    assert data == {
        "time_zone": "Europe/Berlin",
        "weekly_hours": {"0": [["09:00", "12:00"], ["13:00", "17:00"]], "4": [["09:00", "13:00"]]},
        "country": "DE",
        "subdivision": "BE",
        "closed_dates": ["2026-12-24", "2026-12-31"],
    }
    assert json.loads(json.dumps(data)) == data


def test_from_json_reads_back_an_equal_calendar() -> None:
    assert BusinessCalendar.from_json(json.loads(json.dumps(BERLIN_SHOP.to_json()))) == BERLIN_SHOP


def test_period_ending_at_midnight_is_written_as_24_00() -> None:
    data = ROUND_THE_CLOCK_BERLIN.to_json()
    assert data["weekly_hours"] == {str(day): [["00:00", "24:00"]] for day in range(7)}
    assert BusinessCalendar.from_json(data) == ROUND_THE_CLOCK_BERLIN


def test_from_json_rejects_missing_time_zone() -> None:
    with pytest.raises(CalendarError, match="time_zone"):
        BusinessCalendar.from_json({"weekly_hours": {"0": [["09:00", "17:00"]]}})


def test_from_json_rejects_malformed_time() -> None:
    with pytest.raises(CalendarError, match="Monday: '9am' is not a local time"):
        BusinessCalendar.from_json({"time_zone": "UTC", "weekly_hours": {"0": [["9am", "17:00"]]}})


# -- validation --------------------------------------------------------------------------------


def test_validate_accepts_berlin_office_with_holidays() -> None:
    GERMAN_OFFICE.validate()


def test_validate_accepts_adjacent_periods() -> None:
    BusinessCalendar("UTC", {0: (period(9, 12), period(12, 17))}).validate()


def test_validate_rejects_unknown_time_zone() -> None:
    with pytest.raises(CalendarError, match="unknown time zone 'Mars/Olympus'"):
        BusinessCalendar.standard("Mars/Olympus").validate()


def test_validate_rejects_unknown_country() -> None:
    with pytest.raises(CalendarError, match="unknown holiday country 'XX'"):
        BusinessCalendar.standard("UTC", country="XX").validate()


def test_validate_rejects_unknown_subdivision() -> None:
    with pytest.raises(CalendarError, match="unknown subdivision 'ZZ' for country 'DE'"):
        BusinessCalendar.standard("Europe/Berlin", country="DE", subdivision="ZZ").validate()


def test_validate_rejects_overlapping_periods() -> None:
    calendar = BusinessCalendar("UTC", {0: (period(12, 17), period(9, 13))})
    with pytest.raises(CalendarError, match="Monday: working periods 09:00-13:00 and 12:00-17:00"):
        calendar.validate()


def test_validate_rejects_inverted_period() -> None:
    calendar = BusinessCalendar("UTC", {0: (period(9, 17),), 1: (period(17, 9),)})
    with pytest.raises(CalendarError, match="Tuesday: working period 17:00-09:00 does not end"):
        calendar.validate()


def test_validate_rejects_week_without_working_time() -> None:
    with pytest.raises(CalendarError, match="no working time"):
        BusinessCalendar("UTC", {}).validate()


def test_calendar_error_is_a_value_error() -> None:
    assert issubclass(CalendarError, ValueError)


# -- guards against endless searches and bad input ---------------------------------------------

NEVER_OPEN = BusinessCalendar("UTC", {})


@pytest.mark.parametrize(
    "compute",
    [
        lambda: NEVER_OPEN.add_business_days(utc(2026, 6, 15, 10), 1),
        lambda: NEVER_OPEN.add_business_hours(utc(2026, 6, 15, 10), 1),
        lambda: NEVER_OPEN.business_seconds_between(utc(2026, 6, 15), utc(2026, 6, 16)),
        lambda: NEVER_OPEN.is_working_day(date(2026, 6, 15)),
    ],
    ids=["days", "hours", "seconds", "working_day"],
)
def test_calendar_without_working_time_raises_instead_of_looping(
    compute: Callable[[], object],
) -> None:
    with pytest.raises(CalendarError, match="no working time"):
        compute()


def test_search_for_working_time_gives_up_after_the_day_limit() -> None:
    every_monday_closed = frozenset(date(2026, 6, 15) + timedelta(weeks=n) for n in range(600))
    mondays_only = BusinessCalendar("UTC", {0: (period(9, 17),)}, closed_dates=every_monday_closed)
    with pytest.raises(CalendarError, match="3700 days"):
        mondays_only.add_business_hours(utc(2026, 6, 15, 10), 1)
    with pytest.raises(CalendarError, match="3700 days"):
        mondays_only.add_business_days(utc(2026, 6, 15, 10), 0)


def test_business_days_beyond_the_day_limit_are_rejected() -> None:
    with pytest.raises(CalendarError, match="3700 days"):
        OFFICE.add_business_days(utc(2026, 6, 15, 10), 3000)


def test_naive_start_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        OFFICE.add_business_days(datetime(2026, 6, 15, 10), 1)


def test_negative_hours_are_rejected() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        OFFICE.add_business_hours(utc(2026, 6, 15, 10), -1)


def test_negative_days_are_rejected() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        OFFICE.add_business_days(utc(2026, 6, 15, 10), -1)


# -- construction ------------------------------------------------------------------------------


def test_standard_calendar_is_monday_to_friday_nine_to_five() -> None:
    calendar = BusinessCalendar.standard("Europe/Berlin")
    nine_to_five = (WorkingPeriod(time(9), time(17)),)
    assert dict(calendar.weekly_hours) == dict.fromkeys(range(5), nine_to_five)


def test_calendar_does_not_follow_later_changes_to_the_callers_dict() -> None:
    hours = {0: (period(9, 17),)}
    calendar = BusinessCalendar("UTC", hours)
    hours[1] = (period(9, 17),)
    assert not calendar.is_working_day(date(2026, 6, 16))


def test_equal_calendars_are_interchangeable_as_keys() -> None:
    first = BusinessCalendar.standard("Europe/Berlin", country="DE")
    second = BusinessCalendar.standard("Europe/Berlin", country="DE")
    assert {first: "berlin"}[second] == "berlin"


def test_calendar_survives_pickling() -> None:
    assert pickle.loads(pickle.dumps(BERLIN_SHOP)) == BERLIN_SHOP  # noqa: S301
