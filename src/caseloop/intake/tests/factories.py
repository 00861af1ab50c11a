"""Builders for intake settings, alert rules and raw survey responses."""

import itertools

from caseloop.cases.models import Priority
from caseloop.intake.models import AlertRule, ProgramIntake
from caseloop.intake.records import IncomingRecord
from caseloop.intake.services import configure_intake, save_alert_rule
from caseloop.programs.models import Program

_sequence = itertools.count(1)


def make_intake(program: Program, **settings: object) -> ProgramIntake:
    return configure_intake(program, actor=None, **settings)  # type: ignore[arg-type]


def make_alert_rule(
    program: Program,
    expression: str = "concern == true",
    *,
    name: str | None = None,
    position: int | None = None,
    priority: str = Priority.HIGH,
    **overrides: object,
) -> AlertRule:
    n = next(_sequence)
    rule = AlertRule(
        program=program,
        name=name or f"Rule {n}",
        position=n if position is None else position,
        expression=expression,
        case_type=overrides.pop("case_type", None) or program.case_types.first(),
        priority=priority,
        **overrides,
    )
    return save_alert_rule(rule, actor=None)


def response_data(unit_code: str, **fields: object) -> dict[str, object]:
    """A JSON response with a fresh external id, a respondent and no concern."""
    n = next(_sequence)
    data: dict[str, object] = {
        "external_id": f"resp-{n}",
        "unit": unit_code,
        "respondent": {"email": f"respondent{n}@example.test", "name": f"Respondent {n}"},
        "answers": {"q_overall": 9, "concern": False},
    }
    data.update(fields)
    return data


def records(*items: dict[str, object]) -> list[IncomingRecord]:
    return [IncomingRecord(row=row, data=item) for row, item in enumerate(items, start=1)]
