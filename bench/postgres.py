"""PostgreSQL housekeeping: the benchmark database is created on first use."""

import psycopg
from psycopg import sql


def create_database_if_missing(settings_dict: dict[str, object]) -> None:
    """Create the database named in ``settings_dict`` through the server's ``postgres``
    database, so that ``--database-url`` may name a database that does not exist yet."""
    name = str(settings_dict["NAME"])
    params = {
        "host": settings_dict.get("HOST") or None,
        "port": settings_dict.get("PORT") or None,
        "user": settings_dict.get("USER") or None,
        "password": settings_dict.get("PASSWORD") or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
