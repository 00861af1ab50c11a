"""Real ``caseloop`` processes sharing the test database: two workers sweeping the same due
cases, two sweeps started at the same instant, and a worker killed in the middle of a task.

These run on SQLite and on PostgreSQL alike and never skip. The children see the rows a test
writes because the tests commit (``transaction=True``); the tests wait for the children by
polling the database against a deadline, never by sleeping a fixed time.
"""

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from caseloop.cases.models import Case, CaseEvent, EventKind
from caseloop.cases.tests.factories import make_case
from caseloop.conftest import MONDAY_9AM
from caseloop.org.tests.factories import make_unit, make_user
from caseloop.programs.tests.factories import make_program
from caseloop.sla.models import DeadlineKind, Escalation
from caseloop.worker.models import PeriodicDuty, WorkerHeartbeat
from caseloop.worker.tests.sample_tasks import block_until_released
from tests.helpers import CASELOOP, child_env, shared_database_url, stop

pytestmark = pytest.mark.django_db(transaction=True)

WAIT_SECONDS = 120.0
STALE_SECONDS = 4
RECOVERY = "worker.recover_lost_tasks"
SWEEP = "sla.deadline_sweep"


class Child:
    """A ``caseloop`` child process whose output goes to a file."""

    def __init__(self, args: list[str], env: dict[str, str], output: Path) -> None:
        self.output = output
        with output.open("wb") as sink:
            self.process = subprocess.Popen(
                [CASELOOP, *args], env=env, stdout=sink, stderr=subprocess.STDOUT
            )

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_for(self, marker: str) -> None:
        wait_until(lambda: marker in self.text(), f"{marker!r} from {self.output.name}", self)

    def finish(self, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=60)


def wait_until(condition: Callable[[], bool], what: str, *children: Child) -> None:
    """Poll ``condition`` until it holds; fail, with the children's output, after a deadline
    or as soon as a child has exited."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        for child in children:
            assert child.process.poll() is None, (
                f"{child.output.name} exited with {child.process.returncode} while waiting for "
                f"{what}:\n{child.text()}"
            )
        assert time.monotonic() < deadline, f"no {what} within {WAIT_SECONDS} s"
        time.sleep(0.05)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The children's environment: this test's database, no mail leaving, quick staleness."""
    env = child_env(tmp_path / "data", database_url=shared_database_url())
    env["EMAIL_BACKEND"] = "django.core.mail.backends.dummy.EmailBackend"
    env["CASELOOP_WORKER_STALE_SECONDS"] = str(STALE_SECONDS)
    return env


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        stop(child.process)


def start(children: list[Child], tmp_path: Path, name: str, args: list[str], env: dict) -> Child:
    child = Child(args, env, tmp_path / f"{name}.log")
    children.append(child)
    return child


def make_late_cases(count: int, opened: datetime) -> list[Case]:
    owner, manager = make_user(), make_user()
    store = make_unit(owner=owner, manager=manager)
    program = make_program()
    return [make_case(program=program, unit=store, now=opened) for _ in range(count)]


def assert_escalated_once_per_step(cases: list[Case]) -> None:
    steps = Counter(
        Escalation.objects.filter(case__in=cases).values_list("case_id", "deadline", "level")
    )
    assert steps, "nothing was escalated"
    assert max(steps.values()) == 1, [step for step, n in steps.items() if n > 1]
    starts = {case_id for case_id, deadline, _ in steps if deadline == DeadlineKind.START}
    assert starts == {case.pk for case in cases}, "every late case escalated at its start deadline"
    events = CaseEvent.objects.filter(case__in=cases, kind=EventKind.ESCALATED).count()
    assert events == sum(steps.values()), "one escalation event per escalation"


# --- two workers sweeping ---------------------------------------------------------------------


def test_two_worker_processes_sweep_the_same_due_cases_once(
    tmp_path: Path, env: dict[str, str], children: list[Child]
) -> None:
    cases = make_late_cases(40, opened=timezone.now() - timedelta(days=10))
    before = timezone.now()
    workers = [
        start(children, tmp_path, f"worker-{n}", ["worker", "--interval", "0.2"], env)
        for n in (1, 2)
    ]
    # Stopped before it has set up its signal handlers, a worker would die of the SIGTERM.
    for worker in workers:
        worker.wait_for("started")

    def swept() -> bool:
        finished = PeriodicDuty.objects.filter(name=SWEEP, last_finished_at__gt=before)
        return finished.exists() and not Case.objects.filter(next_deadline_at__lte=before).exists()

    wait_until(swept, "sweep of every due case", *workers)

    assert [worker.finish() for worker in workers] == [0, 0]
    assert_escalated_once_per_step(cases)
    assert not WorkerHeartbeat.objects.exists(), "both workers stopped cleanly"


