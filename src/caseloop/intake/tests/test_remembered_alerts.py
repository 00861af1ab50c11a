"""An import remembers which rule fired for which values; the outcome is the one the rules
give on those values, whatever their type looks like and however often they come."""

from datetime import UTC, datetime

import pytest

from caseloop.intake.alerts import Alert, LoadedRule, RememberedAlerts, RuleContext, first_alert
from caseloop.intake.models import AlertRule
from caseloop.intake.records import Respondent, ResponseInput
from caseloop.programs.rules import RuleError, validate_rule


def _rules(*expressions: str) -> list[LoadedRule]:
    return [
        LoadedRule(AlertRule(pk=n, name=f"rule {n}", expression=e), validate_rule(e))
        for n, e in enumerate(expressions, start=1)
    ]


def _response(**answers: object) -> ResponseInput:
    response = ResponseInput(
        row=2,
        source="survey",
        external_id="R-1",
        unit_code="store-1",
        received_at=datetime(2026, 11, 23, tzinfo=UTC),
        respondent=Respondent(),
        transaction=None,
        answers=answers,  # type: ignore[arg-type]
    )
    response.unit = "store-1"  # type: ignore[assignment]  # only its path is read
    return response


def _path(unit: object) -> str:
    return "/corp/store-1/"


def _context(**answers: object) -> RuleContext:
    return RuleContext(_response(**answers), _path(None))


def test_the_same_values_fire_the_same_rule_each_time() -> None:
    rules = _rules("concern == true", "q_overall <= 6")
    remembered = RememberedAlerts(rules)
    for answers in [{"q_overall": 3}, {"q_overall": 9}, {"q_overall": 3}, {"concern": True}] * 2:
        expected = first_alert(rules, _context(**answers))
        found = remembered.first_alert(_response(**answers), _path)
        assert _outcome(found) == _outcome(expected)


def _outcome(alert: Alert | None) -> tuple[object, ...] | None:
    return (alert.rule.pk, alert.values) if alert else None


def test_true_and_one_are_not_taken_for_each_other() -> None:
    remembered = RememberedAlerts(_rules("q == 1"))
    assert remembered.first_alert(_response(q=1), _path) is not None
    assert remembered.first_alert(_response(q=True), _path) is None
    assert remembered.first_alert(_response(q=1.0), _path) is not None


def test_a_rule_that_cannot_be_checked_fails_every_response_with_those_values() -> None:
    remembered = RememberedAlerts(_rules("q_overall <= 6"))
    for _ in range(2):
        with pytest.raises(RuleError, match="rule 1"):
            remembered.first_alert(_response(q_overall="bad"), _path)


def test_values_that_cannot_be_remembered_are_evaluated() -> None:
    remembered = RememberedAlerts(_rules("size(answers) > 1", "1 in q_list"))
    assert remembered.first_alert(_response(a=1, b=2), _path) is not None
    assert remembered.first_alert(_response(q_list=[1, 2]), _path).rule.pk == 2
    assert remembered.first_alert(_response(q_list=[3]), _path) is None


def test_a_rule_on_the_unit_is_decided_per_unit_for_the_same_answers() -> None:
    remembered = RememberedAlerts(_rules('q <= 6 && unit_path.contains("/north/")'))
    north, south = _response(q=2), _response(q=2)
    north.unit, south.unit = "north", "south"  # type: ignore[assignment]

    def path_of(unit: object) -> str:
        return f"/corp/{unit}/store-1/"

    for _ in range(2):
        assert remembered.first_alert(north, path_of) is not None
        assert remembered.first_alert(south, path_of) is None
