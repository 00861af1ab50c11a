"""Builders for cases, through the same service that opens real cases."""

from datetime import datetime

from caseloop.cases.models import Case
from caseloop.cases.services import close_case, open_case
from caseloop.customers.tests.factories import make_customer
from caseloop.org.models import Unit, User
from caseloop.org.tests.factories import make_unit
from caseloop.programs.models import Program
from caseloop.programs.tests.factories import make_program


def make_case(
    *,
    program: Program | None = None,
    unit: Unit | None = None,
    owner: User | None = None,
    now: datetime | None = None,
    **overrides: object,
) -> Case:
    program = program or make_program()
    unit = unit or make_unit()
    fields: dict[str, object] = {
        "subject": "Rude staff at checkout",
        "customer": overrides.pop("customer", None) or make_customer(),
    }
    fields.update(overrides)
    return open_case(
        actor=None,
        program=program,
        case_type=program.case_types.first(),
        unit=unit,
        owner=owner,
        now=now,
        **fields,  # type: ignore[arg-type]
    )


def close_as_resolved(
    case: Case, *, actor: User, now: datetime | None = None, final_note: str = "Done"
) -> Case:
    """Close ``case`` with its program's first closing status (resolved) and first root cause."""
    program = case.program
    return close_case(
        case,
        actor=actor,
        closing_status_id=program.closing_statuses.first().pk,
        root_cause_ids=[program.root_causes.first().pk],
        final_note=final_note,
        now=now,
    )
