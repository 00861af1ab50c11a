"""The worker loop: claim each due duty, run it, release it, wait, repeat.

Any number of workers may run against one database; the lease on each duty's row makes sure
only one of them runs a given duty at a time (see ``caseloop.worker.services``). A worker asked
to stop (SIGTERM, SIGINT) finishes the duty in hand, releases its leases and returns.
"""

import contextlib
import logging
import os
import secrets
import select
import signal
import socket
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType

from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from caseloop.worker.queries import names_of_claimable_duties
from caseloop.worker.registry import Duty, DutyRegistry
from caseloop.worker.services import claim_duty, ensure_duty_rows, finish_duty, release_leases

logger = logging.getLogger("caseloop.worker")

Clock = Callable[[], datetime]
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass(frozen=True)
class DutyRun:
    """One run of a duty by this worker; ``error`` holds the traceback when it raised."""

    name: str
    started_at: datetime
    finished_at: datetime
    error: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.error)


def new_worker_id() -> str:
    """Host, process and a random suffix: unique even when a pid is reused after a restart."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    """Runs the duties of a registry. ``clock`` gives the current time (tests inject their own)."""

    def __init__(
        self,
        registry: DutyRegistry,
        *,
        worker_id: str | None = None,
        clock: Clock = timezone.now,
    ) -> None:
        self.registry = registry
        self.worker_id = worker_id or new_worker_id()
        self.clock = clock
        self._stopping = False
        self._rows_ensured = False
        # Written to wake a sleeping ``run_forever`` at once; see ``request_stop``.
        self._wake_fd: int | None = None

    @property
    def stopping(self) -> bool:
        return self._stopping

    def request_stop(self) -> None:
        """Stop after the duty in hand.

        Safe in a signal handler because it takes no lock (``threading.Event.set`` does, and
        deadlocks if the signal lands while the same thread holds it inside ``Event.wait``).
        """
        self._stopping = True
        wake_fd = self._wake_fd
        if wake_fd is not None:
            # A full pipe already holds a pending wake-up.
            with contextlib.suppress(OSError):
                os.write(wake_fd, b"\0")

    def run_due(self) -> list[DutyRun]:
        """One pass: run each duty that is due and not leased by another worker, in
        registration order. A stop request ends the pass before the next duty starts."""
        duties = self.registry.duties()
        if not duties:
            return []
        names = [duty.name for duty in duties]
        if not self._rows_ensured:
            ensure_duty_rows(names, now=self.clock())
            self._rows_ensured = True
        claimable = names_of_claimable_duties(names, now=self.clock())
        runs: list[DutyRun] = []
        for duty in duties:
            if self.stopping:
                break
            if duty.name not in claimable:
                continue
            now = self.clock()
            if claim_duty(duty.name, worker_id=self.worker_id, now=now, lease=duty.lease):
                runs.append(self._run(duty, now))
        return runs

    def _run(self, duty: Duty, started_at: datetime) -> DutyRun:
        error = ""
        try:
            duty.func(started_at)
        except Exception:
            # A failing duty must not take the worker or the other duties down with it; the
            # traceback is kept on the duty's row and the duty is retried at its next run.
            error = traceback.format_exc()
            logger.exception("Duty %s failed; it runs again in %s.", duty.name, duty.every)
        finished_at = self.clock()
        released = finish_duty(
            duty.name,
            worker_id=self.worker_id,
            now=finished_at,
            next_run_at=started_at + duty.every,
            error=error,
        )
        if not released:
            logger.warning(
                "Duty %s ran longer than its lease of %s; another worker may have run it too.",
                duty.name,
                duty.lease,
            )
        return DutyRun(duty.name, started_at, finished_at, error)

    def run_forever(self, interval: timedelta) -> None:
        """Run due duties every ``interval`` until SIGTERM or SIGINT, then release the leases."""
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        self._wake_fd = wake_write
        try:
            with self._stop_on_signals():
                names = ", ".join(duty.name for duty in self.registry.duties()) or "none"
                logger.info("Worker %s started; duties: %s.", self.worker_id, names)
                while not self.stopping:
                    self._pass_surviving_database_errors()
                    # A stop request between the check above and this wait is not lost: it
                    # has written to the pipe, so the wait returns at once.
                    select.select([wake_read], [], [], interval.total_seconds())
                self._release_leases()
        finally:
            self._wake_fd = None
            os.close(wake_read)
            os.close(wake_write)
        logger.info("Worker %s stopped.", self.worker_id)

    def _release_leases(self) -> None:
        try:
            release_leases(self.worker_id)
        except DatabaseError:
            logger.exception("Could not release the leases; they expire on their own.")

    def _pass_surviving_database_errors(self) -> None:
        # Like a request, each pass starts with connections that are fresh or still healthy:
        # a database restart costs one failed pass, not the worker.
        close_old_connections()
        try:
            self.run_due()
        except DatabaseError:
            logger.exception("Database error; trying again at the next pass.")

    @contextlib.contextmanager
    def _stop_on_signals(self) -> Iterator[None]:
        def stop(signum: int, frame: FrameType | None) -> None:
            self.request_stop()

        previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
