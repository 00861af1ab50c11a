"""Option lists the web forms offer. Reads only; what may actually be chosen is the services'
decision."""

from dataclasses import dataclass

from django.db.models import QuerySet

from caseloop.cases.models import Case
from caseloop.org.models import Membership, Role, Unit, User
from caseloop.org.queries import units_reachable_by
from caseloop.programs.models import CaseType, Program


def people_for_case(case: Case) -> QuerySet[User]:
    """Active users holding a role on the case's unit or a unit above it: the people a case is
    normally given to or shown to."""
    return (
        User.objects.filter(is_active=True, memberships__unit_id__in=case.unit.ancestor_ids)
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


def oversees_units(user: User) -> bool:
    """Whether the user looks after units rather than only working cases in them (managers,
    viewers, administrators): they get the "My units" inbox tab and land on it."""
    return Membership.objects.filter(user=user).exclude(role=Role.AGENT).exists()


# An option of a select: its value and what it shows.
Choice = tuple[int, str]


@dataclass
class InboxFilterOptions:
    programs: list[Choice]
    case_types: list[Choice]
    units: list[Choice]


def inbox_filter_options(user: User) -> InboxFilterOptions:
    """What the inbox's filters offer: active programs and their case types, and the units the
    user belongs to with everything below them (every unit for a superuser).

    Read as plain pairs: an administrator's list holds every unit, hundreds of them, and model
    instances of each cost more than the page's own query (issue #3).
    """
    units = Unit.objects.filter(is_active=True) if user.is_superuser else units_reachable_by(user)
    case_types = CaseType.objects.filter(program__is_active=True, is_active=True)
    return InboxFilterOptions(
        programs=list(Program.objects.filter(is_active=True).values_list("pk", "name")),
        case_types=[
            (pk, f"{name} ({program})")
            for pk, name, program in case_types.values_list("pk", "name", "program__name")
        ],
        units=list(units.order_by("path").values_list("pk", "name")),
    )
