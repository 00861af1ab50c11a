"""Reads of cases shared by the web app, the API and reports, with the one access rule.

A user sees a case when they own it, watch it, or hold any role on its unit or a unit above it.
Owners, full-access watchers and unit managers/administrators may change it; everyone else who
sees it only reads. A case a user may not see does not exist for them (``NotFound``).
"""

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery

from caseloop.cases.models import (
    OPEN_STATUSES,
    Case,
    CaseWatcher,
    DisplayStatus,
    Status,
    WatcherAccess,
)
from caseloop.errors import Forbidden, NotFound
from caseloop.org.models import WRITING_ROLES, Unit, User
from caseloop.org.queries import roles_on, units_reachable_by


class Access(IntEnum):
    NONE = 0
    READ = 1
    WRITE = 2


def access_of(user: User | None, case: Case) -> Access:
    """What ``user`` may do with ``case``; ``None`` is the system itself (intake, worker)."""
    if user is None or user.is_superuser:
        return Access.WRITE
    if not user.is_active:
        return Access.NONE
    if case.owner_id == user.pk:
        return Access.WRITE
    watcher_access = (
        CaseWatcher.objects.filter(case_id=case.pk, user=user).values_list("access", flat=True)
    ).first()
    if watcher_access == WatcherAccess.FULL:
        return Access.WRITE
    roles = roles_on(user, case.unit)
    if roles & WRITING_ROLES:
        return Access.WRITE
    if roles or watcher_access == WatcherAccess.LIMITED:
        return Access.READ
    return Access.NONE


def visible_cases(user: User) -> QuerySet[Case]:
    """Every case ``user`` may see."""
    if user.is_superuser:
        return Case.objects.all()
    if not user.is_active:
        return Case.objects.none()
    watching = CaseWatcher.objects.filter(case_id=OuterRef("pk"), user=user)
    reachable_units = units_reachable_by(user).values("pk")
    return Case.objects.filter(Q(owner=user) | Exists(watching) | Q(unit_id__in=reachable_units))


def get_case_for(user: User, case_id: int, *, write: bool = False) -> Case:
    """The case with ``case_id`` if ``user`` may see it (and change it, with ``write``).

    Missing and invisible look the same (``NotFound``) so that ids cannot be probed.
    """
    case = (
        Case.objects.select_related(
            "program", "case_type", "customer", "unit", "owner", "closing_status", "transaction"
        )
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        raise NotFound(f"Case {case_id} not found.")
    access = access_of(user, case)
    if access == Access.NONE:
        raise NotFound(f"Case {case_id} not found.")
    if write and access < Access.WRITE:
        raise Forbidden("You may read this case but not change it.")
    return case


class InboxTab(StrEnum):
    MINE = "mine"
    WATCHING = "watching"
    UNITS = "units"
    OVERDUE = "overdue"
    ALL = "all"


@dataclass(frozen=True)
class InboxFilters:
    """The inbox's filters, one definition for the web app and the API.

    ``status`` is a display status: ``overdue`` means open and past the resolve deadline;
    ``new`` and ``in_progress`` then mean those not yet overdue.
    """

    tab: InboxTab = InboxTab.MINE
    status: DisplayStatus | None = None
    program_id: int | None = None
    case_type_id: int | None = None
    unit_id: int | None = None
    due_after: datetime | None = None
    due_before: datetime | None = None


def _by_tab(user: User, tab: InboxTab) -> QuerySet[Case]:
    if tab == InboxTab.MINE:
        return Case.objects.filter(owner=user)
    if tab == InboxTab.WATCHING:
        return Case.objects.filter(
            Exists(CaseWatcher.objects.filter(case_id=OuterRef("pk"), user=user))
        )
    if tab == InboxTab.UNITS:
        return Case.objects.filter(unit_id__in=units_reachable_by(user).values("pk"))
    return visible_cases(user)


def _by_status(
    cases: QuerySet[Case], status: DisplayStatus | None, now: datetime
) -> QuerySet[Case]:
    if status is None:
        return cases
    if status == DisplayStatus.CLOSED:
        return cases.filter(status=Status.CLOSED)
    if status == DisplayStatus.OVERDUE:
        return cases.filter(status__in_constants=OPEN_STATUSES, resolve_due_at__lte=now)
    return cases.filter(status=status).exclude(resolve_due_at__lte=now)


def inbox_cases(user: User, filters: InboxFilters, now: datetime) -> QuerySet[Case]:
    """The cases of one inbox view, most urgent first: open before closed, then by resolve
    deadline. The ordering matches the partial indexes on (owner|unit, resolve_due_at, id)."""
    status = filters.status
    if filters.tab == InboxTab.OVERDUE:
        cases, status = visible_cases(user), DisplayStatus.OVERDUE
    else:
        cases = _by_tab(user, filters.tab)
    if status is None:
        cases = cases.filter(status__in_constants=OPEN_STATUSES)
    cases = _by_status(cases, status, now)
    if filters.program_id is not None:
        cases = cases.filter(program_id=filters.program_id)
    if filters.case_type_id is not None:
        cases = cases.filter(case_type_id=filters.case_type_id)
    if filters.unit_id is not None:
        unit_path = Unit.objects.filter(pk=filters.unit_id).values("path")[:1]
        cases = cases.filter(unit__path__startswith=Subquery(unit_path))
    if filters.due_after is not None:
        cases = cases.filter(resolve_due_at__gte=filters.due_after)
    if filters.due_before is not None:
        cases = cases.filter(resolve_due_at__lt=filters.due_before)
    return cases.select_related("customer", "case_type", "owner", "unit", "program").order_by(
        "resolve_due_at", "id"
    )


def count_by_display_status(user: User, tab: InboxTab, now: datetime) -> dict[str, int]:
    """Counts for the inbox's status chips, in one query."""
    cases = visible_cases(user) if tab == InboxTab.OVERDUE else _by_tab(user, tab)
    is_open = Q(status__in_constants=OPEN_STATUSES)
    late = is_open & Q(resolve_due_at__lte=now)
    return cases.aggregate(
        new=Count("pk", filter=Q(status=Status.NEW) & ~late),
        in_progress=Count("pk", filter=Q(status=Status.IN_PROGRESS) & ~late),
        overdue=Count("pk", filter=late),
        closed=Count("pk", filter=Q(status=Status.CLOSED)),
    )
