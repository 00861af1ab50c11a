"""Writing many rows of one model fast: the survey import, the deadline sweep, their
notifications.

``bulk_create`` spends most of its time compiling SQL value by value (about 60 µs a row on the
machines we target, against 3 µs for SQLite to store it), which alone would cap an import below
the 20,000 responses/s that DESIGN.md asks for. ``Table`` does what it does for plain rows and no
more: each column's value is converted once for the database the way the field itself would
(``Field.get_db_prep_save``, with direct conversions for the common types), columns that are not
given get the field's default, and the rows go out with ``executemany``, or as multi-row
``INSERT … RETURNING id`` when their ids are needed. The rows are the same as ``bulk_create``
would write: ``test_ingest`` compares a case written here with one ``open_case`` saved.

No signals are sent and no ``save()`` runs, as with ``bulk_create``. Fields with ``auto_now`` or
``auto_now_add`` get the time of the write.
"""

import gc
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice, repeat
from typing import TypeVar

from django.db import connection, models
from django.db.models.base import ModelState
from django.utils import timezone

Adapter = Callable[[object], object] | None
_M = TypeVar("_M", bound=models.Model)

# Values of these fields go to the driver as Python gives them.
_PLAIN = (
    models.CharField,
    models.TextField,
    models.BooleanField,
    models.IntegerField,
    models.ForeignKey,
)
# psycopg accepts 65,535 parameters per statement; SQLite's limit comes from its build.
_DEFAULT_MAX_PARAMS = 65_535
# Past a few hundred rows a longer VALUES list only costs PostgreSQL more to parse and plan.
_MAX_ROWS_PER_STATEMENT = 500


def _sqlite_datetime(value: datetime | None) -> str | None:
    # What the SQLite backend stores for an aware datetime when the connection is in UTC
    # (``adapt_datetimefield_value``), without its checks: about five times faster.
    if value is None:
        return None
    if value.tzinfo is UTC:
        # "YYYY-MM-DD HH:MM:SS[.ffffff]+00:00" without its offset, half the time of converting.
        return str(value)[:-6]
    return str(value.astimezone(UTC).replace(tzinfo=None))


def _plain_json_dumps() -> Callable[[object], str]:
    """``json.dumps`` with its default settings, three times faster on small objects: the C
    encoder that ``json.dumps`` builds anew for every call is built once. It is used only if it
    writes exactly what ``json.dumps`` writes; otherwise ``json.dumps`` itself."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.dumps
    defaults = json.JSONEncoder()
    try:
        encode = make(
            None,  # no check for circular references: rows are plain trees of values
            defaults.default,
            json.encoder.encode_basestring_ascii,
            None,
            defaults.key_separator,
            defaults.item_separator,
            False,
            False,
            True,
        )
        sample = {"a": [1, 2.5, None, True], "é": 'x"y', "n": {"m": -0.0}}
        if "".join(encode(sample, 0)) != json.dumps(sample):
            return json.dumps
    except TypeError:  # another Python's C encoder takes other arguments
        return json.dumps
    return lambda value: "".join(encode(value, 0))


def _json_adapter(field: models.JSONField) -> Adapter:
    adapt_json, encoder = connection.ops.adapt_json_value, field.encoder
    if connection.vendor != "sqlite" or encoder is not None:
        return lambda value: adapt_json(value, encoder)
    # On SQLite the stored text is json.dumps(value); an empty object, the most common value of
    # the optional groups, is written without encoding it each time.
    empty = json.dumps({})
    return lambda value: empty if value == {} else _dumps(value)


_dumps = _plain_json_dumps()


def dumps(value: object) -> str:
    """``json.dumps(value)`` with the default settings, as Django's JSONField writes it."""
    return _dumps(value)


def _adapter(field: models.Field) -> Adapter:
    if isinstance(field, models.JSONField):
        return _json_adapter(field)
    if isinstance(field, models.DateTimeField):
        if connection.vendor == "sqlite" and connection.timezone_name == "UTC":
            return _sqlite_datetime
        return connection.ops.adapt_datetimefield_value
    if isinstance(field, _PLAIN):
        return None
    return lambda value: field.get_db_prep_save(value, connection=connection)


