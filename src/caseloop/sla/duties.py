"""The worker's duty for this app: the deadline sweep, every minute."""

from datetime import datetime, timedelta

from caseloop.sla.services import SweepResult, sweep_deadlines
from caseloop.worker.registry import register_duty


def sweep(now: datetime) -> SweepResult:
    """Mark late cases overdue and escalate them, as of the worker's clock."""
    return sweep_deadlines(now=now)


register_duty("sla.deadline_sweep", timedelta(minutes=1), sweep)
