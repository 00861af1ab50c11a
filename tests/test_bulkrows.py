"""The plain-SQL helpers write and read datetimes exactly as Django's own fields do."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection, transaction

from caseloop.bulkrows import (
    Table,
    datetime_adapter,
    new_ids,
    selected_datetime,
    text_datetime_reader,
)
from caseloop.cases.models import Case
from caseloop.cases.tests.factories import make_case
from caseloop.conftest import MONDAY_9AM
from caseloop.org.models import Unit

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


def test_rows_inserted_for_their_ids_get_them_in_order() -> None:
    unit = make_case(now=MONDAY_9AM).unit
    table = Table(Unit, ("code", "name", "kind", "parent_id"))
    rows = [(f"store-{n}", f"Store {n}", "store", unit.pk) for n in range(5)]
    ids = table.insert_returning_ids(rows)
    assert len(set(ids)) == 5
    assert [Unit.objects.get(pk=pk).code for pk in ids] == [row[0] for row in rows]
    assert table.insert_returning_ids(rows[:0]) == []


@pytest.mark.django_db(transaction=True)
def test_new_ids_on_sqlite_are_refused_without_the_write_lock() -> None:
    if connection.vendor != "sqlite":
        assert len(new_ids(Unit, 2)) == 2  # PostgreSQL draws them from the sequence
        return
    with pytest.raises(RuntimeError, match="IMMEDIATE transaction"):
        new_ids(Unit, 2)
    with transaction.atomic():
        first, second = new_ids(Unit, 2)
    assert second == first + 1
