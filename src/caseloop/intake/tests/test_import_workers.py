"""An import in several worker processes (``FileImport``) stores exactly what one process does:
every good row once, the bad ones reported by their line, customers matched across batches,
and a worker that fails or vanishes is reported, not hidden."""

import multiprocessing
import os
import signal
from collections.abc import Iterator
from multiprocessing.context import ForkProcess
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import TracebackType

import pytest
from django.db import connection

from caseloop.cases.models import Case
from caseloop.customers.models import Customer
from caseloop.errors import InvalidInput
from caseloop.intake.files import read_batches
from caseloop.intake.models import SurveyResponse
from caseloop.intake.records import IncomingRecord, RowProblem
from caseloop.intake.services import (
    FileImport,
    ImportWorkerFailed,
    IntakeResult,
    IntakeSession,
    default_workers,
    importing,
)
from caseloop.intake.tests.conftest import Survey

BATCH = 5
BATCHES = 9  # of the export: 41 lines in batches of 5
HEADER = "external_id,unit,respondent.email,q_overall,concern,verbatim"
PEOPLE = 6


def line_of(n: int) -> int:
    return n + 2  # the header is line 1


def write_export(path: Path) -> None:
    """40 responses of 6 people in 8 batches, four of them bad, and row 3 again at the end."""
    lines = [HEADER]
    for n in range(40):
        unit = "nowhere" if n == 7 else "s-1"
        email = "not-an-email" if n == 22 else f"person{n % PEOPLE}@example.test"
        concern = "true" if n % 4 == 0 else "false"
        extra = ",surplus" if n == 31 else ""
        lines.append(f"r-{n},{unit},{email},9,{concern},Too slow{extra}")
    lines.append("r-3,s-1,person3@example.test,9,false,Again")  # line 42: a repeat
    path.write_text("\n".join(lines) + "\n")


def file_import(survey: Survey, path: Path, workers: int) -> FileImport:
    return FileImport(IntakeSession(survey.program), path, "csv", batch_size=BATCH, workers=workers)


def import_file(survey: Survey, path: Path, workers: int) -> tuple[FileImport, list[IntakeResult]]:
    running = file_import(survey, path, workers)
    with running:
        results = list(running)
    return running, results


# Longer than any test here leaves a worker waiting for a turn it was not given.
TURN_WAIT_LIMIT = 30


