"""The deadline sweep: late cases show as Overdue and climb the designee chain, once per step.

A case is due for the sweep when its ``next_deadline_at`` has passed. The sweep lists the due
cases from the partial index ``case_next_deadline_due`` in keyset batches, and handles each
batch in one transaction with a fixed number of queries (issue #5: a transaction and a dozen
queries per case took 91 ms a case among 100,000 open cases, ~0.4 ms now; bench/README.md).
It claims the batch by re-reading its cases under a lock and keeps only those *with the same
``next_deadline_at`` it listed*: on PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets a second
worker pass over the cases the first holds; on SQLite the IMMEDIATE transaction
serialises the workers and the second finds the values moved on. Either way the loser moves
on, and the unique escalation key makes a double step impossible. A case whose deadlines cannot
be computed is left due and reported; a batch that fails in the database is retried one case at
a time, so one bad case never blocks the others.
"""

import gc
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from caseloop.bulkrows import fewer_checkpoints, larger_page_cache
from caseloop.cases.models import Case, EventKind
from caseloop.sla.batch import Known, Plan, claim, plan_case, read_context, write

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


def due_cases(now: datetime, after: tuple[datetime, int] | None = None) -> QuerySet[Case]:
    """Cases whose next deadline has passed, in the order of the partial index
    ``case_next_deadline_due``; ``after`` is (due time, id) of the last case already listed."""
    due = Case.objects.filter(next_deadline_at__lte=now)
    if after is not None:
        last_due, last_id = after
        # A range on the index's leading column, so that the search starts at the last case.
        due = due.filter(
            Q(next_deadline_at__gte=last_due), Q(next_deadline_at__gt=last_due) | Q(pk__gt=last_id)
        )
    return due.order_by("next_deadline_at", "pk")


def sweep_deadlines(
    *, now: datetime | None = None, batch_size: int = SWEEP_BATCH_SIZE
) -> SweepResult:
    """Mark late cases overdue and escalate them; safe to run from several workers at once.

    Reads only the cases whose ``next_deadline_at`` has passed (a partial index), in batches of
    ``batch_size``, each batch in one transaction with a fixed number of queries, so that the
    cost follows the number of cases due, not the number open.
    """
    now = now or timezone.now()
    with (
        larger_page_cache(_SWEEP_CACHE_KIB),
        fewer_checkpoints(_SWEEP_WAL_KIB),
        _older_objects_set_aside(),
    ):
        return _sweep(now, batch_size)


@contextmanager
def _older_objects_set_aside() -> Iterator[None]:
    """Python's cyclic garbage collector left to the objects made during the sweep.

    A sweep makes hundreds of thousands of short-lived objects (rows, instances, dicts), and
    every full collection they set off also walks each object the process already held
    (Django, the modules, caches): 0.7 s of CPU per sweep of 10,000 due cases, a fifth of it.
    ``gc.freeze`` sets those older objects aside until the sweep ends; nothing is collected
    less, only later.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _sweep(now: datetime, batch_size: int) -> SweepResult:
    result = SweepResult()
    known = Known()
    after: tuple[datetime, int] | None = None
    while True:
        # Keyset over (next_deadline_at, id), the partial index's order: a case another worker
        # holds is passed over once, never read again in this sweep.
        listed = list(due_cases(now, after).values_list("pk", "next_deadline_at")[:batch_size])
        if listed:
            result.add(_sweep_listed(listed, now, known))
        if len(listed) < batch_size:
            return result
        last_id, last_due = listed[-1]
        after = (last_due, last_id)


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
            return _sweep_cases_in_transaction(listed, now, known)
    except (OperationalError, InterfaceError):
        raise
    except Exception:
        if len(listed) == 1:
            logger.exception("The deadline sweep failed on case %s; it stays due.", listed[0][0])
            return SweepResult(failed_case_ids=[listed[0][0]])
        logger.exception("A deadline sweep batch failed; sweeping its cases one by one.")
    result = SweepResult()
    for one in listed:
        result.add(_sweep_listed([one], now, known))
    return result


def _sweep_cases_in_transaction(
    listed: Sequence[tuple[int, datetime]], now: datetime, known: Known
) -> SweepResult:
    result = SweepResult()
    cases = claim(listed)
    if not cases:
        return result
    known.learn(cases)
    start_escalated, watchers = read_context(cases, now)
    plan = Plan(now=now)
    for case in cases:
        mark = plan.mark()
        try:
            plan_case(case, plan, known, start_escalated, set(watchers[case.id]))
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
