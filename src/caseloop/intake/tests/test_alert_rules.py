"""Alert rules and intake settings are checked when saved, in the service and in the admin."""

import pytest
from django.test import Client
from django.urls import reverse

from caseloop.errors import Forbidden, InvalidInput
from caseloop.intake.models import AlertRule, ProgramIntake
from caseloop.intake.services import configure_intake, rotate_webhook_secret, save_alert_rule
from caseloop.intake.tests.conftest import Survey
from caseloop.intake.tests.factories import make_alert_rule, make_intake
from caseloop.org.tests.factories import make_user
from caseloop.programs.rules import RuleError
from caseloop.programs.tests.factories import make_program

pytestmark = pytest.mark.django_db


def test_rule_with_a_syntax_error_is_refused_with_its_position(survey: Survey) -> None:
    with pytest.raises(RuleError) as caught:
        make_alert_rule(survey.program, "q_overall <= ")
    assert (caught.value.line, caught.value.column) == (1, 14)
    assert AlertRule.objects.count() == 2


def test_rule_naming_an_unlisted_question_is_refused(survey: Survey) -> None:
    make_intake(survey.program, question_ids=["q_overall", "concern"])
    with pytest.raises(RuleError, match="Unknown name 'q_overal'"):
        make_alert_rule(survey.program, "q_overal <= 6")


def test_rule_naming_a_listed_question_and_the_unit_is_accepted(survey: Survey) -> None:
    make_intake(survey.program, question_ids=["q_overall", "concern"])
    rule = make_alert_rule(survey.program, 'q_overall <= 4 && unit_kind == "store"')
    assert rule.pk is not None


def test_rule_with_a_case_type_of_another_program_is_refused(survey: Survey) -> None:
    other = make_program().case_types.first()
    with pytest.raises(InvalidInput, match="not a case type of this program"):
        make_alert_rule(survey.program, "concern == true", case_type=other)


def test_two_rules_of_a_program_cannot_share_a_name(survey: Survey) -> None:
    with pytest.raises(InvalidInput, match="already has a rule named 'Low score'"):
        make_alert_rule(survey.program, "q_overall <= 2", name="Low score")


def test_only_users_with_the_permission_may_write_rules(survey: Survey) -> None:
    rule = AlertRule(
        program=survey.program,
        name="x",
        expression="concern == true",
        case_type=survey.program.case_types.first(),
    )
    with pytest.raises(Forbidden):
        save_alert_rule(rule, actor=survey.owner)


def test_listing_questions_that_leave_out_one_a_rule_uses_is_refused(survey: Survey) -> None:
    with pytest.raises(InvalidInput, match="Alert rule 'Low score' would no longer be valid"):
        configure_intake(survey.program, actor=None, question_ids=["concern"])
    assert not ProgramIntake.objects.exists()


def test_a_mapping_to_no_field_of_ours_is_refused(survey: Survey) -> None:
    with pytest.raises(InvalidInput, match="names no field"):
        configure_intake(survey.program, actor=None, field_mapping={"Score": "respondent.age"})


def test_each_program_gets_its_own_webhook_secret(survey: Survey) -> None:
    first = make_intake(survey.program)
    second = make_intake(make_program())
    assert len(first.webhook_secret) == 64
    assert first.webhook_secret != second.webhook_secret


def test_rotating_the_webhook_secret_replaces_it(survey: Survey) -> None:
    old = make_intake(survey.program).webhook_secret
    assert rotate_webhook_secret(survey.program, actor=None).webhook_secret != old


def _rule_form(survey: Survey, expression: str) -> dict[str, object]:
    return {
        "program": survey.program.pk,
        "position": 5,
        "name": "Angry words",
        "expression": expression,
        "case_type": survey.program.case_types.first().pk,  # type: ignore[union-attr]
        "priority": "urgent",
        "is_active": "on",
    }


def test_admin_shows_where_a_broken_rule_is_wrong_and_saves_nothing(
    client: Client, survey: Survey
) -> None:
    client.force_login(make_user(is_superuser=True, is_staff=True))
    page = client.post(
        reverse("admin:intake_alertrule_add"), _rule_form(survey, 'verbatim.contains("rude"')
    )
    assert page.status_code == 200
    assert "Syntax error at line 1, column 25: missing" in page.text
    assert '<pre class="rule-pointer">' in page.text
    assert not AlertRule.objects.filter(name="Angry words").exists()


def test_admin_saves_a_valid_rule(client: Client, survey: Survey) -> None:
    client.force_login(make_user(is_superuser=True, is_staff=True))
    response = client.post(
        reverse("admin:intake_alertrule_add"),
        _rule_form(survey, 'verbatim.matches("(?i)rude|angry")'),
    )
    assert response.status_code == 302
    assert AlertRule.objects.get(name="Angry words").priority == "urgent"


def test_admin_escapes_the_rule_text_in_its_error(client: Client, survey: Survey) -> None:
    client.force_login(make_user(is_superuser=True, is_staff=True))
    page = client.post(
        reverse("admin:intake_alertrule_add"), _rule_form(survey, 'verbatim == "<b>x</b>" &&')
    )
    assert "<b>x</b>" not in page.text.split('<pre class="rule-pointer">', 1)[1]


def test_admin_refuses_intake_settings_that_break_a_rule(client: Client, survey: Survey) -> None:
    client.force_login(make_user(is_superuser=True, is_staff=True))
    page = client.post(
        reverse("admin:intake_programintake_add"),
        {
            "program": survey.program.pk,
            "default_source": "qualtrics",
            "question_ids": '["concern"]',
            "field_mapping": "{}",
        },
    )
    assert page.status_code == 200
    assert "would no longer be valid" in page.text
    assert not ProgramIntake.objects.exists()
