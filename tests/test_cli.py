"""The ``caseloop`` console script: parsing, dispatch, and the production web server."""

import signal
import subprocess
from pathlib import Path

import pytest

from caseloop.cli import MAX_DEFAULT_WEB_WORKERS, default_web_workers, main
from tests.helpers import CASELOOP, child_env, free_port, http_get, stop, wait_until_answering


def run_caseloop(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CASELOOP, *args],
        env=child_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_help_lists_every_subcommand(tmp_path: Path) -> None:
    result = run_caseloop("--help", data_dir=tmp_path)

    assert result.returncode == 0
    for command in ("demo", "serve", "worker", "manage"):
        assert command in result.stdout


def test_manage_check_exits_0(tmp_path: Path) -> None:
    result = run_caseloop("manage", "check", data_dir=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_manage_hands_options_to_django(tmp_path: Path) -> None:
    result = run_caseloop("manage", "check", "--help", data_dir=tmp_path)

    assert result.returncode == 0
    assert "--deploy" in result.stdout


def test_an_unknown_subcommand_fails_with_a_clear_message(tmp_path: Path) -> None:
    result = run_caseloop("frobnicate", data_dir=tmp_path)

    assert result.returncode != 0
    assert "invalid choice: 'frobnicate'" in result.stderr


def test_a_port_out_of_range_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--port", "70000"])

    assert exit_info.value.code == 2
    assert "not a port number" in capsys.readouterr().err


def test_default_web_workers_follow_the_cores_within_a_cap() -> None:
    assert 3 <= default_web_workers() <= MAX_DEFAULT_WEB_WORKERS


def test_serve_answers_http_with_pages_and_static_files(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [CASELOOP, "serve", "--port", str(port), "--workers", "2"],
        env=child_env(tmp_path),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{base}/admin/login/", process, timeout=120)

        login_status, _ = http_get(f"{base}/admin/login/")
        css_status, css = http_get(f"{base}/static/admin/css/base.css")
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=60)
    finally:
        stop(process)
        log.close()

    output = (tmp_path / "serve.log").read_text()
    assert login_status == 200, output
    assert css_status == 200, output
    assert b"{" in css
    assert exit_code == 0, output


def test_serve_collects_static_files_for_whitenoise(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [CASELOOP, "serve", "--port", str(port), "--workers", "1"],
        env=child_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/admin/login/", process, timeout=120)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        stop(process)

    assert (tmp_path / "static" / "staticfiles.json").exists()


def test_import_responses_hands_its_options_to_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handed: list[list[str]] = []
    monkeypatch.setattr("caseloop.cli.manage", lambda args: handed.append(list(args)) or 0)
    argv = ["import", "responses", "r.csv", "--program", "cx", "--workers", "3"]
    assert main([*argv, "--batch-size", "500"]) == 0
    assert handed == [
        ["import_responses", "r.csv", "--program", "cx", "--batch-size", "500", "--workers", "3"]
    ]


def test_import_responses_refuses_zero_workers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["import", "responses", "r.csv", "--program", "cx", "--workers", "0"])
    assert "--workers" in capsys.readouterr().err
