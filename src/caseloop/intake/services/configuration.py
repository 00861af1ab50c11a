"""How a program receives responses: its intake settings, its webhook's secret and signature,
and its alert rules, each checked before it is saved."""

import hashlib
import hmac
from collections.abc import Sequence

from django.db import transaction

from caseloop.cases.models import Priority
from caseloop.errors import DomainError, InvalidInput, NotFound
from caseloop.intake.alerts import known_fields
from caseloop.intake.models import AlertRule, ProgramIntake, new_webhook_secret
from caseloop.intake.records import check_mapping
from caseloop.intake.services.permissions import require
from caseloop.org.models import User
from caseloop.programs.models import Program
from caseloop.programs.rules import RuleError, validate_rule

SIGNATURE_PREFIX = "sha256="


class BadSignature(DomainError):
    """A webhook delivery whose signature does not prove it came from the program's platform."""

    code = "bad_signature"


def signature_of(secret: str, body: bytes) -> str:
    """The header value a platform sends with ``body``: ``sha256=`` and the HMAC-SHA256 in hex."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def program_for_webhook(program_code: str, body: bytes, signature: str | None) -> Program:
    """The program a webhook delivery is for, once its signature proves it came from whoever
    holds the program's secret. A program without intake settings has no webhook
    (``NotFound``); a missing or wrong signature is ``BadSignature``, checked in constant time.
    """
    intake = (
        ProgramIntake.objects.select_related("program").filter(program__code=program_code).first()
    )
    if intake is None or not intake.webhook_secret:
        raise NotFound(f"No survey webhook for program {program_code!r}.")
    expected = signature_of(intake.webhook_secret, body)
    if not signature or not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise BadSignature("The signature header is missing or does not match the body.")
    return intake.program


def check_intake(intake: ProgramIntake) -> None:
    """Refuse intake settings that cannot work: an empty or overlong default source, a field
    mapping that names no field of ours, or question ids that leave out a question an alert
    rule of the program mentions. The settings are tidied in place (trimmed, duplicates gone)."""
    intake.default_source = (intake.default_source or "").strip()
    if not intake.default_source or len(intake.default_source) > 64:
        raise InvalidInput("A source is 1-64 characters.", field="default_source")
    if not isinstance(intake.question_ids, list):
        raise InvalidInput("Question ids are a list of names.", field="question_ids")
    cleaned = [str(q).strip() for q in intake.question_ids if str(q).strip()]
    intake.question_ids = list(dict.fromkeys(cleaned))
    try:
        intake.field_mapping = check_mapping(intake.field_mapping or {})
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="field_mapping") from None
    names = known_fields(intake)
    for rule in AlertRule.objects.filter(program_id=intake.program_id):
        try:
            validate_rule(rule.expression, names)
        except RuleError as exc:
            raise InvalidInput(
                f"Alert rule {rule.name!r} would no longer be valid: {exc.message}",
                field="question_ids",
            ) from None


@transaction.atomic
def configure_intake(
    program: Program,
    *,
    actor: User | None,
    default_source: str | None = None,
    question_ids: Sequence[str] | None = None,
    field_mapping: object | None = None,
) -> ProgramIntake:
    """Set how ``program`` receives responses (see ``check_intake``); arguments left as None
    keep their value. The webhook secret is made on first use and changed only by
    ``rotate_webhook_secret``."""
    require(actor, "intake.change_programintake")
    intake = ProgramIntake.objects.filter(program=program).first() or ProgramIntake(program=program)
    if default_source is not None:
        intake.default_source = default_source
    if question_ids is not None:
        intake.question_ids = list(question_ids)
    if field_mapping is not None:
        intake.field_mapping = field_mapping
    check_intake(intake)
    intake.save()
    return intake


@transaction.atomic
def rotate_webhook_secret(program: Program, *, actor: User | None) -> ProgramIntake:
    """Give the program's webhook a new secret; deliveries signed with the old one fail from
    now on, so the platform must be given the new one."""
    require(actor, "intake.change_programintake")
    intake = ProgramIntake.objects.filter(program=program).first() or ProgramIntake(program=program)
    intake.webhook_secret = new_webhook_secret()
    intake.save()
    return intake


def check_alert_rule(rule: AlertRule) -> None:
    """Refuse a rule that cannot work: an expression that is not valid in the rule language (or
    mentions a question the program does not list, when it lists them), a case type of another
    program, an unknown priority, or a name the program already uses. Raises ``InvalidInput``
    (``RuleError`` for the expression, with line and column)."""
    rule.name = rule.name.strip()
    if not rule.name:
        raise InvalidInput(
            "Give the rule a name; the case owner sees it as the reason.", field="name"
        )
    intake = ProgramIntake.objects.filter(program_id=rule.program_id).first()
    validate_rule(rule.expression, known_fields(intake))
    if rule.case_type.program_id != rule.program_id:
        raise InvalidInput(
            f"{rule.case_type} is not a case type of this program.", field="case_type"
        )
    if rule.priority not in Priority.values:
        raise InvalidInput(f"Unknown priority {rule.priority!r}.", field="priority")
    duplicate = AlertRule.objects.filter(program_id=rule.program_id, name=rule.name)
    if duplicate.exclude(pk=rule.pk).exists():
        raise InvalidInput(f"The program already has a rule named {rule.name!r}.", field="name")


@transaction.atomic
def save_alert_rule(rule: AlertRule, *, actor: User | None) -> AlertRule:
    """Create or change an alert rule once ``check_alert_rule`` accepts it. It applies to
    responses taken in from then on; cases already opened keep the reason they were opened for."""
    require(actor, "intake.change_alertrule" if rule.pk else "intake.add_alertrule")
    check_alert_rule(rule)
    rule.save()
    return rule
