"""The worker runs the one-off tasks of the Django Tasks queue after its duties, in each pass."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from caseloop.cli import main
from caseloop.conftest import Cast
from caseloop.notify.models import OutboxKind, OutboxMessage, OutboxStatus
from caseloop.worker.loop import Worker
from caseloop.worker.models import WorkerHeartbeat
from caseloop.worker.queue import QueueRun
from caseloop.worker.registry import DutyRegistry
from caseloop.worker.tests.sample_tasks import (
    fail,
    lose_the_database_once,
    record_run,
    run_bounded,
    stop_worker_then_record,
)

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
EVERY = timedelta(minutes=1)


@pytest.fixture
def log(tmp_path: Path) -> str:
    return str(tmp_path / "runs.log")


def runs(log: str) -> list[str]:
    path = Path(log)
    return path.read_text().splitlines() if path.exists() else []


def result_of(task_id: str) -> DBTaskResult:
    return DBTaskResult.objects.get(pk=task_id)


@pytest.fixture
def duties(log: str) -> DutyRegistry:
    def sweep(now: datetime) -> None:
        with Path(log).open("a") as handle:
            handle.write("duty\n")

    duties = DutyRegistry()
    duties.register("sweep", EVERY, sweep)
    return duties


@pytest.mark.django_db
def test_a_pass_runs_the_ready_tasks_after_the_due_duties(duties: DutyRegistry, log: str) -> None:
    enqueued = record_run.enqueue(log, "task")

    result = Worker(duties, worker_id="a", clock=lambda: T0).run_pass()

    assert runs(log) == ["duty", "task"]
    assert result.tasks == QueueRun(ran=1, failed=0)
    row = result_of(enqueued.id)
    assert (row.status, row.worker_ids, row.return_value) == (
        TaskResultStatus.SUCCESSFUL,
        ["a"],
        "task",
    )


@pytest.mark.django_db
def test_a_failing_task_is_marked_failed_and_the_next_task_still_runs(
    duties: DutyRegistry, log: str
) -> None:
    broken = fail.using(priority=10).enqueue("the export's file is gone")
    fine = record_run.enqueue(log, "after")

    result = Worker(duties, worker_id="a", clock=lambda: T0).run_pass()

    assert result.tasks == QueueRun(ran=2, failed=1)
    assert result.failed
    failed = result_of(broken.id)
    assert failed.status == TaskResultStatus.FAILED
    assert "the export's file is gone" in failed.traceback
    assert result_of(fine.id).status == TaskResultStatus.SUCCESSFUL


@pytest.mark.django_db
def test_a_pass_runs_at_most_its_number_of_tasks_so_duties_come_round_again(
    duties: DutyRegistry, log: str
) -> None:
    for n in range(3):
        record_run.enqueue(log, f"task {n}")
    worker = Worker(duties, worker_id="a", clock=lambda: T0, tasks_per_pass=2)

    first = worker.run_pass()

    assert first.tasks.ran == 2
    assert DBTaskResult.objects.ready().count() == 1
    assert worker.run_pass().tasks.ran == 1
    assert sorted(runs(log)) == ["duty", "task 0", "task 1", "task 2"]


@pytest.mark.django_db
def test_a_pass_without_ready_tasks_runs_none(duties: DutyRegistry) -> None:
    assert Worker(duties, worker_id="a", clock=lambda: T0).run_pass().tasks == QueueRun()


@pytest.mark.django_db(transaction=True)
def test_a_stop_request_lets_the_task_in_hand_finish_and_takes_no_other(log: str) -> None:
    stopping = stop_worker_then_record.using(priority=10).enqueue(log, "in hand")
    waiting = record_run.enqueue(log, "next")

    run_bounded(Worker(DutyRegistry(), worker_id="a"), timedelta(minutes=10))

    assert runs(log) == ["in hand"]
    assert result_of(stopping.id).status == TaskResultStatus.SUCCESSFUL
    assert result_of(waiting.id).status == TaskResultStatus.READY
    assert not WorkerHeartbeat.objects.exists(), "a worker that stops cleanly leaves no heartbeat"


@pytest.mark.django_db(transaction=True)
def test_a_task_whose_end_a_database_error_kept_from_the_record_is_run_again(
    tmp_path: Path,
) -> None:
    task = lose_the_database_once.enqueue(str(tmp_path / "cut"))

    run_bounded(Worker(DutyRegistry(), worker_id="a"), timedelta(milliseconds=50))

    row = result_of(task.id)
    assert (row.status, row.return_value, row.worker_ids) == (
        TaskResultStatus.SUCCESSFUL,
        "recorded",
        ["a", "a"],
    )


@pytest.mark.django_db
def test_worker_once_runs_the_ready_tasks_and_exits_1_when_one_fails(log: str) -> None:
    record_run.enqueue(log, "ran")
    fail.enqueue("bug")

    assert main(["worker", "--once"]) == 1

    assert runs(log) == ["ran"]
    assert not DBTaskResult.objects.ready().exists()
    assert not WorkerHeartbeat.objects.exists()


# --- a job of the product through the queue ---------------------------------------------------


@pytest.mark.django_db
def test_retry_delivery_now_retries_the_given_up_messages_through_the_queue(
    cast: Cast, client: Client
) -> None:
    def message(key: str, status: str) -> OutboxMessage:
        return OutboxMessage.objects.create(
            kind=OutboxKind.EMAIL,
            status=status,
            dedup_key=key,
            case=cast.case,
            attempts=4,
            created_at=T0,
            last_error="Connection refused",
        )

    gave_up, sent = message("gave-up", OutboxStatus.FAILED), message("sent", OutboxStatus.SENT)
    client.force_login(cast.admin)

    response = client.post(
        reverse("admin:notify_outboxmessage_changelist"),
        {"action": "retry_delivery_now", "_selected_action": [gave_up.pk, sent.pk]},
    )

    assert response.status_code == 302
    [job] = DBTaskResult.objects.ready()
    assert job.args_kwargs == {"args": [[gave_up.pk]], "kwargs": {}}
    gave_up.refresh_from_db()
    assert gave_up.status == OutboxStatus.FAILED, "nothing changes before the worker runs"

    result = Worker(DutyRegistry(), worker_id="a").run_pass()

    assert result.tasks == QueueRun(ran=1, failed=0)
    gave_up.refresh_from_db()
    assert (gave_up.status, gave_up.attempts) == (OutboxStatus.PENDING, 0)
    sent.refresh_from_db()
    assert sent.status == OutboxStatus.SENT
