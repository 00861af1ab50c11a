"""The worker's own duty: run again the tasks of workers that died, every half minute."""

from datetime import datetime, timedelta

from django.conf import settings

from caseloop.worker.registry import register_duty
from caseloop.worker.services import TaskRecovery, recover_lost_tasks, stale_after


def recover_tasks(now: datetime) -> TaskRecovery:
    """Queue again, or fail after the last attempt, the tasks left running by dead workers."""
    return recover_lost_tasks(
        now=now, stale_after=stale_after(), max_attempts=settings.CASELOOP_TASK_MAX_ATTEMPTS
    )


register_duty("worker.recover_lost_tasks", timedelta(seconds=30), recover_tasks)
