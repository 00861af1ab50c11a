"""Reads of the periodic duties' schedule, and of the one-off tasks running now."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from caseloop.worker.models import PeriodicDuty, WorkerHeartbeat


def names_of_claimable_duties(names: Iterable[str], *, now: datetime) -> set[str]:
    """Which of ``names`` are due and not leased at ``now``: the duties worth trying to claim.

    A plain read, so an idle pass takes no write lock (SQLite has only one); the claim itself
    still decides who wins.
    """
    unleased = Q(leased_until__isnull=True) | Q(leased_until__lt=now)
    return set(
        PeriodicDuty.objects.filter(
            unleased, name__in=list(names), next_run_at__lte=now
        ).values_list("name", flat=True)
    )


@dataclass(frozen=True)
class RunningTask:
    """A task result marked running: who claimed it last, when, and how often it was started
    (each claim adds the claiming worker's id to the result's ``worker_ids``)."""

    id: str
    worker_id: str
    attempts: int
    started_at: datetime | None


def running_task_rows() -> QuerySet[DBTaskResult, tuple[object, list[str], datetime | None]]:
    """Id, worker ids and start of the task results marked running, read from the partial
    index ``worker_task_running`` (migration 0003), not from the whole table of finished ones."""
    running = DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING).order_by()
    return running.values_list("pk", "worker_ids", "started_at")


def running_tasks() -> list[RunningTask]:
    """Every task marked running: at most one per live worker, plus those of dead workers."""
    return [
        RunningTask(str(pk), worker_ids[-1] if worker_ids else "", len(worker_ids), started_at)
        for pk, worker_ids, started_at in running_task_rows()
    ]


def running_tasks_of_lost_workers(*, cutoff: datetime) -> list[RunningTask]:
    """The running tasks whose worker has not beaten since ``cutoff``; a task whose worker left
    no heartbeat counts when it started before ``cutoff``."""
    tasks = running_tasks()
    beats = dict(
        WorkerHeartbeat.objects.filter(
            worker_id__in={task.worker_id for task in tasks}
        ).values_list("worker_id", "last_seen_at")
    )

    def lost(task: RunningTask) -> bool:
        last_seen = beats.get(task.worker_id)
        if last_seen is not None:
            return last_seen < cutoff
        return task.started_at is None or task.started_at < cutoff

    return [task for task in tasks if lost(task)]
