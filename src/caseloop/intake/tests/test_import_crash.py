"""An import killed with SIGKILL half way and run again ends with exactly the right rows and
cases: each batch commits whole or not at all, and the re-run skips what is already there."""

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from caseloop.cases.models import Case, CaseEvent, CaseTask, CaseWatcher, EventKind
from caseloop.customers.models import Customer
from caseloop.intake.models import SurveyResponse
from caseloop.intake.tests.conftest import Survey

ROWS = 20_000
BATCH = 500
_PR_SET_CHILD_SUBREAPER = 36


def write_file(path: Path) -> int:
    """ROWS responses, every 7th with a concern; returns how many alert."""
    lines = ["external_id,unit,respondent.email,q_overall,concern,verbatim"]
    alerts = 0
    for n in range(ROWS):
        concern = n % 7 == 0
        alerts += concern
        lines.append(f"c-{n},s-1,person{n % 15_000}@example.test,9,{str(concern).lower()},Bad")
    path.write_text("\n".join(lines) + "\n")
    return alerts


def database_url() -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{settings['USER']}{password}@{host}:{port}/{settings['NAME']}"


def start_import(path: Path, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": database_url()}
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "django", "import_responses", str(path)),
            *("--program", "retail", "--batch-size", str(BATCH), "--workers", str(workers)),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for_committed_rows(process: subprocess.Popen[bytes], at_least: int) -> int:
    """Poll the database until the import has committed ``at_least`` rows."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        count = SurveyResponse.objects.count()
        if count >= at_least:
            return count
        if process.poll() is not None:
            raise AssertionError(f"the import ended early: {process.stderr.read().decode()}")  # type: ignore[union-attr]
        time.sleep(0.002)  # a polling interval, not a wait for something to be done
    raise AssertionError("the import committed nothing within two minutes")


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux: read from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_until_ended(pids: list[int]) -> None:
    deadline = time.monotonic() + 60
    while any(is_running(pid) for pid in pids):
        if time.monotonic() > deadline:
            raise AssertionError(f"the import's workers outlived it: {pids}")
        time.sleep(0.002)  # a polling interval, not a wait for something to be done


def signal_that_ended(pid: int) -> int | None:
    """The signal that ended a child of this process, which is reaped; None if it exited."""
    _, status = os.waitpid(pid, 0)
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else None


def database_clock() -> object:
    """Now, by the database server's clock (None on SQLite, which has no sessions)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def wait_until_sessions_ended(since: object) -> None:
    """Wait until the database server is done with the sessions that the processes killed
    opened ``since``: a COMMIT it received before the kill still completes after the process
    that sent it died. Sessions older than the test are other tests' and are left out.
    SQLite has no server: a process that has ended has committed all it ever will."""
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + 60
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
                "AND backend_start >= %s",
                [since],
            )
            (others,) = cursor.fetchone()
        if not others:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{others} sessions of the killed import outlived it")
        time.sleep(0.002)  # a polling interval, not a wait for something to be done


@pytest.fixture
def orphans_come_to_us() -> Iterator[None]:
    """This process takes in its orphaned descendants (a Linux subreaper): the workers of an
    import killed here become its children, and how each ended can be read."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(_PR_SET_CHILD_SUBREAPER, 1) == 0, os.strerror(ctypes.get_errno())
    yield
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 0)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("orphans_come_to_us")
def test_an_import_killed_half_way_and_run_again_ends_exactly_right(
    survey: Survey, tmp_path: Path, workers: int
) -> None:
    path = tmp_path / "responses.csv"
    expected_alerts = write_file(path)
    started = database_clock()
    process = start_import(path, workers)
    wait_for_committed_rows(process, at_least=BATCH)
    worker_pids = children_of(process.pid)
    assert len(worker_pids) == (workers if workers > 1 else 0)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    process.stderr.close()  # type: ignore[union-attr]
    # The workers die with the import, killed as it dies (PR_SET_PDEATHSIG): none goes on to
    # commit the batch it was storing, nor stops on its own after it.
    wait_until_ended(worker_pids)
    assert [signal_that_ended(pid) for pid in worker_pids] == [signal.SIGKILL] * len(worker_pids)
    wait_until_sessions_ended(started)
    killed_at = SurveyResponse.objects.count()

    assert 0 < killed_at < ROWS, "the kill must land half way"
    assert killed_at % BATCH == 0, "a batch commits whole or not at all"
    assert Case.objects.count() == SurveyResponse.objects.filter(case__isnull=False).count()

    rerun = start_import(path, workers)
    _, stderr = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, stderr.decode()

    assert SurveyResponse.objects.count() == ROWS
    assert SurveyResponse.objects.values("source", "external_id").distinct().count() == ROWS
    assert Case.objects.count() == expected_alerts
    assert SurveyResponse.objects.filter(case__isnull=False).count() == expected_alerts
    assert Customer.objects.count() == 15_000
    assert CaseEvent.objects.filter(kind=EventKind.CREATED).count() == expected_alerts
    assert CaseWatcher.objects.count() == 2 * expected_alerts
    assert CaseTask.objects.count() == 2 * expected_alerts
