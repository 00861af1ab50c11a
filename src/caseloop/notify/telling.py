"""Telling people of events later: the outbox of services that change thousands of cases at once.

A case service tells the case's people in its own transaction (``notify_case_event``). The
deadline sweep and the survey import change thousands of cases per run instead, and writing
every email, in-app line and webhook delivery inside their transactions was most of the
sweep's time (issue #5: 204 µs of its 450 µs per due case) and a tenth of an import's (issue
#4). They queue each event as an ``UntoldEvent`` row instead, in the same transaction as the
event, with the owner and watchers of that moment, so who is told is still decided with the
change. The worker's ``notify.tell_events`` duty then tells them through the same
``notify_case_events``, deleting the rows it told in the same transaction: nothing is lost
when the sweep commits and the worker dies, and nothing is told twice when a telling run is
repeated (its rows are gone, and ``notify_case_events`` skips what is written).
"""

import copy
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction

from caseloop.bulkrows import Table, delete_in
from caseloop.cases.models import Case, CaseEvent
from caseloop.notify.models import UntoldEvent
from caseloop.notify.services import notify_case_events

# Events told per transaction: the sweep queues two per due case, 20,000 for 1% of 1,000,000.
TELL_BATCH_SIZE = 1_000

# (event id, the case's owner id then, the ids of its watchers then)
UntoldRow = tuple[int, int | None, Sequence[int]]


def queue_untold_events(rows: Sequence[UntoldRow]) -> None:
    """Queue events for the worker to tell, in the caller's transaction. Each row is the
    event's id, the case's owner when it happened and the case's watchers then."""
    Table(UntoldEvent, ("event_id", "owner_id", "watcher_ids")).insert(
        [(event_id, owner_id, sorted(watchers)) for event_id, owner_id, watchers in rows]
    )


def queue_untold_events_from(scratch_table: str) -> None:
    """Queue the events listed in a scratch table of this transaction (``event_id``,
    ``owner_id``, ``watcher_ids`` as a JSON list), in one ``INSERT … SELECT``: the sweep's
    thousands of events, without their rows passing through Python again."""
    table = connection.ops.quote_name(UntoldEvent._meta.db_table)
    with connection.cursor() as cursor:
        # The scratch table's name comes from the calling module, never from input.
        cursor.execute(
            f"INSERT INTO {table} (event_id, owner_id, watcher_ids) "  # noqa: S608
            f"SELECT event_id, owner_id, watcher_ids FROM {scratch_table} ORDER BY event_id"
        )


@dataclass
class TellResult:
    """What one run of the telling duty did."""

    events_told: int = 0
    batches: int = 0


def tell_untold_events(*, batch_size: int = TELL_BATCH_SIZE) -> TellResult:
    """Tell every queued event, oldest first, ``batch_size`` per transaction; safe to run from
    several workers at once (PostgreSQL: each passes over the rows another holds; SQLite: one
    writer at a time, and the second finds the rows gone)."""
    result = TellResult()
    while True:
        told = _tell_batch(batch_size)
        if not told:
            return result
        result.events_told += told
        result.batches += 1
        if told < batch_size:
            return result


@transaction.atomic
def _tell_batch(batch_size: int) -> int:
    queued = list(
        UntoldEvent.objects.select_for_update(skip_locked=True)
        .order_by("event_id")
        .values_list("event_id", "owner_id", "watcher_ids")[:batch_size]
    )
    if not queued:
        return 0
    owners = {event_id: owner_id for event_id, owner_id, _ in queued}
    watchers_at = {event_id: watchers for event_id, _, watchers in queued}
    events = list(
        CaseEvent.objects.filter(pk__in=list(owners))
        .select_related("actor", "case__program", "case__unit", "case__owner")
        .order_by("pk")
    )
    for event in events:
        _as_it_stood(event, owners[event.pk])
    notify_case_events(events, watchers_at=watchers_at)
    delete_in(UntoldEvent, "event_id", list(owners))
    return len(queued)


def _as_it_stood(event: CaseEvent, owner_id: int | None) -> None:
    """Give ``event`` its case with the owner it had when the event happened."""
    case: Case = event.case
    if case.owner_id == owner_id:
        return
    then = copy.copy(case)
    then.owner_id = owner_id
    # The owner read with the case is today's: the one of the moment is read if needed.
    owner = Case._meta.get_field("owner")
    if owner.is_cached(then):
        owner.delete_cached_value(then)
    CaseEvent._meta.get_field("case").set_cached_value(event, then)
