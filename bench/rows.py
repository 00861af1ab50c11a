"""Fast bulk writing of generated rows, straight into a model's table.

The ORM builds one Python object per row and ``bulk_create`` re-adapts every value; at a million
cases that alone takes minutes. Here the generator hands over plain tuples already in the
database's own representation, and each table is written with ``executemany`` on SQLite and
``COPY`` on PostgreSQL (about ten times faster there than batched INSERTs).

Columns the generator does not fill get the model field's default, adapted once, so a field added
later with a default does not break the benchmark data set.
"""

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from django.core.management.color import no_style
from django.db import connection
from django.db.models import Model

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# SQLite keeps datetimes as naive UTC text, the way Django writes them.
_NAIVE_EPOCH = datetime(1970, 1, 1)


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def time_adapter() -> Callable[[float | None], object]:
    """A function turning a Unix time into what the database expects from Django: naive UTC
    text on SQLite (what ``adapt_datetimefield_value`` writes), an aware datetime for psycopg.

    Chosen once per data set: at millions of values, asking for the vendor on every call costs
    more than the conversion itself.
    """
    if is_postgresql():

        def aware(seconds: float | None) -> object:
            if seconds is None:
                return None
            return _EPOCH + timedelta(microseconds=round(seconds * 1_000_000))

        return aware

    def naive_text(seconds: float | None) -> object:
        if seconds is None:
            return None
        return str(_NAIVE_EPOCH + timedelta(microseconds=round(seconds * 1_000_000)))

    return naive_text


def db_json(value: object) -> str:
    # The same text Django's JSONField writes (default separators); jsonb re-parses it anyway.
    return json.dumps(value)


class TableWriter:
    """Collects rows for one model's table and writes them in one statement per flush.

    ``fields`` names the model fields (attnames, e.g. ``owner_id``) that each row gives, in order.
    """

    def __init__(self, model: type[Model], fields: Sequence[str]) -> None:
        self.model = model
        self.table = model._meta.db_table
        by_attname = {f.attname: f for f in model._meta.concrete_fields}
        unknown = [name for name in fields if name not in by_attname]
        if unknown:
            raise ValueError(f"{model.__name__} has no fields {unknown}")
        self.columns = [by_attname[name].column for name in fields]
        defaults: list[object] = []
        for name, field in by_attname.items():
            if name in fields or field.primary_key:
                continue
            automatic = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
            # What the ORM would write when no value is given: the default, "" for text, NULL.
            nothing = not field.has_default() and not field.null and not field.empty_strings_allowed
            if automatic or nothing:
                raise ValueError(f"{model.__name__}.{name} needs a value from the generator")
            self.columns.append(field.column)
            defaults.append(field.get_db_prep_save(field.get_default(), connection))
        self.defaults = tuple(defaults)
        self.rows: list[tuple[object, ...]] = []
        self.written = 0

    def add(self, row: tuple[object, ...]) -> None:
        self.rows.append(row + self.defaults if self.defaults else row)

    def flush(self) -> int:
        """Write the collected rows inside the caller's transaction; returns how many."""
        if not self.rows:
            return 0
        quoted = ", ".join(connection.ops.quote_name(c) for c in self.columns)
        table = connection.ops.quote_name(self.table)
        if is_postgresql():
            raw = connection.connection
            assert raw is not None
            with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                for row in self.rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(self.columns))
            with connection.cursor() as cursor:
                insert = f"INSERT INTO {table} ({quoted}) VALUES ({marks})"  # noqa: S608 - names
                cursor.executemany(insert, self.rows)
        count = len(self.rows)
        self.written += count
        self.rows = []
        return count


def next_id(model: type[Model]) -> int:
    """The first free primary key of ``model``'s table (1 on an empty table)."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MAX(id) FROM {table}")  # noqa: S608 - a table name, not input
        (highest,) = cursor.fetchone()
    return (highest or 0) + 1


def reset_sequences(models: Sequence[type[Model]]) -> None:
    """After rows were written with explicit ids, PostgreSQL's sequences must move past them, or
    the next row a service creates collides. SQLite's AUTOINCREMENT follows by itself."""
    statements = connection.ops.sequence_reset_sql(no_style(), list(models))
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
