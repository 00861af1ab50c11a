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


def start_import(path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": database_url()}
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "django", "import_responses", str(path)),
            *("--program", "retail", "--batch-size", str(BATCH)),
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


@pytest.mark.django_db(transaction=True)
def test_an_import_killed_half_way_and_run_again_ends_exactly_right(
    survey: Survey, tmp_path: Path
) -> None:
    path = tmp_path / "responses.csv"
    expected_alerts = write_file(path)
    process = start_import(path)
    wait_for_committed_rows(process, at_least=BATCH)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    process.stderr.close()  # type: ignore[union-attr]

    killed_at = SurveyResponse.objects.count()
    assert 0 < killed_at < ROWS, "the kill must land half way"
    assert killed_at % BATCH == 0, "a batch commits whole or not at all"
    assert Case.objects.count() == SurveyResponse.objects.filter(case__isnull=False).count()

    rerun = start_import(path)
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
