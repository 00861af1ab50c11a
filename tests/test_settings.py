"""Settings: production passes Django's deployment check; bad environment values fail loudly."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from caseloop.conf import envbool, envint, envsecret, persistent_secret_key


def _django(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "django", *args, "--settings=caseloop.settings"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deploy_check(tmp_path: Path) -> None:
    result = _django(
        ["check", "--deploy", "--fail-level", "WARNING"],
        {
            "CASELOOP_DATA_DIR": str(tmp_path),
            "CASELOOP_HTTPS": "true",
            "SECRET_KEY": secrets.token_urlsafe(60),
            "DEBUG": "false",
            "ALLOWED_HOSTS": "cases.example.com",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_bad_boolean_in_environment_stops_the_process(tmp_path: Path) -> None:
    result = _django(["check"], {"CASELOOP_DATA_DIR": str(tmp_path), "DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DEBUG must be one of" in result.stderr


def test_unreadable_database_url_stops_the_process(tmp_path: Path) -> None:
    result = _django(
        ["check"], {"CASELOOP_DATA_DIR": str(tmp_path), "DATABASE_URL": "nosuchdb://x"}
    )
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


def test_envbool_reads_common_spellings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLAG", "Yes")
    assert envbool("FLAG") is True
    monkeypatch.setenv("FLAG", "off")
    assert envbool("FLAG", True) is False


def test_envint_refuses_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUNT", "ten")
    with pytest.raises(ImproperlyConfigured, match="COUNT must be an integer"):
        envint("COUNT", 1)


def test_secret_is_read_from_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret_file = tmp_path / "key"
    secret_file.write_text("s3cret\n")
    monkeypatch.setenv("API_KEY_FILE", str(secret_file))
    assert envsecret("API_KEY") == "s3cret"


def test_generated_secret_key_is_kept_across_restarts(tmp_path: Path) -> None:
    first = persistent_secret_key(tmp_path)
    assert persistent_secret_key(tmp_path) == first
    assert len(first) >= 50
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
