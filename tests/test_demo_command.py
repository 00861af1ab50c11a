"""The real ``caseloop demo`` command, run in a child process on a fresh data directory."""

import os
import re
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.utils import timezone

from caseloop.demo.catalogue import DEMO_PASSWORD, USERS
from caseloop.demo.plan import CASE_COUNT
from tests.helpers import CASELOOP, child_env, free_port, read_until, stop, wait_until_answering


@dataclass(frozen=True)
class DemoRun:
    data_dir: Path
    result: subprocess.CompletedProcess[str]


def run_demo(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> DemoRun:
    result = subprocess.run(
        [CASELOOP, "demo", "--no-serve", *args],
        env=env or child_env(data_dir),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return DemoRun(data_dir, result)


def sql(data_dir: Path, query: str, *params: object) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(data_dir / "caseloop.sqlite3")) as database:
        return database.execute(query, params).fetchall()


def table_sizes(data_dir: Path) -> dict[str, object]:
    tables = ("org_user", "org_unit", "customers_customer", "cases_case", "cases_caseevent")
    return {table: sql(data_dir, f"SELECT count(*) FROM {table}")[0][0] for table in tables}  # noqa: S608


def case_fingerprint(data_dir: Path) -> list[tuple[object, ...]]:
    return sql(
        data_dir,
        "SELECT id, subject, status, priority, unit_id, owner_id, customer_id, closing_status_id "
        "FROM cases_case ORDER BY id",
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    return run_demo(tmp_path_factory.mktemp("demo"))


def test_demo_no_serve_loads_the_data_into_a_fresh_data_dir(demo: DemoRun) -> None:
    assert demo.result.returncode == 0, demo.result.stderr
    assert table_sizes(demo.data_dir)["cases_case"] == CASE_COUNT
    assert table_sizes(demo.data_dir)["org_user"] == len(USERS)


def test_demo_cases_are_in_every_status_today(demo: DemoRun) -> None:
    now = timezone.now().strftime("%Y-%m-%d %H:%M:%S")
    counts = dict(
        sql(
            demo.data_dir,
            "SELECT CASE WHEN status != 'closed' AND resolve_due_at < ? THEN 'overdue' "
            "ELSE status END AS shown, count(*) FROM cases_case GROUP BY shown",
            now,
        )
    )

    assert set(counts) == {"new", "in_progress", "overdue", "closed"}
    assert min(counts.values()) >= 20


def test_demo_prints_the_logins(demo: DemoRun) -> None:
    assert DEMO_PASSWORD in demo.result.stdout
    assert all(user.username in demo.result.stdout for user in USERS)


def test_a_second_demo_run_adds_nothing(demo: DemoRun) -> None:
    before = table_sizes(demo.data_dir)

    again = run_demo(demo.data_dir)

    assert again.result.returncode == 0, again.result.stderr
    assert "already loaded" in again.result.stdout
    assert table_sizes(demo.data_dir) == before


def test_demo_reset_deletes_the_database_and_loads_the_same_data_again(demo: DemoRun) -> None:
    fingerprint = case_fingerprint(demo.data_dir)
    with closing(sqlite3.connect(demo.data_dir / "caseloop.sqlite3")) as database:
        database.execute("CREATE TABLE leftover (id integer)")
        database.commit()

    reset = run_demo(demo.data_dir, "--reset")

    assert reset.result.returncode == 0, reset.result.stderr
    assert not sql(demo.data_dir, "SELECT name FROM sqlite_master WHERE name = 'leftover'")
    assert case_fingerprint(demo.data_dir) == fingerprint


def test_demo_reset_refuses_to_touch_a_database_given_by_url(tmp_path: Path) -> None:
    env = child_env(tmp_path, database_url="postgres://nobody@127.0.0.1:9/elsewhere")

    refused = run_demo(tmp_path, "--reset", env=env)

    assert refused.result.returncode == 2
    assert "DATABASE_URL" in refused.result.stderr


def test_demo_refuses_a_database_that_already_has_its_usernames(tmp_path: Path) -> None:
    env = child_env(tmp_path) | {
        "DJANGO_SUPERUSER_PASSWORD": "not-the-demo-one",
        "DJANGO_SUPERUSER_EMAIL": "admin@example.com",
    }
    for command in (["migrate"], ["createsuperuser", "--noinput", "--username", "admin"]):
        subprocess.run(
            [CASELOOP, "manage", *command], env=env, capture_output=True, timeout=300, check=True
        )

    refused = run_demo(tmp_path, env=env)

    assert refused.result.returncode == 1
    assert "admin" in refused.result.stdout
    assert sql(tmp_path, "SELECT count(*) FROM programs_program") == [(0,)]


@pytest.fixture
def serving_demo(demo: DemoRun) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    process = subprocess.Popen(
        [CASELOOP, "demo", "--port", str(port)],
        env=child_env(demo.data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    yield process, port
    stop(process)


def test_demo_serves_with_a_worker_and_stops_both(
    serving_demo: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = serving_demo
    output = read_until(process, b"started; duties", timeout=120)
    worker_pid = int(re.search(rb"Worker [^:\s]+:(\d+):", output).group(1))  # type: ignore[union-attr]
    wait_until_answering(f"http://127.0.0.1:{port}/admin/login/", process, timeout=120)

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=60) == 0
    with pytest.raises(ProcessLookupError):
        os.kill(worker_pid, 0)
