"""The worker loop: in each pass, claim each due duty, run it and release it; then run the
ready one-off tasks of the Django Tasks queue, a bounded number per pass; wait, repeat.

Any number of workers may run against one database; the lease on each duty's row makes sure
only one of them runs a given duty at a time (see ``caseloop.worker.services``), and each task
is claimed by one worker (see ``caseloop.worker.queue``). A worker beats from a thread of its
own, even in the middle of a long task, so that the ``worker.recover_lost_tasks`` duty of the
others can tell it from a dead one and run its task again only if it died. A worker asked to
stop (SIGTERM, SIGINT) finishes the duty or task in hand, releases its leases, removes its
heartbeat and returns.
"""

import contextlib
import logging
import os
import secrets
import select
import signal
import socket
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from django.utils import timezone

from caseloop.worker.queries import names_of_claimable_duties
from caseloop.worker.queue import QueueRun, TaskQueue
from caseloop.worker.registry import Duty, DutyRegistry
from caseloop.worker.services import (
    claim_duty,
    ensure_duty_rows,
    finish_duty,
    forget_worker,
    record_heartbeat,
    release_leases,
    requeue_tasks_of_worker,
    stale_after,
)

logger = logging.getLogger("caseloop.worker")

Clock = Callable[[], datetime]
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Tasks one pass runs at most before it looks at the duties again: a long queue never keeps
# the deadline sweep or the outbox waiting for more than this many tasks.
DEFAULT_TASKS_PER_PASS = 10


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


@dataclass(frozen=True)
class PassResult:
    """One pass: the duties run, and the tasks of the queue run after them."""

    duties: list[DutyRun]
    tasks: QueueRun

    @property
    def failed(self) -> bool:
        return any(run.failed for run in self.duties) or self.tasks.failed > 0


