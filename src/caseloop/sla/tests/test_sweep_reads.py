"""How the sweep reads: cases as plain rows that equal what the ORM reads, what its units need
once per sweep however many batches it takes, and (PostgreSQL) no wait for a case another
transaction holds."""

import threading
from datetime import datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from caseloop.bulkrows import instances, select_in
from caseloop.cases import services
from caseloop.cases.models import Case
from caseloop.cases.tests.factories import make_case
from caseloop.conftest import Cast
from caseloop.org.tests.factories import make_unit, make_user
from caseloop.programs.tests.factories import make_program
from caseloop.sla.services import due_cases, sweep_deadlines, sweep_listed_cases

pytestmark = pytest.mark.django_db

TUESDAY = timedelta(days=1)  # a case opened on Monday 09:00 is due to start by then


def test_cases_read_as_plain_rows_equal_what_the_orm_reads(cast: Cast, now: datetime) -> None:
    services.add_note(cast.case, actor=cast.owner, body="Called", now=now)
    columns = [field.attname for field in Case._meta.concrete_fields]
    [plain] = instances(Case, columns, select_in(Case, columns, "id", [cast.case.pk]))
    read = Case.objects.get(pk=cast.case.pk)
    assert {c: getattr(plain, c) for c in columns} == {c: getattr(read, c) for c in columns}
    assert plain.first_activity_at is not None and plain.first_activity_at.utcoffset() is not None
    assert plain.was_overdue is False


def test_a_column_not_read_is_read_when_first_used(cast: Cast) -> None:
    [plain] = instances(Case, ["id"], select_in(Case, ["id"], "id", [cast.case.pk]))
    assert plain.subject == cast.case.subject


def test_a_sweep_of_many_batches_reads_its_units_once(now: datetime) -> None:
    store = make_unit(owner=make_user(), manager=make_user())
    program = make_program()
    for _ in range(3):
        make_case(program=program, unit=store, now=now)
    with CaptureQueriesContext(connection) as queries:
        result = sweep_deadlines(now=now + TUESDAY, batch_size=1)
    assert result.escalations == 3
    # The units themselves, then their managers (the chain): once each for the three batches.
    assert sum('FROM "org_unit"' in query["sql"] for query in queries) == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sweep", ["listed", "whole"])
def test_a_case_another_transaction_holds_is_passed_over_and_stays_due(
    now: datetime, sweep: str
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's write transaction lets one sweep at a time in: none is held")
    store = make_unit(owner=make_user(), manager=make_user())
    program = make_program()
    held, free = (make_case(program=program, unit=store, now=now) for _ in range(2))
    at = now + TUESDAY
    listed = list(due_cases(at).values_list("pk", "next_deadline_at"))
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                list(Case.objects.select_for_update().filter(pk=held.pk))
                locked.set()
                release.wait(timeout=60)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(timeout=60)
        if sweep == "listed":
            result = sweep_listed_cases(listed, now=at)
        else:  # claimed and locked in one query, batch by batch
            result = sweep_deadlines(now=at, batch_size=1)
    finally:
        release.set()
        holder.join()
    assert result.cases_examined == 1
    assert result.escalated_case_ids == [free.pk]
    assert Case.objects.get(pk=held.pk).next_deadline_at == held.next_deadline_at
