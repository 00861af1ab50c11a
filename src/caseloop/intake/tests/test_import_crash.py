"""An import killed with SIGKILL half way and run again ends with exactly the right rows and
cases: each batch commits whole or not at all, and the re-run skips what is already there."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from caseloop.cases.models import Case, CaseEvent, CaseTask, CaseWatcher, EventKind
from caseloop.customers.models import Customer
from caseloop.intake.models import SurveyResponse
from caseloop.intake.tests.conftest import Survey

ROWS = 20_000
BATCH = 500


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


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.django_db(transaction=True)
def test_an_import_killed_half_way_and_run_again_ends_exactly_right(
    survey: Survey, tmp_path: Path, workers: int
) -> None:
    path = tmp_path / "responses.csv"
    expected_alerts = write_file(path)
    process = start_import(path, workers)
    wait_for_committed_rows(process, at_least=BATCH)
    worker_pids = children_of(process.pid)
    assert len(worker_pids) == (workers if workers > 1 else 0)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    process.stderr.close()  # type: ignore[union-attr]
    killed_at = SurveyResponse.objects.count()
    # The workers die with the import: none goes on to commit the batch it was storing.
    wait_until_ended(worker_pids)
    assert SurveyResponse.objects.count() == killed_at

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
