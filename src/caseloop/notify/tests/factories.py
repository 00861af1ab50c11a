"""Builders for the notification app's configuration."""

from caseloop.notify.models import ProgramMailbox, WebhookSubscription
from caseloop.notify.services import save_program_mailbox, save_webhook_subscription
from caseloop.org.models import Unit
from caseloop.programs.models import Program


def make_mailbox(
    program: Program, unit: Unit, address: str = "support@retail.test"
) -> ProgramMailbox:
    return save_program_mailbox(
        ProgramMailbox(
            program=program, address=address, case_type=program.case_types.first(), unit=unit
        )
    )


def make_subscription(
    program: Program, url: str, events: list[str] | None = None, **overrides: object
) -> WebhookSubscription:
    fields: dict[str, object] = {"name": "CRM", "secret": "s3cret-for-tests"}
    fields.update(overrides)
    return save_webhook_subscription(
        WebhookSubscription(program=program, url=url, events=events or [], **fields)  # type: ignore[arg-type]
    )
