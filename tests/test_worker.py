"""The worker: leases on periodic duties, the run loop, and the ``caseloop worker`` process."""

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection

from caseloop.cli import main
from caseloop.worker.loop import Worker
from caseloop.worker.models import PeriodicDuty
from caseloop.worker.registry import DutyRegistry, registry
from caseloop.worker.services import (
    claim_duty,
    ensure_duty_rows,
    finish_duty,
    record_heartbeat,
    stale_after,
)
from tests.helpers import CASELOOP, child_env, read_until, shared_database_url, stop

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
EVERY = timedelta(minutes=1)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def duty_row(name: str = "sweep") -> PeriodicDuty:
    return PeriodicDuty.objects.get(name=name)


@pytest.fixture
def calls() -> list[datetime]:
    return []


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def duties(calls: list[datetime]) -> DutyRegistry:
    duties = DutyRegistry()
    duties.register("sweep", EVERY, calls.append, lease=LEASE)
    return duties


# --- claims -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_due_duty_is_leased_to_the_worker_that_claims_it() -> None:
    ensure_duty_rows(["sweep"], now=T0)

    assert claim_duty("sweep", worker_id="a", now=T0, lease=LEASE)

    row = duty_row()
    assert (row.leased_by, row.leased_until, row.last_started_at) == ("a", T0 + LEASE, T0)


@pytest.mark.django_db
def test_a_leased_duty_cannot_be_claimed_by_another_worker() -> None:
    ensure_duty_rows(["sweep"], now=T0)
    claim_duty("sweep", worker_id="a", now=T0, lease=LEASE)

    assert not claim_duty("sweep", worker_id="b", now=T0 + timedelta(minutes=1), lease=LEASE)
    assert duty_row().leased_by == "a"


@pytest.mark.django_db(transaction=True)
def test_of_simultaneous_claims_exactly_one_wins() -> None:
    ensure_duty_rows(["sweep"], now=T0)
    contenders = 4
    start = threading.Barrier(contenders)
    results: list[bool] = []

    def contend(worker_id: str) -> None:
        try:
            start.wait(timeout=30)
            results.append(claim_duty("sweep", worker_id=worker_id, now=T0, lease=LEASE))
        finally:
            connection.close()

    threads = [threading.Thread(target=contend, args=(f"w{n}",)) for n in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(results) == [False, False, False, True]


@pytest.mark.django_db
def test_an_expired_lease_can_be_claimed_again() -> None:
    ensure_duty_rows(["sweep"], now=T0)
    claim_duty("sweep", worker_id="killed", now=T0, lease=LEASE)

    later = T0 + LEASE + timedelta(seconds=1)
    assert claim_duty("sweep", worker_id="b", now=later, lease=LEASE)
    assert duty_row().leased_by == "b"


@pytest.mark.django_db
def test_the_lease_of_a_worker_gone_silent_can_be_claimed_before_it_expires() -> None:
    ensure_duty_rows(["sweep"], now=T0)
    record_heartbeat("killed", now=T0)
    claim_duty("sweep", worker_id="killed", now=T0, lease=LEASE)

    later = T0 + stale_after() + timedelta(seconds=1)
    assert later < T0 + LEASE
    assert claim_duty("sweep", worker_id="b", now=later, lease=LEASE)
    assert duty_row().leased_by == "b"


@pytest.mark.django_db
def test_the_lease_of_a_worker_still_beating_holds_until_it_expires() -> None:
    ensure_duty_rows(["sweep"], now=T0)
    claim_duty("sweep", worker_id="busy", now=T0, lease=LEASE)
    later = T0 + stale_after() + timedelta(seconds=1)
    record_heartbeat("busy", now=later - timedelta(seconds=1))

    assert not claim_duty("sweep", worker_id="b", now=later, lease=LEASE)
    assert duty_row().leased_by == "busy"


@pytest.mark.django_db
def test_a_duty_is_not_claimed_before_it_is_due() -> None:
    ensure_duty_rows(["sweep"], now=T0)

    assert not claim_duty("sweep", worker_id="a", now=T0 - timedelta(seconds=1), lease=LEASE)


@pytest.mark.django_db
def test_registering_again_keeps_the_existing_schedule() -> None:
    ensure_duty_rows(["sweep"], now=T0)
    PeriodicDuty.objects.filter(name="sweep").update(next_run_at=T0 + timedelta(hours=1))

    ensure_duty_rows(["sweep"], now=T0 + timedelta(minutes=2))

    assert duty_row().next_run_at == T0 + timedelta(hours=1)


@pytest.mark.django_db
def test_a_worker_that_lost_its_lease_leaves_the_new_holder_alone() -> None:
    ensure_duty_rows(["sweep"], now=T0)
    claim_duty("sweep", worker_id="slow", now=T0, lease=LEASE)
    later = T0 + LEASE + timedelta(seconds=1)
    claim_duty("sweep", worker_id="b", now=later, lease=LEASE)

    released = finish_duty("sweep", worker_id="slow", now=later, next_run_at=T0 + EVERY)

    assert not released
    row = duty_row()
    assert (row.leased_by, row.leased_until) == ("b", later + LEASE)


# --- the loop ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_pass_runs_a_due_duty_and_schedules_its_next_run(
    duties: DutyRegistry, clock: Clock, calls: list[datetime]
) -> None:
    Worker(duties, worker_id="a", clock=clock).run_due()

    assert calls == [T0]
    row = duty_row()
    assert (row.next_run_at, row.last_finished_at, row.leased_until, row.leased_by) == (
        T0 + EVERY,
        T0,
        None,
        "",
    )


