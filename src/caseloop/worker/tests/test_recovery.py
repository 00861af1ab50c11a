"""Tasks left running by a worker that died are run again, a bounded number of times, and a
live worker keeps its task however long it runs."""

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django_tasks import TaskResultStatus, default_task_backend
from django_tasks_db.models import DBTaskResult
from pytest_django.fixtures import Settings as SettingsWrapper

from caseloop.worker.duties import recover_tasks
from caseloop.worker.errors import WorkerLost
from caseloop.worker.loop import Worker
from caseloop.worker.models import WorkerHeartbeat
from caseloop.worker.queries import running_task_rows
from caseloop.worker.registry import DutyRegistry
from caseloop.worker.services import (
    record_heartbeat,
    recover_lost_tasks,
    requeue_tasks_of_worker,
)
from caseloop.worker.tests.sample_tasks import (
    record_run,
    run_bounded,
    wait_for_a_heartbeat_then_stop,
)

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
STALE = timedelta(seconds=60)
LATER = T0 + STALE + timedelta(seconds=1)


@pytest.fixture(autouse=True)
def recovery_settings(settings: SettingsWrapper) -> None:
    settings.CASELOOP_WORKER_STALE_SECONDS = 60
    settings.CASELOOP_TASK_MAX_ATTEMPTS = 3


@pytest.fixture
def log(tmp_path: Path) -> str:
    return str(tmp_path / "runs.log")


def runs(log: str) -> list[str]:
    path = Path(log)
    return path.read_text().splitlines() if path.exists() else []


def claimed_by(worker_id: str, task_id: str) -> DBTaskResult:
    """The task as the worker ``worker_id`` leaves it when it dies right after its claim."""
    row = DBTaskResult.objects.get(pk=task_id)
    row.claim(worker_id)
    return row


def row(task_id: str) -> DBTaskResult:
    return DBTaskResult.objects.get(pk=task_id)


def recovering_worker(worker_id: str, now: datetime) -> Worker:
    """A worker that runs nothing but the recovery duty, at ``now``."""
    duties = DutyRegistry()
    duties.register("worker.recover_lost_tasks", timedelta(seconds=30), recover_tasks)
    return Worker(duties, worker_id=worker_id, clock=lambda: now)


pytestmark = pytest.mark.django_db


def test_each_pass_records_the_workers_heartbeat() -> None:
    Worker(DutyRegistry(), worker_id="a", clock=lambda: T0).run_pass()

    beat = WorkerHeartbeat.objects.get(worker_id="a")
    assert (beat.started_at, beat.last_seen_at) == (T0, T0)


def test_a_dead_workers_task_is_queued_again_and_run_once_by_another_worker(log: str) -> None:
    task = record_run.enqueue(log, "ran")
    record_heartbeat("dead", now=T0)
    claimed_by("dead", task.id)

    recovering_worker("b", LATER).run_pass()
    recovering_worker("c", LATER + timedelta(minutes=1)).run_pass()

    assert runs(log) == ["ran"]
    done = row(task.id)
    assert (done.status, done.worker_ids) == (TaskResultStatus.SUCCESSFUL, ["dead", "b"])


def test_a_live_workers_task_is_not_taken_back_however_long_it_runs(log: str) -> None:
    task = record_run.enqueue(log, "ran")
    record_heartbeat("slow", now=T0)
    claimed_by("slow", task.id)
    DBTaskResult.objects.filter(pk=task.id).update(started_at=T0 - timedelta(hours=3))
    record_heartbeat("slow", now=LATER - timedelta(seconds=5))

    recovery = recover_lost_tasks(now=LATER, stale_after=STALE, max_attempts=3)

    assert recovery.requeued == recovery.failed == []
    assert (row(task.id).status, row(task.id).worker_ids) == (TaskResultStatus.RUNNING, ["slow"])


def test_a_task_is_taken_back_only_once_its_workers_heartbeat_is_stale(log: str) -> None:
    task = record_run.enqueue(log, "ran")
    record_heartbeat("dead", now=T0)
    claimed_by("dead", task.id)

    assert recover_lost_tasks(now=T0 + STALE, stale_after=STALE, max_attempts=3).requeued == []
    assert recover_lost_tasks(now=LATER, stale_after=STALE, max_attempts=3).requeued == [task.id]
    assert row(task.id).status == TaskResultStatus.READY