class Table:
    """Fast inserts into ``model``'s table of rows given as tuples of ``given`` attnames (the
    primary key only when given: the database numbers the rows otherwise)."""

    def __init__(
        self,
        model: type[models.Model],
        given: Sequence[str],
        *,
        converted: Collection[str] = (),
    ) -> None:
        """``converted`` names given columns whose values come converted for the database
        already (``adapt``): work that can be done before the transaction that writes them."""
        position = {name: index for index, name in enumerate(given)}
        # The given columns first, in their order, then those that get their defaults: rows
        # whose every value comes converted go to the database as they are (``_converted``).
        fields = sorted(
            (f for f in model._meta.concrete_fields if not f.primary_key or f.attname in given),
            key=lambda f: position.get(f.attname, len(given)),
        )
        unknown = set(given) - {f.attname for f in fields}
        if not given:
            raise ValueError("A row needs at least one given column.")
        if unknown:
            raise ValueError(f"{model.__name__} has no columns {sorted(unknown)}")
        if not set(converted) <= set(given):
            missing = sorted(set(converted) - set(given))
            raise ValueError(f"Converted columns must be given too: {missing}")
        self.model = model
        self._already_converted = frozenset(converted)
        self._fields = fields
        self._given = position
        quote = connection.ops.quote_name
        self._table = quote(model._meta.db_table)
        self._columns = ", ".join(quote(f.column) for f in fields)
        self._placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
        self._pk_column = quote(model._meta.pk.column)
        self._as_given = len(fields) == len(given) and all(
            not getattr(f, "auto_now", False)
            and (f.attname in self._already_converted or _adapter(f) is None)
            for f in fields
        )

    def _single_row_sql(self) -> str:
        # Only quoted model metadata and placeholders are formatted in; values are bound.
        return f"INSERT INTO {self._table} ({self._columns}) VALUES {self._placeholders}"  # noqa: S608

    def adapt(self, attname: str, values: Iterable[object]) -> list[object]:
        """``values`` of the column ``attname`` converted for the database, as an insert
        would convert them."""
        adapter = _adapter(next(f for f in self._fields if f.attname == attname))
        return list(map(adapter, values)) if adapter else list(values)

    def _converted(self, rows: Sequence[Sequence[object]]) -> list[tuple[object, ...]]:
        """The rows in table order, every value converted for the database.

        Converted column by column (``map`` over a column runs at C speed, where a loop over
        the cells of each row would dominate the cost of an import), then zipped into rows;
        rows of values that all come converted, or need no converting, are taken as they are.
        """
        if self._as_given:
            return list(rows)  # type: ignore[arg-type]
        now = timezone.now()
        columns: list[Iterable[object]] = []
        for field in self._fields:
            index = self._given.get(field.attname)
            if index is None or getattr(field, "auto_now", False):
                auto = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
                default = now if auto else field.get_default()
                columns.append(repeat(field.get_db_prep_save(default, connection=connection)))
                continue
            values = [row[index] for row in rows]
            adapter = None if field.attname in self._already_converted else _adapter(field)
            # ``count`` compares at C speed, identity first.
            if adapter is not None and values and values.count(values[0]) == len(values):
                # One value for every row (the time of intake, a program): convert it once.
                columns.append(repeat(adapter(values[0])))
            else:
                columns.append(list(map(adapter, values)) if adapter else values)
        return list(zip(*columns, strict=False))

    def insert(self, rows: Sequence[Sequence[object]]) -> None:
        """Insert ``rows``; their ids are not read back.

        SQLite runs ``executemany`` of a one-row statement in C, the fastest way there. On
        PostgreSQL ``COPY`` is: ``executemany`` costs about 75 µs a row in psycopg, multi-row
        ``INSERT``s more still.
        """
        if not rows:
            return
        converted = self._converted(rows)
        with connection.cursor() as cursor:
            if connection.vendor != "postgresql":
                cursor.executemany(self._single_row_sql(), converted)
                return
            # Only quoted model metadata is formatted in; the rows go as COPY data.
            sql = f"COPY {self._table} ({self._columns}) FROM STDIN"
            with cursor.cursor.copy(sql) as copy:
                for row in converted:
                    copy.write_row(row)

    def _chunks(self, converted: list[tuple[object, ...]]) -> Iterator[list[tuple[object, ...]]]:
        max_params = connection.features.max_query_params or _DEFAULT_MAX_PARAMS
        per_statement = min(_MAX_ROWS_PER_STATEMENT, max(1, max_params // len(self._fields)))
        iterator = iter(converted)
        while chunk := list(islice(iterator, per_statement)):
            yield chunk

    def _multi_row_sql(self, count: int) -> str:
        values = ", ".join([self._placeholders] * count)
        # Only quoted model metadata and placeholders are formatted in; values are bound.
        return f"INSERT INTO {self._table} ({self._columns}) VALUES {values}"  # noqa: S608

    def insert_returning_ids(self, rows: Sequence[Sequence[object]]) -> list[int]:
        """Insert ``rows`` and return their new ids, in the order of ``rows``.

        Inside an IMMEDIATE transaction on SQLite (it holds the write lock), and always on
        PostgreSQL, the ids are taken first (``new_ids``) and the rows written with them: on
        SQLite ``executemany`` of the one-row statement stores cases in about 60% of the time
        of a multi-row ``INSERT … RETURNING``, which is what is left elsewhere (it gives the
        ids in the order of the values, which ``bulk_create`` relies on as well).
        """
        if not rows:
            return []
        converted = self._converted(rows)
        if connection.vendor == "postgresql":
            return self._copy_with_new_ids(converted)
        if _holds_sqlite_write_lock():
            ids = new_ids(self.model, len(converted))
            sql = (
                f"INSERT INTO {self._table} ({self._pk_column}, {self._columns}) "  # noqa: S608
                f"VALUES (%s, {self._placeholders[1:]}"
            )
            with connection.cursor() as cursor:
                cursor.executemany(
                    sql, [(pk, *row) for pk, row in zip(ids, converted, strict=True)]
                )
            return ids
        if not connection.features.can_return_rows_from_bulk_insert:
            return self._insert_one_by_one(converted)
        ids: list[int] = []
        with connection.cursor() as cursor:
            for chunk in self._chunks(converted):
                sql = f"{self._multi_row_sql(len(chunk))} RETURNING {self._pk_column}"
                cursor.execute(sql, [value for row in chunk for value in row])
                ids += [row[0] for row in cursor.fetchall()]
        return ids

    def _copy_with_new_ids(self, converted: list[tuple[object, ...]]) -> list[int]:
        """PostgreSQL: take the ids from the table's sequence in one query, then ``COPY`` the
        rows with them. A multi-row ``INSERT … RETURNING`` of cases (19 columns, 14 indexes)
        measured at 150 µs a row, most of it parsing and planning thousands of parameters."""
        table = self.model._meta.db_table
        pk_column = self.model._meta.pk.column
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table, pk_column, len(converted)],
            )
            ids = sorted(row[0] for row in cursor.fetchall())
            # Only quoted model metadata is formatted in; the rows go as COPY data.
            sql = f"COPY {self._table} ({self._pk_column}, {self._columns}) FROM STDIN"
            with cursor.cursor.copy(sql) as copy:
                for pk, row in zip(ids, converted, strict=True):
                    copy.write_row((pk, *row))
        return ids

    def _insert_one_by_one(self, converted: list[tuple[object, ...]]) -> list[int]:
        # SQLite before 3.35 has no RETURNING.
        ids = []
        with connection.cursor() as cursor:
            for row in converted:
                cursor.execute(self._single_row_sql(), row)
                ids.append(cursor.lastrowid)
        return ids


