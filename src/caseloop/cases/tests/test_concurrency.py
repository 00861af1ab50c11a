"""Two people acting on one case at once never silently overwrite each other."""

import threading
from datetime import datetime

import pytest

from caseloop.cases import services
from caseloop.cases.models import Case, CaseNote
from caseloop.cases.tests.factories import make_case
from caseloop.errors import Conflict
from caseloop.org.tests.factories import make_unit, make_user


@pytest.mark.django_db
def test_stale_version_is_refused_and_changes_nothing(cast, now: datetime) -> None:
    loaded_by_both = cast.case.version
    services.add_note(
        cast.case, actor=cast.owner, body="first", expected_version=loaded_by_both, now=now
    )
    with pytest.raises(Conflict):
        services.add_note(
            cast.case,
            actor=cast.full_watcher,
            body="second",
            expected_version=loaded_by_both,
            now=now,
        )
    assert list(CaseNote.objects.filter(case=cast.case).values_list("body", flat=True)) == ["first"]
    assert Case.objects.get(pk=cast.case.pk).version == loaded_by_both + 1


@pytest.mark.django_db(transaction=True)
def test_simultaneous_edits_with_same_version_let_exactly_one_through(now: datetime) -> None:
    owner = make_user()
    case = make_case(unit=make_unit(owner=owner), now=now)
    version = case.version
    workers = 4
    start = threading.Barrier(workers)
    outcomes: list[str] = []

    def edit(n: int) -> None:
        from django.db import connection

        start.wait()
        try:
            services.add_note(
                case, actor=owner, body=f"note {n}", expected_version=version, now=now
            )
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict"] * (workers - 1) + ["ok"]
    assert CaseNote.objects.filter(case=case).count() == 1
    assert Case.objects.get(pk=case.pk).version == version + 1
