"""Running the real ``caseloop`` console script in child processes, with bounded waits."""

import contextlib
import os
import select
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

CASELOOP = str(Path(sys.executable).with_name("caseloop"))


def child_env(data_dir: Path, *, database_url: str | None = None) -> dict[str, str]:
    """The environment for a child ``caseloop``: its own data directory, and the given database
    or else the data directory's own SQLite file (never the developer's ``DATABASE_URL``)."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["CASELOOP_DATA_DIR"] = str(data_dir)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def shared_database_url() -> str:
    """A URL naming the database this test runs against, for a child process to share it."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    credentials = quote(str(db["USER"]), safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(str(db["PASSWORD"]), safe="")
    return f"postgres://{credentials}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_until(process: subprocess.Popen[bytes], marker: bytes, timeout: float) -> bytes:
    """Read the child's stdout until ``marker`` appears; fail after ``timeout`` seconds."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    seen = b""
    while marker not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {marker!r} within {timeout} s; output so far: {seen!r}"
        ready, _, _ = select.select([process.stdout], [], [], remaining)
        if ready:
            chunk = os.read(process.stdout.fileno(), 65536)
            assert chunk, f"the process ended before {marker!r}; output: {seen!r}"
            seen += chunk
    return seen


def wait_until_answering(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Poll ``url`` until the server answers at all (any HTTP status)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):  # noqa: S310 (a loopback http URL)
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            assert process.poll() is None, f"the server exited with {process.returncode}"
            assert time.monotonic() < deadline, f"{url} did not answer within {timeout} s"
            # Waiting on the process doubles as the pause between attempts.
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.2)


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def stop(process: subprocess.Popen[bytes]) -> None:
    """Make sure a child started by a test is gone, whatever the test's outcome."""
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)
