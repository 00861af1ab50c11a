"""Background entry points of notifications, run from the task queue by ``caseloop worker``."""

from django_tasks import task

from caseloop.notify.services import retry_outbox_now


@task()
def retry_outbox_delivery(message_ids: list[int]) -> int:
    """Give the chosen messages a fresh allowance of attempts and make them due at once; the
    outbox duty delivers them at its next run. Idempotent, as a task run again after its
    worker died must be. Returns how many messages were rescheduled."""
    return retry_outbox_now(message_ids)
