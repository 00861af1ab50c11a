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
from caseloop.intake.models import SurveyResponse
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


@pytest.mark.parametrize("come_converted", [False, True], ids=["converted here", "as given"])
def test_columns_given_out_of_the_models_order_land_in_their_own(come_converted: bool) -> None:
    case = make_case(now=MONDAY_9AM)
    columns = (
        "case_id",
        "verbatims",
        "answers",
        "transaction_details",
        "respondent",
        "ingested_at",
        "received_at",
        "unit_id",
        "customer_id",
        "external_id",
        "source",
        "program_id",
        "alert_rule_id",
    )
    # The JSON and datetime columns need converting; the others go as they are.
    converted = columns[1:7] if come_converted else ()
    table = Table(SurveyResponse, columns, converted=converted)
    values = {
        "verbatims": {"verbatim": "Cold food"},
        "answers": {"q_overall": 3, "concern": True},
        "transaction_details": {"reference": "R-1"},
        "respondent": {"email": "ann@example.com"},
        "ingested_at": MONDAY_9AM,
        "received_at": MONDAY_9AM - timedelta(hours=2),
    }
    if come_converted:
        values = {name: table.adapt(name, [value])[0] for name, value in values.items()}
    row = (case.pk, *values.values(), case.unit_id, case.customer_id, "r-1", "web", case.program_id)
    table.insert([(*row, None)])
    stored = SurveyResponse.objects.get(source="web", external_id="r-1")
    assert (stored.case_id, stored.unit_id, stored.customer_id, stored.program_id) == (
        case.pk,
        case.unit_id,
        case.customer_id,
        case.program_id,
    )
    assert stored.alert_rule_id is None
    assert stored.verbatims == {"verbatim": "Cold food"}
    assert stored.answers == {"q_overall": 3, "concern": True}
    assert stored.transaction_details == {"reference": "R-1"}
    assert stored.respondent == {"email": "ann@example.com"}
    assert stored.received_at == MONDAY_9AM - timedelta(hours=2)
    assert stored.ingested_at == MONDAY_9AM