def select_in(
    model: type[models.Model],
    columns: Sequence[str],
    key: str,
    values: Iterable[object],
    *,
    lower: bool = False,
    equal: Mapping[str, object] | None = None,
    oldest_first: bool = False,
    skip_locked: bool = False,
) -> list[tuple[object, ...]]:
    """``SELECT columns FROM model WHERE key IN values [AND column = value …]``, in chunks that
    fit the database's parameter limit; ordered by primary key with ``oldest_first``. With
    ``skip_locked``, the rows are locked ``FOR UPDATE SKIP LOCKED`` where the database can
    (PostgreSQL; SQLite's write transaction holds the whole database anyway), and rows another
    transaction holds are left out, as ``select_for_update(skip_locked=True)`` does.

    ``filter(key__in=…)`` prepares every value of the list one by one, which costs more than
    the query itself for the thousands of keys of an import batch. ``lower`` compares
    ``LOWER(key)``, for the case-insensitive email index. Columns are attnames of ``model``.
    """
    values = list(values)
    if not values:
        return []
    quote = connection.ops.quote_name
    fields = {f.attname: f.column for f in model._meta.concrete_fields}
    selected = ", ".join(quote(fields[c]) for c in columns)
    key_sql = f"LOWER({quote(fields[key])})" if lower else quote(fields[key])
    fixed = [(quote(fields[c]), v) for c, v in (equal or {}).items()]
    conditions = "".join(f" AND {column} = %s" for column, _ in fixed)
    order = f" ORDER BY {quote(model._meta.pk.column)}" if oldest_first else ""
    if skip_locked and connection.features.has_select_for_update_skip_locked:
        order += " FOR UPDATE SKIP LOCKED"
    max_params = (connection.features.max_query_params or _DEFAULT_MAX_PARAMS) - len(fixed)
    rows: list[tuple[object, ...]] = []
    with connection.cursor() as cursor:
        for start in range(0, len(values), max_params):
            chunk = values[start : start + max_params]
            placeholders = ", ".join(["%s"] * len(chunk))
            # Only quoted model metadata and placeholders are formatted in; values are bound.
            sql = (
                f"SELECT {selected} FROM {quote(model._meta.db_table)} "  # noqa: S608
                f"WHERE {key_sql} IN ({placeholders}){conditions}{order}"
            )
            cursor.execute(sql, [*chunk, *(v for _, v in fixed)])
            rows += cursor.fetchall()
    return rows


