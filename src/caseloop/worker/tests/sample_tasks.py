"""Tasks for the worker's tests, importable by the worker processes the tests start, and a
bounded ``run_forever``.

Each records its runs in a file the test names, one line per run, so that a test can count
runs made in any process.
"""

import os
import signal
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.db import connection
from django.utils import timezone
from django_tasks import task

from caseloop.worker.loop import Worker
from caseloop.worker.models import WorkerHeartbeat

# Waits inside tasks are bounded, so that a broken test fails instead of hanging.
WAIT_LIMIT_SECONDS = 120.0


def _log(log: str, line: str) -> None:
    with Path(log).open("a") as handle:
        handle.write(f"{line}\n")


@task()
def record_run(log: str, label: str) -> str:
    _log(log, label)
    return label


@task()
def fail(message: str) -> None:
    raise RuntimeError(message)


@task()
def stop_worker_then_record(log: str, label: str) -> str:
    """Ask the worker running this task to stop, as SIGTERM from outside would."""
    os.kill(os.getpid(), signal.SIGTERM)
    _log(log, label)
    return label


@task()
def block_until_released(directory: str) -> int:
    """Note this run's process, then wait until the file ``release`` appears beside it."""
    folder = Path(directory)
    _log(str(folder / "runs"), str(os.getpid()))
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while not (folder / "release").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("never released")
        time.sleep(0.02)
    return len((folder / "runs").read_text().splitlines())


@task()
def wait_for_a_heartbeat_then_stop() -> str:
    """Run until the worker's heartbeat moves on, then stop the worker: a long task must not
    keep its worker from beating."""
    started = timezone.now()
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while not WorkerHeartbeat.objects.filter(last_seen_at__gt=started).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("no heartbeat while the task ran")
        time.sleep(0.02)
    os.kill(os.getpid(), signal.SIGTERM)
    return "beaten"


@task()
def lose_the_database_once(marker: str) -> str:
    """First run: cut the worker's database connection under Django's feet, so that the end of
    the task cannot be recorded. Second run: stop the worker."""
    if not Path(marker).exists():
        Path(marker).touch()
        connection.connection.close()
        return "cut"
    os.kill(os.getpid(), signal.SIGTERM)
    return "recorded"


def run_bounded(worker: Worker, interval: timedelta, **options: timedelta) -> None:
    """``worker.run_forever``, stopped from outside after a time limit: a test whose worker
    never stops by itself fails instead of hanging."""
    limit = threading.Timer(WAIT_LIMIT_SECONDS, worker.request_stop)
    limit.start()
    try:
        worker.run_forever(interval, **options)
    finally:
        limit.cancel()
