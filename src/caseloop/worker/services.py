"""Every write to the periodic duties' schedule and leases.

Claims are single conditional UPDATEs that must touch exactly one row, like healthchecks'
``sendalerts``: the database decides which of two racing workers wins, and the loser moves on.
On PostgreSQL the second UPDATE waits for the first to commit and then re-checks its WHERE
clause against the new lease; on SQLite writers are serialised. Neither needs a lock held
across the duty's run, so a killed worker blocks nothing beyond its lease.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Q

from caseloop.worker.models import PeriodicDuty


def ensure_duty_rows(names: Iterable[str], *, now: datetime) -> None:
    """Give every registered duty its row, due at once; existing rows keep their schedule."""
    PeriodicDuty.objects.bulk_create(
        [PeriodicDuty(name=name, next_run_at=now) for name in names], ignore_conflicts=True
    )


def claim_duty(name: str, *, worker_id: str, now: datetime, lease: timedelta) -> bool:
    """Lease the duty to ``worker_id`` if it is due and nobody holds an unexpired lease on it.

    Returns whether this worker won the claim.
    """
    unleased = Q(leased_until__isnull=True) | Q(leased_until__lt=now)
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
