"""The periodic duties the background workers share, and the lease that says who runs one now."""

from django.db import models


class PeriodicDuty(models.Model):
    """A recurring background duty (the deadline sweep, outbox delivery …) and its schedule.

    A worker may run a duty only after claiming its row, which leases the duty to that worker
    until ``leased_until``. No other worker can claim it while the lease holds, so several
    workers never run the same duty at once; a worker that is killed mid-run leaves a lease
    that simply expires, and the duty is picked up again. ``last_error`` keeps the traceback of
    the last failed run until a run succeeds.
    """

    name = models.CharField(max_length=100, unique=True)
    next_run_at = models.DateTimeField()
    leased_until = models.DateTimeField(null=True, blank=True)
    leased_by = models.CharField(max_length=200, blank=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "periodic duties"

    def __str__(self) -> str:
        return self.name


class WorkerHeartbeat(models.Model):
    """A running worker's sign of life, for the recovery of the one-off tasks it was running.

    Each worker beats every quarter of ``CASELOOP_WORKER_STALE_SECONDS`` from a thread of its
    own, so a worker busy with a long task still beats. A worker silent for longer is taken for
    dead (killed, its machine gone): the task it was running is put back in the queue. A worker
    that stops cleanly removes its row; a dead worker's row is kept a day for the record.
    """

    worker_id = models.CharField(max_length=200, unique=True)
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return self.worker_id
