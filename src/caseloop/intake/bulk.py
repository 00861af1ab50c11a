"""How a survey import tunes the process and its connection while it runs."""

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection

from caseloop.bulkrows import larger_page_cache

# An import batch touches more index pages than SQLite's default 2 MiB cache holds.
_IMPORT_CACHE_KIB = 64 * 1024
# How far SQLite's write-ahead log may grow during an import before it is copied back.
_IMPORT_WAL_KIB = 64 * 1024


@contextmanager
def import_connection() -> Iterator[None]:
    """Tune the connection for a long import while it runs, and restore it afterwards: on
    SQLite, a page cache of 64 MiB and a write-ahead log of up to 64 MiB between checkpoints.
    Durability is untouched (``synchronous`` stays as set)."""
    with larger_page_cache(_IMPORT_CACHE_KIB), _fewer_checkpoints(_IMPORT_WAL_KIB):
        yield


@contextmanager
def _fewer_checkpoints(kib: int) -> Iterator[None]:
    """On SQLite in WAL mode, checkpoint when the log passes ``kib`` KiB instead of SQLite's
    1,000 pages (4 MiB), then the previous threshold again and a checkpoint of what is left.

    A batch of 5,000 responses dirties about 13 MiB of pages, mostly the same index pages
    batch after batch (customers by email, phone and name, responses by customer, cases): with
    the default every commit copied all of them back into the database file and synced it,
    a tenth of an import's time (issue #4); now they are copied once per few batches. The
    last checkpoint is passive (it never waits for readers) and runs here, so the import pays
    for its own log rather than the next request that commits."""
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


@contextmanager
def batch_garbage_collection() -> Iterator[Callable[[], None]]:
    """Turn the automatic garbage collector off for an import; the caller collects the young
    generations after each batch with the function given, which is where the cycles a batch
    leaves are.

    An import builds some thirty objects per response; the automatic collector then makes a
    full pass over every live object (Django, the caches of the import) every 70,000 or so,
    which measured at a fifth of an import's CPU time (issue #4). Objects are still freed by
    their reference counts as usual; only cycles wait for the end of their batch.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield lambda: gc.collect(1)
    finally:
        if enabled:
            gc.enable()
