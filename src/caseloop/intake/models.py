"""Survey intake: responses kept as data, the alert rules that turn some into cases, and how each
program receives them."""

import secrets

from django.db import models
from django.utils.translation import gettext_lazy as _

from caseloop.cases.models import Priority


def new_webhook_secret() -> str:
    return secrets.token_hex(32)


class ProgramIntake(models.Model):
    """How survey responses reach a program.

    The webhook secret is shared with the survey platform, which signs every delivery with it
    (HMAC-SHA256 of the body); it is kept readable because verifying a signature needs the key
    itself. ``default_source`` names the platform when a response does not. When
    ``question_ids`` is filled, alert rules may mention only those questions, so a misspelt
    question is refused when the rule is saved instead of never firing. ``field_mapping`` says
    how the platform's field names map onto ours, for the webhook and for imports that bring no
    mapping file of their own.
    """

    program = models.OneToOneField(
        "programs.Program", on_delete=models.CASCADE, related_name="intake"
    )
    webhook_secret = models.CharField(
        max_length=128,
        default=new_webhook_secret,
        help_text=_("Shared with the survey platform; deliveries are signed with it."),
    )
    default_source = models.CharField(
        max_length=64,
        default="survey",
        help_text=_("The source of responses that do not name one, e.g. the platform's name."),
    )
    question_ids = models.JSONField(
        default=list,
        blank=True,
        help_text=_("If listed, the only questions alert rules may mention."),
    )
    field_mapping = models.JSONField(
        default=dict,
        blank=True,
        help_text=_('Platform field → our field, e.g. {"ResponseId": "external_id"}.'),
    )

    class Meta:
        verbose_name = _("program intake")

    def __str__(self) -> str:
        return f"Intake of {self.program}"


class AlertRule(models.Model):
    """A condition on a survey response that makes it an alert case.

    Rules of a program are tried in ``position`` order and the first that holds decides: its
    case type and priority make the case, and the case records the rule and the values that made
    it fire. The expression is in the rule language of ``docs/rules.md`` and is checked when the
    rule is saved.
    """

    program = models.ForeignKey(
        "programs.Program", on_delete=models.CASCADE, related_name="alert_rules"
    )
    name = models.CharField(max_length=200, help_text=_("Shown to the case owner as the reason."))
    position = models.PositiveSmallIntegerField(default=0)
    expression = models.TextField(help_text=_("e.g. concern == true || q_overall <= 6"))
    case_type = models.ForeignKey("programs.CaseType", on_delete=models.PROTECT, related_name="+")
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.NORMAL)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["program", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["program", "name"], name="alert_rule_name_per_program")
        ]

    def __str__(self) -> str:
        return self.name


class SurveyResponse(models.Model):
    """One customer's answers to a survey, as received, with the case it raised if any.

    ``source`` + ``external_id`` identify a response everywhere: the same response delivered
    twice, by any path, is stored once. The respondent's details are kept as received, and the
    customer they were matched to (or created as) is linked. Transaction details are kept here;
    an alert case also gets them as a transaction of the customer.
    """

    program = models.ForeignKey(
        "programs.Program", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    source = models.CharField(max_length=64)
    external_id = models.CharField(max_length=128)
    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="survey_responses",
        db_index=False,
    )
    # Lookups by unit go through cases; an index here would only slow every import.
    unit = models.ForeignKey("org.Unit", on_delete=models.PROTECT, related_name="+", db_index=False)
    received_at = models.DateTimeField()
    ingested_at = models.DateTimeField()
    respondent = models.JSONField(default=dict, blank=True)
    transaction_details = models.JSONField(default=dict, blank=True)
    answers = models.JSONField(default=dict, blank=True)
    verbatims = models.JSONField(default=dict, blank=True)
    alert_rule = models.ForeignKey(
        AlertRule,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    # Indexed only where set (``survey_response_case``): most responses raise no case.
    case = models.ForeignKey(
        "cases.Case",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="survey_responses",
        db_index=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="survey_response_unique_external_ref"
            )
        ]
        # Every index here is paid on each of the thousands of rows an import writes per
        # second (issue #4), so only those a query reads: the unique key (intake skips what is
        # stored), the customer's answers, and the responses of a case (``responses_of_case``,
        # and the SET NULL when a case is deleted). No query reads responses by program and
        # time; ``test_queries_on_responses_use_an_index`` checks the plans of the others.
        indexes = [
            models.Index(fields=["customer", "received_at"], name="survey_response_customer"),
            models.Index(
                fields=["case"],
                condition=models.Q(case__isnull=False),
                name="survey_response_case",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source}/{self.external_id}"
