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