def instances(
    model: type[_M],
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    from_database: bool = True,
) -> list[_M]:
    """``model`` instances of ``rows`` (values in the order of ``columns``, attnames): read with
    ``select_in`` and converted as the ORM converts what it reads, or, with ``from_database``
    false, Python values as they are (rows just written, say).

    They are made the way unpickling makes them, without ``__init__``: a few microseconds each,
    against 20–30 µs for a wide model through the ORM, the largest cost of reading a batch of
    cases. ``pre_init``/``post_init`` are not sent (no caseloop model listens to them); a field
    not in ``columns`` is deferred and read on first access, as with ``only()``.
    """
    fields = {f.attname: f for f in model._meta.concrete_fields}
    converters = []
    for position, name in enumerate(columns if from_database else ()):
        field = fields[name]
        column = field.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        if found:
            converters.append((position, found, column))
    alias, new, made = connection.alias, model.__new__, []
    for row in rows:
        values = list(row)
        for position, functions, column in converters:
            value = values[position]
            for convert in functions:
                value = convert(value, column, connection)
            values[position] = value
        instance = new(model)
        state = ModelState()
        state.adding, state.db = False, alias
        instance.__dict__.update(zip(columns, values, strict=True))
        instance._state = state
        made.append(instance)
    return made


def _in_condition(model: type[models.Model], key: str, count: int) -> str:
    column = connection.ops.quote_name(model._meta.get_field(key).column)
    return f"{column} IN ({', '.join(['%s'] * count)})"


def update_in(
    model: type[models.Model], values: Mapping[str, object], key: str, keys: Sequence[object]
) -> None:
    """``UPDATE model SET column = value … WHERE key IN keys``, the values converted once as
    their fields convert them: ``filter(key__in=…).update()`` prepares every key one by one.
    ``keys`` must fit in one statement's parameters (a batch's rows)."""
    if not keys:
        return
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in values]
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    params = [
        f.get_db_prep_save(v, connection=connection)
        for f, v in zip(fields, values.values(), strict=True)
    ]
    table, condition = quote(model._meta.db_table), _in_condition(model, key, len(keys))
    with connection.cursor() as cursor:
        # Only quoted model metadata and placeholders are formatted in; values are bound.
        cursor.execute(
            f"UPDATE {table} SET {assignments} WHERE {condition}",  # noqa: S608
            [*params, *keys],
        )


