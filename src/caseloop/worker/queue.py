"""The one-off tasks of the Django Tasks queue, run by the worker between its duties.

The claim and the run of each task are django-tasks-db's own: the claim takes the next ready
task under ``FOR UPDATE SKIP LOCKED`` on PostgreSQL or in an exclusive transaction on SQLite,
so two workers never take the same task, and the library's ``Worker.run_task`` records the
outcome; a task that raises is marked failed on its row and the worker goes on. Only the loop
is ours: it stops after a number of tasks so that the duties come round again, and it leaves
connection handling to the worker's pass (the library's loop closes the connection between
tasks, which would also end the transaction a test runs in).
"""

from collections.abc import Callable
from dataclasses import dataclass

from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, TaskResultStatus, task_backends
from django_tasks_db import DatabaseBackend
from django_tasks_db.management.commands.db_worker import Worker as DatabaseQueueWorker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction


@dataclass(frozen=True)
class QueueRun:
    """The tasks one pass ran, and how many of them failed."""

    ran: int = 0
    failed: int = 0


class _Runner(DatabaseQueueWorker):
    """The library's worker, used for running one claimed task at a time."""

    def __init__(self, *, worker_id: str, backend_name: str) -> None:
        super().__init__(
            queue_names=["*"],
            excluded_queue_names=[],
            interval=0,
            batch=True,
            backend_name=backend_name,
            startup_delay=False,
            max_tasks=None,
            worker_id=worker_id,
        )


class TaskQueue:
    """The queue of the default task backend, when it is django-tasks-db's (with another
    backend, such as the immediate one, there is nothing to run)."""

    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id

    def run_ready(self, *, max_tasks: int, stopping: Callable[[], bool]) -> QueueRun:
        """Run ready tasks, one at a time, until none is left, ``max_tasks`` have run, or
        ``stopping()`` says so; the task in hand always finishes."""
        alias = DEFAULT_TASK_BACKEND_ALIAS
        if not isinstance(task_backends[alias], DatabaseBackend):
            return QueueRun()
        ready = DBTaskResult.objects.ready().filter(backend_name=alias)
        # A plain read of the ready-tasks index first: an idle pass takes no write lock.
        if not ready.exists():
            return QueueRun()
        runner = _Runner(worker_id=self.worker_id, backend_name=alias)
        ran = failed = 0
        while ran < max_tasks and not stopping():
            with exclusive_transaction(ready.db):
                task = ready.get_locked()
                if task is None:
                    break
                task.claim(self.worker_id)
            runner.run_task(task)
            ran += 1
            failed += task.status == TaskResultStatus.FAILED
        return QueueRun(ran=ran, failed=failed)
