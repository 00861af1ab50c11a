"""Reads of the periodic duties' schedule."""

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q

from caseloop.worker.models import PeriodicDuty


def names_of_claimable_duties(names: Iterable[str], *, now: datetime) -> set[str]:
    """Which of ``names`` are due and not leased at ``now``: the duties worth trying to claim.

    A plain read, so an idle pass takes no write lock (SQLite has only one); the claim itself
    still decides who wins.
    """
    unleased = Q(leased_until__isnull=True) | Q(leased_until__lt=now)
    return set(
        PeriodicDuty.objects.filter(
            unleased, name__in=list(names), next_run_at__lte=now
        ).values_list("name", flat=True)
    )