def delete_in(model: type[models.Model], key: str, keys: Sequence[object]) -> None:
    """``DELETE FROM model WHERE key IN keys``, for rows that nothing refers to and no signal
    watches (no cascade is collected, unlike ``QuerySet.delete()``)."""
    if not keys:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        # Only quoted model metadata and placeholders are formatted in; values are bound.
        cursor.execute(
            f"DELETE FROM {table} WHERE {_in_condition(model, key, len(keys))}",  # noqa: S608
            list(keys),
        )


@contextmanager
def larger_page_cache(kib: int) -> Iterator[None]:
    """On SQLite, a page cache of ``kib`` KiB on this connection while a long bulk write runs,
    then the previous size again. SQLite's default is 2 MiB: a batch touches more pages of the
    indexes it grows than that and re-reads evicted ones from the WAL. Durability is untouched
    (``synchronous`` stays as set); other databases are left alone."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (previous,) = cursor.fetchone()
        cursor.execute(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            # An integer read back from SQLite itself, not input.
            cursor.execute(f"PRAGMA cache_size = {int(previous)}")


@contextmanager
def fewer_checkpoints(kib: int) -> Iterator[None]:
    """On SQLite in WAL mode, checkpoint when the log passes ``kib`` KiB instead of SQLite's
    1,000 pages (4 MiB), then the previous threshold again and a checkpoint of what is left.

    For a bulk write of many batches that dirty the same index pages again and again: with
    the default, every commit copies them back into the database file and syncs it; with a
    larger log, once per few batches. The last checkpoint is passive (it never waits for
    readers) and runs here, so the bulk write pays for its own log rather than the next
    request that commits. Other databases are left alone."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        (previous,) = cursor.fetchone()
        cursor.execute("PRAGMA page_size")
        (page_size,) = cursor.fetchone()
        cursor.execute(f"PRAGMA wal_autocheckpoint = {int(kib * 1024 // page_size)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            # An integer read back from SQLite itself, not input.
            cursor.execute(f"PRAGMA wal_autocheckpoint = {int(previous)}")
            # Inside a transaction (a test's) there is nothing committed to copy back yet.
            if not connection.in_atomic_block:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")


def _holds_sqlite_write_lock() -> bool:
    """True inside a transaction begun with ``BEGIN IMMEDIATE`` (the settings' mode), which
    takes SQLite's write lock at once: no other connection can take the same new ids."""
    options = connection.settings_dict.get("OPTIONS") or {}
    return (
        connection.vendor == "sqlite"
        and connection.in_atomic_block
        and options.get("transaction_mode") == "IMMEDIATE"
    )


def new_ids(model: type[models.Model], count: int) -> list[int]:
    """``count`` primary keys for new rows of ``model``, to write them with ``INSERT … SELECT``
    and refer to them in the same transaction. PostgreSQL draws them from the table's sequence;
    SQLite takes the next ones after the highest ever given, which is safe only while this
    transaction holds the write lock (an IMMEDIATE transaction that has begun)."""
    if count <= 0:
        return []
    table, pk = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table, pk, count],
            )
            return sorted(row[0] for row in cursor.fetchall())
        if not _holds_sqlite_write_lock():
            raise RuntimeError("new ids on SQLite need an IMMEDIATE transaction (its write lock)")
        quote = connection.ops.quote_name
        # AUTOINCREMENT tables never give an id twice, even one whose row was deleted.
        cursor.execute("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = %s", [table])
        (given,) = cursor.fetchone()
        cursor.execute(f"SELECT COALESCE(MAX({quote(pk)}), 0) FROM {quote(table)}")  # noqa: S608
        (highest,) = cursor.fetchone()
    first = max(given, highest) + 1
    return list(range(first, first + count))


