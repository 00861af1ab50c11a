"""The deadline sweep: late cases show as Overdue and climb the designee chain, once per step.

A case is due for the sweep when its ``next_deadline_at`` has passed. The sweep claims the due
cases from the partial index ``case_next_deadline_due`` in keyset batches, each batch read,
planned in memory and written in one transaction with a fixed number of queries
(``sla.batch``; issue #5: a transaction and a dozen queries per case took 91 ms a case among
100,000 open cases; bench/README.md has today's figures). The batch is read and locked in one
query inside its transaction: on PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets a second worker
pass over the cases the first holds, and a case committed by another worker meanwhile is
judged on its new values; on SQLite the IMMEDIATE transaction serialises the workers, and the
second finds the cases' deadlines moved on. The unique escalation key makes a double step
impossible either way. A case whose deadlines cannot be computed is left due and reported; a
batch that fails in the database is retried one case at a time (``sweep_listed_cases``, which
claims a listed case only while it still has the due time it was listed with), so one bad case
never blocks the others.
"""

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.db import InterfaceError, OperationalError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from caseloop.bulkrows import batch_garbage_collection, fewer_checkpoints, larger_page_cache
from caseloop.cases.models import Case, EventKind
from caseloop.sla.batch import (
    DueCase,
    Known,
    Plan,
    claim,
    claim_due,
    commit_without_waiting_for_the_disk,
    plan_case,
    read_context,
    write,
)

logger = logging.getLogger(__name__)

# Cases per transaction. Each commit of a batch writes its pages to SQLite's log: at 500 the
# commits were a quarter of a sweep of 10,000 due cases among 1,000,000 (160 of 630 ms), at
# 2,000 38 ms. Larger batches saved no more and would hold the write lock, which other writers
# wait on, longer than the ~100 ms a batch of 2,000 takes.
SWEEP_BATCH_SIZE = 2_000


@dataclass
class SweepResult:
    """What one sweep did."""

    cases_examined: int = 0
    cases_marked_overdue: int = 0
    escalations: int = 0
    escalated_case_ids: list[int] = field(default_factory=list)
    # Cases that could not be swept (an error is logged); they stay due for the next sweep.
    failed_case_ids: list[int] = field(default_factory=list)

    def add(self, other: "SweepResult") -> None:
        self.cases_examined += other.cases_examined
        self.cases_marked_overdue += other.cases_marked_overdue
        self.escalations += other.escalations
        self.escalated_case_ids += other.escalated_case_ids
        self.failed_case_ids += other.failed_case_ids


def initial_next_deadline(
    start_due_at: datetime | None, resolve_due_at: datetime | None
) -> datetime | None:
    """For a new case: the earlier of its two deadlines."""
    candidates = [d for d in (start_due_at, resolve_due_at) if d is not None]
    return min(candidates) if candidates else None


def due_cases(now: datetime) -> QuerySet[Case]:
    """Cases whose next deadline has passed, in the order of the partial index
    ``case_next_deadline_due``, for listing them (``sweep_listed_cases``); the sweep itself
    claims them batch by batch with ``sla.batch.due_cases_sql``."""
    return Case.objects.filter(next_deadline_at__lte=now).order_by("next_deadline_at", "pk")


def sweep_deadlines(
    *, now: datetime | None = None, batch_size: int = SWEEP_BATCH_SIZE
) -> SweepResult:
    """Mark late cases overdue and escalate them; safe to run from several workers at once.

    Reads only the cases whose ``next_deadline_at`` has passed (a partial index), in batches of
    ``batch_size``, each batch in one transaction with a fixed number of queries, so that the
    cost follows the number of cases due, not the number open.
    """
    now = now or timezone.now()
    with sweep_connection(), batch_garbage_collection() as collect_garbage:
        return _sweep(now, batch_size, collect_garbage)


@contextmanager
def sweep_connection() -> Iterator[None]:
    """The connection as a sweep tunes it while it runs, and restores it after: on SQLite a
    larger page cache and fewer checkpoints, the last one when the sweep ends."""
    with larger_page_cache(_SWEEP_CACHE_KIB), fewer_checkpoints(_SWEEP_WAL_KIB):
        yield


