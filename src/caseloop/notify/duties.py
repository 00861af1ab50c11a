"""The worker's duties for this app: tell people of the events queued for them, and deliver the
outbox, every few seconds. Telling runs first, so that what it writes is delivered in the same
pass."""

from datetime import datetime, timedelta

from caseloop.notify.delivery import DeliveryResult, deliver_due
from caseloop.notify.telling import TellResult, tell_untold_events
from caseloop.worker.registry import register_duty


def tell_events(now: datetime) -> TellResult:
    """Write the emails, in-app lines and webhook deliveries of the queued events."""
    return tell_untold_events()


def deliver_outbox(now: datetime) -> DeliveryResult:
    """Deliver what is due at ``now`` (the worker's clock, so tests can move it)."""
    return deliver_due(now=now)


register_duty("notify.tell_events", timedelta(seconds=10), tell_events)
register_duty("notify.deliver_outbox", timedelta(seconds=10), deliver_outbox)