class ScratchTable:
    """A temporary table of this connection for one transaction's rows, filled at ``executemany``
    (SQLite) or ``COPY`` (PostgreSQL) speed and then read by ``INSERT … SELECT`` and
    ``UPDATE`` statements: on SQLite those write 10,000 rows into a large table's indexes three
    to four times faster than ``executemany`` of the same rows into that table.

    ``columns`` are (name, SQLite type, PostgreSQL type) with the first one the primary key.
    Values go in as the database stores them (datetimes through ``datetime_adapter``).
    """

    def __init__(self, name: str, columns: Sequence[tuple[str, str, str]]) -> None:
        self.name = name
        self.columns = [column for column, _, _ in columns]
        self._types = [(sqlite, postgres) for _, sqlite, postgres in columns]

    def fill(self, rows: Sequence[Sequence[object]]) -> None:
        """Empty the table (creating it if this connection has none) and write ``rows``."""
        postgres = connection.vendor == "postgresql"
        definitions = ", ".join(
            f"{name} {pg if postgres else lite}{' PRIMARY KEY' if index == 0 else ''}"
            for index, (name, (lite, pg)) in enumerate(zip(self.columns, self._types, strict=True))
        )
        names = ", ".join(self.columns)
        with connection.cursor() as cursor:
            # Only names written in this module's callers are formatted in; values are bound.
            cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.name} ({definitions})")
            cursor.execute(f"DELETE FROM {self.name}")  # noqa: S608
            if not rows:
                return
            if postgres:
                with cursor.cursor.copy(f"COPY {self.name} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                return
            marks = ", ".join(["%s"] * len(self.columns))
            cursor.executemany(f"INSERT INTO {self.name} ({names}) VALUES ({marks})", rows)  # noqa: S608


def datetime_adapter() -> Callable[[datetime | None], object]:
    """How a DateTimeField's value is stored, for rows written with plain SQL."""
    if connection.vendor == "sqlite" and connection.timezone_name == "UTC":
        return _sqlite_datetime
    return connection.ops.adapt_datetimefield_value


def selected_datetime(column: str) -> str:
    """A DateTimeField's (quoted) column as plain SQL selects it for ``text_datetime_reader``.

    The SQLite driver turns every value of a ``datetime`` column into a naive datetime through
    Python code (Django's converter): 4 µs per row of three such columns, where the sweep's
    budget is 20. Cast to text they come back untouched, and ``datetime.fromisoformat`` in C
    makes aware datetimes of them ten times faster. Other databases select the column."""
    if connection.vendor == "sqlite" and connection.timezone_name == "UTC":
        return f"CAST({column} AS TEXT)"
    return column


def text_datetime_reader() -> Callable[[object], datetime | None]:
    """Aware datetimes from what a ``selected_datetime`` column returns."""
    if connection.vendor == "sqlite" and connection.timezone_name == "UTC":
        parse = datetime.fromisoformat
        # Stored as "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC: the offset makes the result aware.
        return lambda value: None if value is None else parse(f"{value}+00:00")
    return aware_datetime_reader()  # type: ignore[return-value]


def aware_datetime_reader() -> Callable[[datetime | None], datetime | None]:
    """Aware datetimes from a DateTimeField's values as ``select_in`` reads them: the SQLite
    driver gives naive ones in the database's zone, psycopg aware ones."""
    zone = connection.timezone
    if connection.vendor == "sqlite" and connection.timezone_name == "UTC":
        return lambda value: value if value is None else value.replace(tzinfo=UTC)

    def read(value: datetime | None) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return timezone.make_aware(value, zone)

    return read


@contextmanager
def batch_garbage_collection() -> Iterator[Callable[[], None]]:
    """Turn the automatic garbage collector off for a bulk job (an import, the deadline
    sweep); the caller collects the young generations after each batch with the function
    given, which is where the cycles a batch leaves are.

    An import builds some thirty objects per response, the sweep a dozen per due case; the
    automatic collector then makes a full pass over every live object (Django, the job's
    caches) every 70,000 or so, which measured at a fifth of an import's CPU time (issue #4)
    and a third of the sweep's planning (issue #5). Objects are still freed by their
    reference counts as usual; only cycles wait for the end of their batch.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield lambda: gc.collect(1)
    finally:
        if enabled:
            gc.enable()