class StoreTurns:
    """Stands in for the lock the workers of an import take turns on to store a batch, and
    lets through only the batches the test grants, so that a worker is stopped half way at a
    point the test knows, without timing.

    A worker kept waiting more than ``TURN_WAIT_LIMIT`` seconds stores all the same: an
    import that waits for a worker it ought to have killed then fails its test on the rows
    stored, rather than hanging it."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self._granted = context.Semaphore(0)
        self._one_at_a_time = context.Lock()

    def grant(self, batches: int) -> None:
        for _ in range(batches):
            self._granted.release()

    def __enter__(self) -> None:
        if not self._granted.acquire(timeout=TURN_WAIT_LIMIT):
            self.grant(BATCHES)
        self._one_at_a_time.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._one_at_a_time.release()


@pytest.fixture
def store_turns(monkeypatch: pytest.MonkeyPatch) -> StoreTurns:
    """The workers of the imports of the test wait for the turns it grants (none yet)."""
    turns = StoreTurns()
    monkeypatch.setattr(multiprocessing.get_context("fork"), "Lock", lambda: turns)
    return turns


@pytest.fixture
def no_worker_outlives_the_test() -> Iterator[None]:
    """Should a test fail with a worker left running, that worker must not go on writing into
    the database of the tests that follow."""
    yield
    for process in multiprocessing.active_children():
        process.kill()
        process.join()


def worker_named(name: str) -> BaseProcess:
    (worker,) = [p for p in multiprocessing.active_children() if p.name == name]
    return worker


def test_each_worker_reads_its_share_of_batches_with_the_rows_of_their_lines(
    tmp_path: Path,
) -> None:
    path = tmp_path / "export.csv"
    write_export(path)
    whole = list(read_batches(path, "csv", BATCH))
    for workers in (2, 3):
        shares = [
            list(read_batches(path, "csv", BATCH, share=(k, workers))) for k in range(workers)
        ]
        assert [len(share) for share in shares] == [
            len(range(k, len(whole), workers)) for k in range(workers)
        ]
        for k, share in enumerate(shares):
            assert share == whole[k::workers]
    rows = [item.row for batch in whole for item in batch]
    assert rows == list(range(2, 43))
    surplus = whole[31 // BATCH][31 % BATCH]
    assert surplus == RowProblem(line_of(31), "row", "has 1 more cells than the header")
    first = whole[0][0]
    assert isinstance(first, IncomingRecord) and first.data["external_id"] == "r-0"


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.django_db(transaction=True)
def test_two_workers_store_what_one_does(survey: Survey, tmp_path: Path, workers: int) -> None:
    path = tmp_path / "export.csv"
    write_export(path)
    running, results = import_file(survey, path, workers)

    assert running.workers == workers
    assert len(results) == 9  # 41 lines in batches of 5
    assert sum(r.records for r in results) == 41
    assert sum(r.created for r in results) == 37
    assert sum(r.duplicates for r in results) == 1
    problems = sorted((p.row, p.field) for r in results for p in r.problems)
    assert problems == [
        (line_of(7), "unit"),
        (line_of(22), "respondent.email"),
        (line_of(31), "row"),
    ]
    assert SurveyResponse.objects.count() == 37
    assert SurveyResponse.objects.values("external_id").distinct().count() == 37
    # Each person is one customer, whichever worker's batch met them first.
    assert Customer.objects.count() == PEOPLE
    alerting = {f"r-{n}" for n in range(40) if n % 4 == 0 and n not in (7, 22, 31)}
    assert set(Case.objects.values_list("external_id", flat=True)) == alerting
    assert sum(r.cases_opened for r in results) == len(alerting)
    assert (
        set(SurveyResponse.objects.filter(case__isnull=False).values_list("external_id", flat=True))
        == alerting
    )


@pytest.mark.django_db(transaction=True)
def test_a_worker_that_vanishes_fails_the_import(
    survey: Survey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "export.csv"
    write_export(path)

    def vanish(*args: object, **kwargs: object) -> None:
        os._exit(3)  # in the forked worker: as if it were killed

    monkeypatch.setattr(importing, "ingest_batches", vanish)
    with pytest.raises(ImportWorkerFailed, match="exit code 3"):
        import_file(survey, path, workers=2)
    assert SurveyResponse.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_worker_that_fails_reports_why(
    survey: Survey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "export.csv"
    write_export(path)

    def fail(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug in a worker")

    monkeypatch.setattr(importing, "ingest_batches", fail)
    with pytest.raises(ImportWorkerFailed, match="ZeroDivisionError: a bug in a worker"):
        import_file(survey, path, workers=2)


@pytest.mark.django_db(transaction=True)
def test_a_file_a_worker_refuses_is_refused_with_its_reason(survey: Survey, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(f"{HEADER}\nr-1,s-1,a@example.test,9,false,caf\xe9\n".encode("latin-1"))
    with pytest.raises(InvalidInput, match="is not UTF-8 text"):
        import_file(survey, path, workers=2)
    assert SurveyResponse.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_worker_outlives_the_test")
def test_workers_are_killed_when_one_fails_half_way(
    survey: Survey, tmp_path: Path, store_turns: StoreTurns
) -> None:
    path = tmp_path / "export.csv"
    write_export(path)
    store_turns.grant(1)
    stored_before_the_failure = -1
    running = file_import(survey, path, workers=2)
    with pytest.raises(ImportWorkerFailed, match="stopped unexpectedly"), running:
        for _ in running:
            # One batch is stored and both workers have batches left, which they wait for a
            # turn to store; one of them now fails.
            stored_before_the_failure = SurveyResponse.objects.count()
            os.kill(worker_named("caseloop-import-2").pid, signal.SIGKILL)

    assert multiprocessing.active_children() == []
    assert 0 < stored_before_the_failure < 37
    assert SurveyResponse.objects.count() == stored_before_the_failure


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_worker_outlives_the_test")
def test_workers_are_killed_when_the_caller_stops_reading(
    survey: Survey, tmp_path: Path, store_turns: StoreTurns
) -> None:
    path = tmp_path / "export.csv"
    write_export(path)
    store_turns.grant(1)
    stored_by_the_first_batch = -1
    with file_import(survey, path, workers=2) as running:
        for result in running:
            stored_by_the_first_batch = result.created
            break  # with the other batches still waiting for a turn to be stored

    assert multiprocessing.active_children() == []
    assert stored_by_the_first_batch > 0
    assert SurveyResponse.objects.count() == stored_by_the_first_batch


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_worker_outlives_the_test")
def test_workers_started_are_stopped_when_starting_the_next_one_fails(
    survey: Survey, tmp_path: Path, store_turns: StoreTurns, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "export.csv"
    write_export(path)
    started: list[BaseProcess] = []

    class SecondStartFails(ForkProcess):
        def start(self) -> None:
            if started:
                raise OSError("Resource temporarily unavailable")
            super().start()
            started.append(self)

    monkeypatch.setattr(multiprocessing.get_context("fork"), "Process", SecondStartFails)
    running = file_import(survey, path, workers=2)
    with pytest.raises(OSError, match="Resource temporarily unavailable"), running:
        pytest.fail("an import whose workers did not all start must not begin")

    assert len(started) == 1
    assert multiprocessing.active_children() == []
    assert not started[0].is_alive()
    assert SurveyResponse.objects.count() == 0


def test_default_workers_count_only_the_processors_this_process_may_run_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {5}, raising=False)
    assert default_workers() == 1


def test_default_workers_count_the_processors_where_the_affinity_is_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert default_workers() == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert default_workers() == 2


@pytest.mark.django_db
def test_inside_a_transaction_the_import_runs_in_the_calling_process(
    survey: Survey, tmp_path: Path
) -> None:
    path = tmp_path / "export.csv"
    write_export(path)
    assert connection.in_atomic_block
    running, results = import_file(survey, path, workers=2)
    assert running.workers == 1
    assert sum(r.created for r in results) == 37


@pytest.mark.django_db
def test_an_import_needs_a_worker_and_a_batch(survey: Survey, tmp_path: Path) -> None:
    session = IntakeSession(survey.program)
    with pytest.raises(InvalidInput, match="at least one worker"):
        FileImport(session, tmp_path / "x.csv", "csv", batch_size=10, workers=0)
    with pytest.raises(InvalidInput, match="at least one response"):
        FileImport(session, tmp_path / "x.csv", "csv", batch_size=0, workers=2)
