"""Builders for the notification app's configuration, and what its tests compare."""

from caseloop.cases.models import CaseEvent
from caseloop.notify.models import (
    InAppNotification,
    OutboxMessage,
    ProgramMailbox,
    WebhookSubscription,
)
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


def written(event: CaseEvent) -> tuple[list[object], list[object]]:
    """What an event caused, without what differs by event (ids, message and delivery ids)."""
    outbox = [
        (m.kind, m.template_event, m.subscription_id, m.recipients, m.created_at)
        for m in OutboxMessage.objects.filter(event=event).order_by("kind", "subscription_id")
    ]
    in_app = [
        (n.user_id, n.kind, n.title, n.created_at)
        for n in InAppNotification.objects.filter(event=event).order_by("user_id")
    ]
    return outbox, in_app
