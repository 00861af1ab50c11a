"""The worker's duty for this app: deliver the outbox every few seconds."""

from datetime import datetime, timedelta

from caseloop.notify.delivery import DeliveryResult, deliver_due
from caseloop.worker.registry import register_duty


def deliver_outbox(now: datetime) -> DeliveryResult:
    """Deliver what is due at ``now`` (the worker's clock, so tests can move it)."""
    return deliver_due(now=now)


register_duty("notify.deliver_outbox", timedelta(seconds=10), deliver_outbox)
