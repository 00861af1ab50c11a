"""Every write to the periodic duties' schedule and leases, the workers' heartbeats, and the
recovery of one-off tasks whose worker died.

Claims are single conditional UPDATEs that must touch exactly one row, like healthchecks'
``sendalerts``: the database decides which of two racing workers wins, and the loser moves on.
On PostgreSQL the second UPDATE waits for the first to commit and then re-checks its WHERE
clause against the new lease; on SQLite writers are serialised. Neither needs a lock held
across the duty's run, so a killed worker blocks nothing beyond its lease.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from caseloop.worker.errors import WorkerLost
from caseloop.worker.models import PeriodicDuty, WorkerHeartbeat
from caseloop.worker.queries import RunningTask, running_tasks, running_tasks_of_lost_workers

logger = logging.getLogger("caseloop.worker")

# How long a dead worker's heartbeat row stays for the record.
HEARTBEAT_RETENTION = timedelta(days=1)
WORKER_LOST = f"{WorkerLost.__module__}.{WorkerLost.__qualname__}"


def ensure_duty_rows(names: Iterable[str], *, now: datetime) -> None:
    """Give every registered duty its row, due at once; existing rows keep their schedule."""
    PeriodicDuty.objects.bulk_create(
        [PeriodicDuty(name=name, next_run_at=now) for name in names], ignore_conflicts=True
    )


def claim_duty(name: str, *, worker_id: str, now: datetime, lease: timedelta) -> bool:
    """Lease the duty to ``worker_id`` if it is due and nobody holds an unexpired lease on it,
    or the worker holding it has gone silent for longer than ``stale_after`` (it died: its
    duty, the deadline sweep say, need not wait out the rest of the lease).

    Returns whether this worker won the claim.
    """
    holder_is_dead = Exists(
        WorkerHeartbeat.objects.filter(
            worker_id=OuterRef("leased_by"), last_seen_at__lt=now - stale_after()
        )
    )
    unleased = Q(leased_until__isnull=True) | Q(leased_until__lt=now) | Q(holder_is_dead)
    claimed = PeriodicDuty.objects.filter(unleased, name=name, next_run_at__lte=now).update(
        leased_until=now + lease, leased_by=worker_id, last_started_at=now
    )
    return claimed == 1


def finish_duty(
    name: str, *, worker_id: str, now: datetime, next_run_at: datetime, error: str = ""
) -> bool:
    """Release the duty after a run, record how it ended and when it runs next.

    A failed run keeps its traceback in ``last_error`` and is retried at ``next_run_at`` like
    any other. Returns False when the lease had been lost to another worker (it expired while
    the duty ran); that worker's lease and schedule are then left alone.
    """
    released = PeriodicDuty.objects.filter(name=name, leased_by=worker_id).update(
        leased_until=None,
        leased_by="",
        last_finished_at=now,
        last_error=error,
        next_run_at=next_run_at,
    )
    return released == 1


def release_leases(worker_id: str) -> int:
    """Give up every lease ``worker_id`` still holds, so a stopping worker delays nobody."""
    return PeriodicDuty.objects.filter(leased_by=worker_id).update(leased_until=None, leased_by="")


# --- heartbeats -------------------------------------------------------------------------------


def stale_after() -> timedelta:
    """How long a silent worker is taken for alive (``CASELOOP_WORKER_STALE_SECONDS``)."""
    return timedelta(seconds=settings.CASELOOP_WORKER_STALE_SECONDS)


def record_heartbeat(worker_id: str, *, now: datetime) -> None:
    """Note that ``worker_id`` is alive at ``now``; its first beat also records its start."""
    # One statement, whether or not the row exists yet.
    WorkerHeartbeat.objects.bulk_create(
        [WorkerHeartbeat(worker_id=worker_id, started_at=now, last_seen_at=now)],
        update_conflicts=True,
        unique_fields=["worker_id"],
        update_fields=["last_seen_at"],
    )


def forget_worker(worker_id: str) -> None:
    """Remove the heartbeat of a worker that stopped cleanly: it left no task running."""
    WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()


# --- recovery of tasks whose worker died ------------------------------------------------------


@dataclass
class TaskRecovery:
    """What one recovery did: the ids of the task results put back in the queue, and of those
    that had used up their attempts and were marked failed."""

    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def recover_lost_tasks(*, now: datetime, stale_after: timedelta, max_attempts: int) -> TaskRecovery:
    """Put back in the queue each task left running by a worker that died, so that another
    worker runs it again; after ``max_attempts`` runs in all, mark it failed instead, with the
    reason shown on the task result in the admin.

    A worker is dead when its heartbeat is older than ``stale_after``. Workers beat from a
    thread of their own, also in the middle of a long task, so a slow worker keeps its task;
    a worker that is alive but cannot reach the database for that long may lose its task and
    then run it a second time beside its new runner. Tasks are idempotent (DESIGN.md), so that
    costs time, not data. A running task whose worker left no heartbeat at all (a plain
    ``db_worker``, or a row pruned after a day) counts as lost once it has run ``stale_after``.

    Safe with several workers at once: each task is taken back by a conditional UPDATE that
    must still find it running since the same instant; the recovery that loses touches nothing.
    """
    result = TaskRecovery()
    cutoff = now - stale_after
    for task in running_tasks_of_lost_workers(cutoff=cutoff):
        reason = (
            f"Worker {task.worker_id} stopped answering while it ran this task "
            f"(no heartbeat since {cutoff:%Y-%m-%d %H:%M:%S %Z})."
        )
        _take_back(task, now=now, max_attempts=max_attempts, reason=reason, result=result)
    WorkerHeartbeat.objects.filter(last_seen_at__lt=now - HEARTBEAT_RETENTION).delete()
    return result


def requeue_tasks_of_worker(worker_id: str, *, now: datetime, max_attempts: int) -> TaskRecovery:
    """Put back in the queue the tasks ``worker_id`` itself still shows as running, when it
    knows it runs none: a database error interrupted it before it could record a task's end."""
    result = TaskRecovery()
    for task in running_tasks():
        if task.worker_id == worker_id:
            reason = f"Worker {worker_id} lost the database while it ran this task."
            _take_back(task, now=now, max_attempts=max_attempts, reason=reason, result=result)
    return result


def _take_back(
    task: RunningTask, *, now: datetime, max_attempts: int, reason: str, result: TaskRecovery
) -> None:
    # ``started_at`` changes at every claim: a task another worker has finished, re-claimed or
    # already taken back no longer matches, and the UPDATE touches nothing.
    same_run = DBTaskResult.objects.filter(
        pk=task.id, status=TaskResultStatus.RUNNING, started_at=task.started_at
    )
    if task.attempts >= max_attempts:
        detail = (
            f"{reason}\nIt was started {task.attempts} time(s), the most allowed "
            f"(CASELOOP_TASK_MAX_ATTEMPTS={max_attempts}); it is not run again."
        )
        if same_run.update(
            status=TaskResultStatus.FAILED,
            finished_at=now,
            return_value=None,
            exception_class_path=WORKER_LOST,
            traceback=detail,
        ):
            result.failed.append(task.id)
            logger.error("Task %s failed for good: %s", task.id, detail)
        return
    if same_run.update(status=TaskResultStatus.READY, started_at=None):
        result.requeued.append(task.id)
        logger.warning("Task %s is queued again (attempt %s): %s", task.id, task.attempts, reason)
