"""The inbox query reads the partial index of open cases by owner, on both databases."""

from datetime import datetime

import pytest
from django.db import connection

from caseloop.cases.models import Case
from caseloop.cases.queries import InboxFilters, inbox_cases
from caseloop.conftest import Cast

pytestmark = pytest.mark.django_db


def test_my_open_cases_use_the_owner_due_partial_index(cast: Cast, now: datetime) -> None:
    page = inbox_cases(cast.owner, InboxFilters(), now)[:50]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Tiny test tables would make any planner prefer a full scan.
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = page.explain()
    assert "case_open_by_owner_due" in plan


def test_in_constants_refuses_anything_but_code_constants(cast: Cast) -> None:
    with pytest.raises(ValueError, match="lower_snake"):
        list(Case.objects.filter(status__in_constants=["new'; drop table x; --"]))
