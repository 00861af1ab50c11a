"""Where the benchmark data lives, decided before Django starts.

The benchmarks never touch the application's own database: by default each size gets its own
SQLite file under ``bench/data/`` (so a 100,000-case and a 1,000,000-case data set can sit side
by side and neither is regenerated when the other is used), and ``--database-url`` points them at
a PostgreSQL database instead.
"""

import os
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / "data"
RESULTS_FILE = BENCH_DIR / "results" / "latest.json"


def sqlite_path(size: int) -> Path:
    return DATA_DIR / f"caseloop-{size}.sqlite3"


def configure(size: int, database_url: str | None) -> str:
    """Point the settings at the benchmark database; must run before ``django.setup()``.

    Returns a description of the database for the report (never its password).
    """
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    os.environ["CASELOOP_DATA_DIR"] = str(DATA_DIR)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseloop.settings")
    # The debug toolbar of a benchmark: DEBUG keeps every query in memory and slows the ORM.
    os.environ["DEBUG"] = "false"
    if database_url:
        os.environ["DATABASE_URL"] = database_url
        return _without_password(database_url)
    path = sqlite_path(size)
    os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    return str(path)


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"
