"""Importing a file of survey responses, in several processes where that is faster.

A batch is checked (shaped, parsed, validated: no database) and then stored in a transaction
that holds the database's write lock: SQLite's own, taken at ``BEGIN IMMEDIATE``, or on
PostgreSQL the intake's advisory lock (``ingest``), so that two batches never match the same
new customer twice. One process does both in turn; with two, one checks its next batch while
the other stores, and the lock is rarely idle (issue #4).

Each worker reads the whole file and takes every n-th batch (``files.read_batches``): rows keep
the number of their line, and only each batch's counts and problems travel back to the process
that started the import. Each batch is still one transaction, whole or not at all, and a re-run
skips what is stored. A worker is killed with the process that started it (Linux; elsewhere it
stops before its next batch), so an import killed half way and run again ends exactly right.

With several workers the batches commit in no fixed order: of two rows with the same source and
external id in different batches, the one stored first is kept and the other counted as
already present. Inside a transaction (the caller's, a test's) or on a SQLite database in
memory, the import runs in the calling process, as it does with one worker.
"""

import ctypes
import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import TracebackType

from django.db import connection, connections

from caseloop.errors import DomainError, InvalidInput
from caseloop.intake.files import read_batches
from caseloop.intake.records import IncomingRecord, RowProblem
from caseloop.intake.services.ingest import (
    IntakeResult,
    IntakeSession,
    ingest_batches,
    require_active,
)

# Two processes keep the write lock busy (one stores while the other checks); a third only
# waits for the lock, and competes with the database for the CPU.
MOST_USEFUL_WORKERS = 2
_PR_SET_PDEATHSIG = 1


def default_workers() -> int:
    """Two workers where this process may run on two processors or more, else one."""
    return max(1, min(MOST_USEFUL_WORKERS, _usable_cpus()))


def _usable_cpus() -> int:
    """The processors this process may run on: a container or ``taskset`` often allows fewer
    than the machine has, and a worker more than those only waits for a processor."""
    if hasattr(os, "sched_getaffinity"):  # not on macOS nor Windows
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class ImportWorkerFailed(RuntimeError):
    """A worker process of an import failed or vanished; batches it committed stay committed."""


class FileImport:
    """An import of one file, run as a context manager: entering starts the workers (before
    the caller starts threads of its own, such as a progress bar's, since they would be forked
    too), iterating gives each batch's result as it commits, and leaving stops any worker still
    running.

    ``session`` carries the program, the mapping and the default source; it is checked by its
    constructor, so a bad mapping is refused before anything starts.
    """

    def __init__(
        self,
        session: IntakeSession,
        path: Path,
        file_format: str,
        *,
        batch_size: int,
        workers: int = 1,
    ) -> None:
        if batch_size < 1:
            raise InvalidInput("A batch holds at least one response.", field="batch_size")
        if workers < 1:
            raise InvalidInput("An import needs at least one worker.", field="workers")
        require_active(session.program)
        self.session = session
        self.path = path
        self.file_format = file_format
        self.batch_size = batch_size
        self.workers = workers if _can_fork() else 1
        self._running: dict[Connection, BaseProcess] = {}
        self._finished = False

    def __enter__(self) -> "FileImport":
        if self.workers > 1:
            try:
                self._start_workers()
            except BaseException:
                # ``__exit__`` does not run when ``__enter__`` raises: a worker already started
                # would go on committing batches of an import its caller believes never began.
                self._stop_workers()
                raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop_workers()

    def _stop_workers(self) -> None:
        for process in self._running.values():
            if not self._finished and process.is_alive():
                # Stopped half way (an error, or the caller stopped reading): the batch each
                # worker holds rolls back, and a re-run takes it up.
                process.kill()
        for receiver, process in self._running.items():
            process.join()
            receiver.close()
        self._running.clear()

    def __iter__(self) -> Iterator[IntakeResult]:
        if self.workers == 1:
            batches = read_batches(self.path, self.file_format, self.batch_size)
            yield from ingest_batches(
                self.session.program, batches, actor=None, session=self.session
            )
            return
        if not self._running:
            raise RuntimeError("Enter the import (with FileImport(...)) before iterating it.")
        yield from self._results()

    def _start_workers(self) -> None:
        # A forked child must open connections of its own: one shared with the parent would be
        # used by two processes at once.
        connections.close_all()
        context = multiprocessing.get_context("fork")
        self.session.turn_to_store = context.Lock()
        for index in range(self.workers):
            receiver, sender = context.Pipe(duplex=False)
            try:
                process = context.Process(
                    target=_work,
                    args=(self, (index, self.workers), sender, os.getpid()),
                    name=f"caseloop-import-{index + 1}",
                    daemon=True,
                )
                process.start()
            except BaseException:
                receiver.close()
                raise
            finally:
                # The worker has its own copy: the receiver sees the end of the pipe (a worker
                # that vanished) only once no end for sending is left open here.
                sender.close()
            self._running[receiver] = process

    def _results(self) -> Iterator[IntakeResult]:
        waiting = dict(self._running)
        while waiting:
            for receiver in wait(list(waiting)):
                assert isinstance(receiver, Connection)
                try:
                    kind, value = receiver.recv()
                except EOFError:
                    process = waiting.pop(receiver)
                    process.join()
                    raise ImportWorkerFailed(
                        f"An import worker stopped unexpectedly (exit code {process.exitcode}). "
                        "Run the import again: the rows already stored are skipped."
                    ) from None
                if kind == "result":
                    yield value
                elif kind == "done":
                    del waiting[receiver]
                elif kind == "refused":
                    raise InvalidInput(value)
                else:
                    raise ImportWorkerFailed(f"An import worker failed:\n{value}")
        self._finished = True


def _can_fork() -> bool:
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    if connection.in_atomic_block:
        return False  # the workers could not see, nor join, the caller's transaction
    return not (connection.vendor == "sqlite" and connection.is_in_memory_db())


def _die_with_parent(parent_pid: int) -> None:
    """Be killed when the process that started the import dies, as a SIGKILL of the import
    must stop it whole; checked once more in case the parent died before this ran."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)


def _while_parent_lives(
    batches: Iterator[list[IncomingRecord | RowProblem]], parent_pid: int
) -> Iterator[list[IncomingRecord | RowProblem]]:
    for batch in batches:
        if os.getppid() != parent_pid:
            return
        yield batch


def _work(plan: FileImport, share: tuple[int, int], sender: Connection, parent_pid: int) -> None:
    """One worker: its share of the file's batches, each result sent back as it commits."""
    _die_with_parent(parent_pid)
    try:
        batches = read_batches(plan.path, plan.file_format, plan.batch_size, share=share)
        session = plan.session
        for result in ingest_batches(
            session.program, _while_parent_lives(batches, parent_pid), actor=None, session=session
        ):
            sender.send(("result", result))
        sender.send(("done", None))
    except DomainError as exc:
        sender.send(("refused", exc.message))
    except BaseException:  # whatever it is, the parent must hear of it
        sender.send(("failed", traceback.format_exc()))
    finally:
        connections.close_all()
        sender.close()