def test_two_sweeps_started_at_the_same_instant_escalate_each_case_once(
    tmp_path: Path, env: dict[str, str], children: list[Child]
) -> None:
    # Start deadline Tuesday 09:00, resolve Thursday: at Tuesday noon one step is due per case.
    cases = make_late_cases(60, opened=MONDAY_9AM)
    late = MONDAY_9AM + timedelta(days=1, hours=3)
    go = tmp_path / "go"
    code = (
        "from caseloop.worker.tests.racing import sweep_when_told; "
        f"sweep_when_told({str(go)!r}, {late.isoformat()!r}, batch_size=5)"
    )
    sweepers = [
        start(children, tmp_path, f"sweep-{n}", ["manage", "shell", "-c", code], env)
        for n in (1, 2)
    ]
    for sweeper in sweepers:
        sweeper.wait_for("ready")

    go.touch()

    assert [sweeper.process.wait(timeout=WAIT_SECONDS) for sweeper in sweepers] == [0, 0], [
        sweeper.text() for sweeper in sweepers
    ]
    assert all("swept" in sweeper.text() for sweeper in sweepers)
    assert_escalated_once_per_step(cases)
    assert Escalation.objects.filter(case__in=cases).count() == len(cases)
    assert not Case.objects.filter(next_deadline_at__lte=late).exists(), "every due case swept"


# --- a worker killed in the middle of a task ---------------------------------------------------


def make_recovery_due() -> datetime:
    """Bring the recovery duty's next run forward to now (it runs every half minute)."""
    now = timezone.now()
    PeriodicDuty.objects.filter(name=RECOVERY).update(next_run_at=now)
    return now


def test_a_task_of_a_killed_worker_is_run_again_by_the_other_but_not_while_it_lives(
    tmp_path: Path, env: dict[str, str], children: list[Child]
) -> None:
    folder = tmp_path / "task"
    folder.mkdir()
    runs = folder / "runs"
    task = block_until_released.enqueue(str(folder))
    first = start(children, tmp_path, "first", ["worker", "--interval", "0.2"], env)
    wait_until(runs.exists, "the first worker's start of the task", first)
    second = start(children, tmp_path, "second", ["worker", "--interval", "0.2"], env)
    second.wait_for("started")
    [first_id] = DBTaskResult.objects.get(pk=task.id).worker_ids
    started_at = DBTaskResult.objects.get(pk=task.id).started_at

    # Alive and busy past the staleness, the first worker keeps beating and keeps its task.
    stale_since_start = started_at + timedelta(seconds=STALE_SECONDS + 1)
    wait_until(
        WorkerHeartbeat.objects.filter(
            worker_id=first_id, last_seen_at__gt=stale_since_start
        ).exists,
        "a heartbeat of the busy worker",
        first,
    )
    poked = make_recovery_due()
    wait_until(
        PeriodicDuty.objects.filter(name=RECOVERY, last_finished_at__gt=poked).exists,
        "a recovery run",
        second,
    )
    alive = DBTaskResult.objects.get(pk=task.id)
    assert (alive.status, alive.worker_ids) == (TaskResultStatus.RUNNING, [first_id])

    assert first.finish(signal.SIGKILL) == -signal.SIGKILL
    (folder / "release").touch()
    last_beat = WorkerHeartbeat.objects.get(worker_id=first_id).last_seen_at
    stale_at = last_beat + timedelta(seconds=STALE_SECONDS + 0.5)
    wait_until(lambda: timezone.now() > stale_at, "the killed worker's heartbeat to go stale")
    make_recovery_due()
    wait_until(
        DBTaskResult.objects.filter(pk=task.id, status=TaskResultStatus.SUCCESSFUL).exists,
        "the task's second run",
        second,
    )

    assert second.finish() == 0
    done = DBTaskResult.objects.get(pk=task.id)
    assert done.worker_ids[0] == first_id and len(done.worker_ids) == 2
    assert done.return_value == 2
    assert runs.read_text().split() == [str(first.process.pid), str(second.process.pid)]
    assert list(WorkerHeartbeat.objects.values_list("worker_id", flat=True)) == [first_id]