def new_worker_id() -> str:
    """Host, process and a random suffix: unique even when a pid is reused after a restart."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    """Runs the duties of a registry and the task queue. ``clock`` gives the current time to
    the duties and heartbeats (tests inject their own); the task queue reads the real time."""

    def __init__(
        self,
        registry: DutyRegistry,
        *,
        worker_id: str | None = None,
        clock: Clock = timezone.now,
        tasks_per_pass: int = DEFAULT_TASKS_PER_PASS,
    ) -> None:
        self.registry = registry
        self.worker_id = worker_id or new_worker_id()
        self.clock = clock
        self.tasks_per_pass = tasks_per_pass
        self.queue = TaskQueue(self.worker_id)
        self._stopping = False
        self._rows_ensured = False
        # Set while the queue runs: if a database error breaks off a task, the task's row
        # still says this worker runs it, and the next pass puts it back in the queue.
        self._task_may_be_orphaned = False
        # Beats while ``run_forever`` runs; without it, each pass beats itself.
        self._heartbeat: _Heartbeat | None = None
        # Written to wake a sleeping ``run_forever`` at once; see ``request_stop``.
        self._wake_fd: int | None = None

    @property
    def stopping(self) -> bool:
        return self._stopping

    def request_stop(self) -> None:
        """Stop after the duty or task in hand.

        Safe in a signal handler because it takes no lock (``threading.Event.set`` does, and
        deadlocks if the signal lands while the same thread holds it inside ``Event.wait``).
        """
        self._stopping = True
        wake_fd = self._wake_fd
        if wake_fd is not None:
            # A full pipe already holds a pending wake-up.
            with contextlib.suppress(OSError):
                os.write(wake_fd, b"\0")

    def run_pass(self) -> PassResult:
        """One pass: the due duties, then up to ``tasks_per_pass`` ready tasks."""
        if self._heartbeat is None:
            record_heartbeat(self.worker_id, now=self.clock())
        duties = self.run_due()
        return PassResult(duties, self.run_tasks())

    def run_once(self) -> PassResult:
        """One pass by a worker that then ends (``caseloop worker --once``)."""
        try:
            return self.run_pass()
        finally:
            forget_worker(self.worker_id)

    def run_tasks(self) -> QueueRun:
        """Run ready tasks of the queue until none is left or ``tasks_per_pass`` have run; a
        stop request lets the task in hand finish and takes no other."""
        if self.stopping:
            return QueueRun()
        if self._task_may_be_orphaned:
            requeue_tasks_of_worker(
                self.worker_id,
                now=self.clock(),
                max_attempts=settings.CASELOOP_TASK_MAX_ATTEMPTS,
            )
        self._task_may_be_orphaned = True
        run = self.queue.run_ready(max_tasks=self.tasks_per_pass, stopping=lambda: self.stopping)
        self._task_may_be_orphaned = False
        return run

    def run_due(self) -> list[DutyRun]:
        """The duties of one pass: run each duty that is due and not leased by another worker,
        in registration order. A stop request ends the pass before the next duty starts."""
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

    def run_forever(self, interval: timedelta, *, heartbeat_every: timedelta | None = None) -> None:
        """Run passes every ``interval`` (at once while the queue has more ready tasks than
        one pass runs) until SIGTERM or SIGINT, then release the leases.

        The heartbeat beats every ``heartbeat_every``, by default a quarter of
        ``CASELOOP_WORKER_STALE_SECONDS``, so three beats may fail before the others take this
        worker for dead.
        """
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        self._wake_fd = wake_write
        try:
            with self._stop_on_signals(), self._beating(heartbeat_every or stale_after() / 4):
                names = ", ".join(duty.name for duty in self.registry.duties()) or "none"
                logger.info("Worker %s started; duties: %s.", self.worker_id, names)
                while not self.stopping:
                    busy = self._pass_surviving_database_errors()
                    # A stop request between the check above and this wait is not lost: it
                    # has written to the pipe, so the wait returns at once.
                    select.select([wake_read], [], [], 0 if busy else interval.total_seconds())
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

    def _pass_surviving_database_errors(self) -> bool:
        """One pass; returns whether the queue may hold more ready tasks."""
        # Like a request, each pass starts with connections that are fresh or still healthy:
        # a database restart costs one failed pass, not the worker.
        close_old_connections()
        try:
            return self.run_pass().tasks.ran >= self.tasks_per_pass
        except DatabaseError:
            logger.exception("Database error; trying again at the next pass.")
            return False

    @contextlib.contextmanager
    def _beating(self, every: timedelta) -> Iterator[None]:
        """Beat now (a worker has a heartbeat before it claims any task), then from a thread
        until the block ends; a worker that ends cleanly removes its heartbeat."""
        heartbeat = _Heartbeat(self.worker_id, every, self.clock)
        heartbeat.beat()
        heartbeat.start()
        self._heartbeat = heartbeat
        try:
            yield
        finally:
            self._heartbeat = None
            heartbeat.stop()
            try:
                forget_worker(self.worker_id)
            except DatabaseError:
                logger.exception("Could not remove the heartbeat; it goes stale on its own.")

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


class _Heartbeat(threading.Thread):
    """Beats every ``every`` on a database connection of its own, whatever the worker's main
    thread is busy with."""

    def __init__(self, worker_id: str, every: timedelta, clock: Clock) -> None:
        super().__init__(name=f"heartbeat {worker_id}", daemon=True)
        self.worker_id = worker_id
        self.every = every
        self.clock = clock
        # Set by the worker's main thread only, never from a signal handler.
        self._stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self._stopped.wait(self.every.total_seconds()):
                close_old_connections()
                self.beat()
        finally:
            connections.close_all()

    def beat(self) -> None:
        # A worker that cannot reach the database claims nothing either; it beats again soon.
        try:
            record_heartbeat(self.worker_id, now=self.clock())
        except DatabaseError:
            logger.exception("Could not record the heartbeat; trying again.")

    def stop(self) -> None:
        self._stopped.set()
        self.join()