def test_a_task_whose_worker_left_no_heartbeat_is_taken_back_after_the_staleness(
    log: str,
) -> None:
    task = record_run.enqueue(log, "ran")
    claimed_by("plain-db-worker", task.id)
    DBTaskResult.objects.filter(pk=task.id).update(started_at=T0)

    assert recover_lost_tasks(now=T0 + STALE, stale_after=STALE, max_attempts=3).requeued == []
    assert recover_lost_tasks(now=LATER, stale_after=STALE, max_attempts=3).requeued == [task.id]


def test_after_its_last_attempt_a_task_fails_with_the_reason_shown(log: str) -> None:
    task = record_run.enqueue(log, "ran")
    record_heartbeat("first", now=T0)
    record_heartbeat("second", now=T0)
    claimed_by("first", task.id)
    recover_lost_tasks(now=LATER, stale_after=STALE, max_attempts=2)
    claimed_by("second", task.id)

    recovery = recover_lost_tasks(now=LATER, stale_after=STALE, max_attempts=2)

    assert recovery.failed == [task.id]
    failed = row(task.id)
    assert (failed.status, failed.finished_at) == (TaskResultStatus.FAILED, LATER)
    assert "Worker second stopped answering" in failed.traceback
    assert "started 2 time(s)" in failed.traceback
    [error] = default_task_backend.get_result(task.id).errors
    assert error.exception_class is WorkerLost
    recovering_worker("b", LATER).run_pass()
    assert runs(log) == [], "a task that failed for good is not run again"


def test_a_worker_queues_again_the_task_a_database_error_broke_off(log: str) -> None:
    mine = record_run.enqueue(log, "mine")
    other = record_run.enqueue(log, "other")
    claimed_by("a", mine.id)
    claimed_by("b", other.id)

    recovery = requeue_tasks_of_worker("a", now=T0, max_attempts=3)

    assert recovery.requeued == [mine.id]
    assert (row(mine.id).status, row(other.id).status) == (
        TaskResultStatus.READY,
        TaskResultStatus.RUNNING,
    )


def test_the_recovery_reads_only_the_running_tasks_through_their_partial_index() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Tiny test tables would make any planner prefer a full scan.
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = running_task_rows().explain()
    assert "worker_task_running" in plan


def test_a_dead_workers_heartbeat_is_kept_a_day() -> None:
    record_heartbeat("dead", now=T0)

    recover_lost_tasks(now=T0 + timedelta(hours=23), stale_after=STALE, max_attempts=3)
    assert WorkerHeartbeat.objects.filter(worker_id="dead").exists()
    recover_lost_tasks(now=T0 + timedelta(hours=25), stale_after=STALE, max_attempts=3)
    assert not WorkerHeartbeat.objects.filter(worker_id="dead").exists()


@pytest.mark.django_db(transaction=True)
def test_of_two_simultaneous_recoveries_each_task_is_taken_back_by_one(log: str) -> None:
    tasks = [record_run.enqueue(log, f"task {n}") for n in range(12)]
    record_heartbeat("dead", now=T0)
    for task in tasks:
        claimed_by("dead", task.id)
    start = threading.Barrier(2)
    requeued: list[str] = []

    def recover() -> None:
        try:
            start.wait(timeout=30)
            requeued.extend(
                recover_lost_tasks(now=LATER, stale_after=STALE, max_attempts=3).requeued
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=recover) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(requeued) == sorted(task.id for task in tasks)
    assert DBTaskResult.objects.filter(status=TaskResultStatus.READY).count() == len(tasks)


@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_beating_while_a_long_task_runs() -> None:
    task = wait_for_a_heartbeat_then_stop.enqueue()

    run_bounded(
        Worker(DutyRegistry(), worker_id="busy"),
        timedelta(minutes=10),
        heartbeat_every=timedelta(milliseconds=50),
    )

    assert row(task.id).status == TaskResultStatus.SUCCESSFUL, row(task.id).traceback
