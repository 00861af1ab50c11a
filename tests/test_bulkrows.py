"""The plain-SQL helpers write and read datetimes exactly as Django's own fields do."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection

from caseloop.bulkrows import datetime_adapter, selected_datetime, text_datetime_reader
from caseloop.cases.models import Case
from caseloop.cases.tests.factories import make_case
from caseloop.conftest import MONDAY_9AM

pytestmark = pytest.mark.django_db

INSTANTS = [
    datetime(2026, 11, 24, 13, 30, tzinfo=UTC),
    datetime(2026, 11, 24, 13, 30, 0, 90_000, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=2))),
    datetime(2026, 12, 31, 23, 0, 0, 1, tzinfo=timezone(timedelta(hours=-5))),
]


@pytest.mark.parametrize("instant", INSTANTS, ids=str)
def test_datetimes_are_stored_as_the_field_stores_them(instant: datetime) -> None:
    assert datetime_adapter()(instant) == connection.ops.adapt_datetimefield_value(instant)


@pytest.mark.parametrize("instant", INSTANTS, ids=str)
def test_a_selected_datetime_reads_back_the_instant_written(instant: datetime) -> None:
    case = make_case(now=MONDAY_9AM)
    Case.objects.filter(pk=case.pk).update(next_deadline_at=instant)
    column = selected_datetime('"next_deadline_at"')
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM cases_case WHERE id = %s", [case.pk])  # noqa: S608
        (value,) = cursor.fetchone()
    read = text_datetime_reader()(value)
    assert read == instant
    assert read is not None and read.utcoffset() == timedelta(0)
    assert text_datetime_reader()(None) is None
