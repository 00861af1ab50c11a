"""What the bulk import may rely on: every query on responses has an index (issue #4 dropped the
ones nothing read), and the import leaves the connection and the process as it found them."""

import gc
from datetime import datetime

import pytest
from django.db import connection
from django.db.models import QuerySet

from caseloop.bulkrows import batch_garbage_collection
from caseloop.cases.models import Case
from caseloop.intake.bulk import import_connection
from caseloop.intake.models import SurveyResponse
from caseloop.intake.queries import responses_of_case
from caseloop.intake.services import IntakeSession, ingest_batches
from caseloop.intake.tests.conftest import Survey
from caseloop.intake.tests.factories import records, response_data

pytestmark = pytest.mark.django_db


def _plan(queryset: QuerySet[SurveyResponse]) -> str:
    if connection.vendor == "postgresql":
        # A table of a few rows is read whole whatever its indexes: ask whether one serves.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
    return queryset.explain()


def _alerted(survey: Survey, now: datetime) -> Case:
    data = response_data(survey.store.code, answers={"q_overall": 2, "concern": False})
    session = IntakeSession(survey.program)
    list(ingest_batches(survey.program, [records(data)], actor=None, session=session))
    return Case.objects.get()


def test_queries_on_responses_use_an_index(survey: Survey, now: datetime) -> None:
    case = _alerted(survey, now)
    stored = SurveyResponse.objects.get()
    plans = {
        "survey_response_case": _plan(responses_of_case(case)),
        "survey_response_customer": _plan(
            SurveyResponse.objects.filter(customer_id=stored.customer_id).order_by("received_at")
        ),
        "survey_response_unique_external_ref": _plan(
            SurveyResponse.objects.filter(source=stored.source, external_id__in=["a", "b"])
        ),
    }
    # SQLite names the index of a constraint declared with its table after the table.
    unique = "sqlite_autoindex_intake_surveyresponse_1"
    for index, plan in plans.items():
        assert index in plan or (index.endswith("external_ref") and unique in plan), plan


def test_an_import_gives_back_the_garbage_collector_the_page_cache_and_the_checkpoints(
    survey: Survey, now: datetime
) -> None:
    def settings() -> list[object]:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size")
            cache = cursor.fetchone()
            cursor.execute("PRAGMA wal_autocheckpoint")
            return [cache, cursor.fetchone()]

    before = settings() if connection.vendor == "sqlite" else None
    _alerted(survey, now)
    assert gc.isenabled()
    if connection.vendor == "sqlite":
        assert settings() == before


def test_the_log_is_checkpointed_less_often_only_during_an_import(db: None) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("a setting of SQLite's write-ahead log")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        (before,) = cursor.fetchone()
        with import_connection():
            cursor.execute("PRAGMA wal_autocheckpoint")
            (during,) = cursor.fetchone()
        cursor.execute("PRAGMA wal_autocheckpoint")
        (after,) = cursor.fetchone()
    assert during > before == after


def test_the_garbage_collector_is_off_only_during_an_import(db: None) -> None:
    with import_connection(), batch_garbage_collection() as collect:
        assert not gc.isenabled()
        collect()
        assert not gc.isenabled()
    assert gc.isenabled()