@pytest.mark.django_db
def test_a_duty_runs_only_once_per_interval(
    duties: DutyRegistry, clock: Clock, calls: list[datetime]
) -> None:
    worker = Worker(duties, worker_id="a", clock=clock)
    worker.run_due()
    clock.now = T0 + EVERY - timedelta(seconds=1)

    worker.run_due()

    assert calls == [T0]


@pytest.mark.django_db
def test_a_failing_duty_records_its_error_and_is_retried_next_interval(clock: Clock) -> None:
    attempts: list[datetime] = []

    def deliver(now: datetime) -> None:
        attempts.append(now)
        raise ConnectionError("SMTP server unavailable")

    duties = DutyRegistry()
    duties.register("deliver", EVERY, deliver)
    worker = Worker(duties, worker_id="a", clock=clock)

    [run] = worker.run_due()
    row = duty_row("deliver")
    assert run.failed
    assert "SMTP server unavailable" in row.last_error
    assert (row.leased_until, row.next_run_at) == (None, T0 + EVERY)

    clock.now = T0 + EVERY
    worker.run_due()
    assert attempts == [T0, T0 + EVERY]


@pytest.mark.django_db
def test_a_successful_run_clears_the_last_error(clock: Clock) -> None:
    outcomes = [ConnectionError("down"), None]

    def deliver(now: datetime) -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    duties = DutyRegistry()
    duties.register("deliver", EVERY, deliver)
    worker = Worker(duties, worker_id="a", clock=clock)
    worker.run_due()
    clock.now = T0 + EVERY

    worker.run_due()

    assert duty_row("deliver").last_error == ""


@pytest.mark.django_db
def test_a_failing_duty_does_not_keep_the_others_from_running(
    clock: Clock, calls: list[datetime]
) -> None:
    def broken(now: datetime) -> None:
        raise RuntimeError("bug")

    duties = DutyRegistry()
    duties.register("broken", EVERY, broken)
    duties.register("sweep", EVERY, calls.append)

    Worker(duties, worker_id="a", clock=clock).run_due()

    assert calls == [T0]


@pytest.mark.django_db
def test_a_duty_leased_by_another_worker_is_skipped(
    duties: DutyRegistry, clock: Clock, calls: list[datetime]
) -> None:
    ensure_duty_rows(["sweep"], now=T0)
    claim_duty("sweep", worker_id="other", now=T0, lease=LEASE)

    runs = Worker(duties, worker_id="a", clock=clock).run_due()

    assert (runs, calls) == ([], [])


@pytest.mark.django_db(transaction=True)
def test_a_stop_signal_lets_the_duty_in_hand_finish_and_releases_its_lease(
    clock: Clock, calls: list[datetime]
) -> None:
    finished: list[str] = []

    def interrupted(now: datetime) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        finished.append("interrupted")

    duties = DutyRegistry()
    duties.register("interrupted", EVERY, interrupted)
    duties.register("sweep", EVERY, calls.append)

    Worker(duties, worker_id="a", clock=clock).run_forever(timedelta(minutes=10))

    row = duty_row("interrupted")
    assert finished == ["interrupted"]
    assert (row.last_finished_at, row.leased_by, row.leased_until) == (T0, "", None)
    assert calls == [], "no duty starts after the stop request"


def test_a_duty_name_can_be_registered_only_once(calls: list[datetime]) -> None:
    duties = DutyRegistry()
    duties.register("sweep", EVERY, calls.append)

    with pytest.raises(ValueError, match="already registered"):
        duties.register("sweep", EVERY, calls.append)


# --- the command ------------------------------------------------------------------------------


@pytest.fixture
def registered(calls: list[datetime]) -> Iterator[str]:
    registry.register("test-duty", EVERY, calls.append)
    yield "test-duty"
    registry.unregister("test-duty")


@pytest.mark.django_db
def test_worker_once_runs_the_due_duties_and_exits_0(
    registered: str, calls: list[datetime]
) -> None:
    assert main(["worker", "--once"]) == 0

    assert len(calls) == 1
    assert duty_row(registered).last_finished_at is not None


@pytest.mark.django_db
def test_worker_once_exits_1_when_a_duty_fails() -> None:
    def broken(now: datetime) -> None:
        raise RuntimeError("bug")

    registry.register("test-broken", EVERY, broken)
    try:
        assert main(["worker", "--once"]) == 1
    finally:
        registry.unregister("test-broken")


@pytest.mark.django_db(transaction=True)
def test_worker_process_exits_0_on_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [CASELOOP, "worker", "--interval", "600"],
        env=child_env(tmp_path, database_url=shared_database_url()),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        read_until(process, b"started", timeout=60)

        process.send_signal(signal.SIGTERM)

        assert process.wait(timeout=30) == 0
    finally:
        stop(process)