def _sweep(now: datetime, batch_size: int, collect_garbage: Callable[[], None]) -> SweepResult:
    result = SweepResult()
    known = Known()
    after: tuple[datetime, int] | None = None
    while True:
        # Keyset over (next_deadline_at, id), the partial index's order: a case another worker
        # holds is passed over once, never read again in this sweep.
        listed, batch = _sweep_next_batch(now, after, batch_size, known)
        result.add(batch)
        collect_garbage()
        if len(listed) < batch_size:
            return result
        last_id, last_due = listed[-1]
        after = (last_due, last_id)


def _sweep_next_batch(
    now: datetime, after: tuple[datetime, int] | None, batch_size: int, known: Known
) -> tuple[list[tuple[int, datetime]], SweepResult]:
    """Claim the next batch of due cases and sweep it in one transaction; returns the cases
    claimed, as (id, due time), and what was done. A batch the database refuses is swept
    again case by case, each claimed anew."""
    listed: list[tuple[int, datetime]] = []
    try:
        with transaction.atomic():
            commit_without_waiting_for_the_disk()
            cases = claim_due(now, after, batch_size)
            listed = [(case.id, case.next_deadline_at) for case in cases]  # type: ignore[misc]
            return listed, _sweep_claimed(cases, now, known)
    except (OperationalError, InterfaceError):
        raise
    except Exception:
        if not listed:
            raise
        return listed, _sweep_one_by_one(listed, now, known)


# SQLite's default page cache is 2 MiB. The cases due at one time lie all over the table and its
# indexes, and the pages a sweep touches (cases, events, notifications) outgrow it at a few
# thousand due cases; a larger one measured ~10% less CPU time at 10,000. Durability unchanged.
_SWEEP_CACHE_KIB = 64 * 1024
# A sweep of 10,000 due cases commits 20 batches that grow the same indexes (events, outbox,
# in-app lines): copying them back into the database at every commit was a tenth of its time.
_SWEEP_WAL_KIB = 64 * 1024


def sweep_listed_cases(listed: Sequence[tuple[int, datetime]], *, now: datetime) -> SweepResult:
    """Sweep the cases listed as (id, ``next_deadline_at``) by ``due_cases``, in one
    transaction. A case that changed since it was listed (its next deadline moved: another
    worker swept it, or someone closed or moved it) is left alone. If the database refuses the
    batch, each case is tried in a transaction of its own, so one bad case blocks no other; a
    database that is unreachable or locked fails the sweep instead, for the next run to retry
    (trying a batch's cases one by one against it would take a timeout each)."""
    return _sweep_listed(listed, now, Known())


def _sweep_listed(
    listed: Sequence[tuple[int, datetime]], now: datetime, known: Known
) -> SweepResult:
    try:
        with transaction.atomic():
            return _sweep_claimed(claim(listed), now, known)
    except (OperationalError, InterfaceError):
        raise
    except Exception:
        if len(listed) == 1:
            logger.exception("The deadline sweep failed on case %s; it stays due.", listed[0][0])
            return SweepResult(failed_case_ids=[listed[0][0]])
        return _sweep_one_by_one(listed, now, known)


def _sweep_one_by_one(
    listed: Sequence[tuple[int, datetime]], now: datetime, known: Known
) -> SweepResult:
    """After a batch failed (called while its exception is handled): each case in a
    transaction of its own, so one bad case blocks no other."""
    logger.exception("A deadline sweep batch failed; sweeping its cases one by one.")
    result = SweepResult()
    for one in listed:
        result.add(_sweep_listed([one], now, known))
    return result


def _sweep_claimed(cases: Sequence[DueCase], now: datetime, known: Known) -> SweepResult:
    result = SweepResult()
    if not cases:
        return result
    known.learn(cases)
    taken, watchers = read_context(cases, now)
    plan = Plan(now=now)
    for case in cases:
        mark = plan.mark()
        try:
            plan_case(case, plan, known, taken, set(watchers[case.id]))
        except Exception:
            # A calendar that cannot be computed, say: this case stays as it is, still due.
            logger.exception("The deadline sweep cannot handle case %s; it stays due.", case.id)
            plan.undo(mark)
            result.failed_case_ids.append(case.id)
    result.cases_examined = len(plan.cases)
    kinds = [step[1] for step, _ in plan.steps]
    result.cases_marked_overdue = kinds.count(EventKind.OVERDUE.value)
    result.escalations = kinds.count(EventKind.ESCALATED.value)
    escalated = (step[0] for step, _ in plan.steps if step[1] == EventKind.ESCALATED.value)
    result.escalated_case_ids = list(dict.fromkeys(escalated))
    write(plan, watchers)
    return result
