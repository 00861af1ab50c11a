"""Reads of notifications shared by the web app and the API."""

from caseloop.notify.models import InAppNotification, OutboxMessage, OutboxStatus
from caseloop.org.models import User


def unread_count_for(user: User) -> int:
    """How many of ``user``'s in-app notifications are unread (the badge); one indexed count."""
    return InAppNotification.objects.filter(user=user, read_at__isnull=True).count()


def list_notifications_for(
    user: User, *, unread_only: bool = False, limit: int = 50
) -> list[InAppNotification]:
    """``user``'s notifications, newest first, with their cases, in one query."""
    notifications = InAppNotification.objects.filter(user=user)
    if unread_only:
        notifications = notifications.filter(read_at__isnull=True)
    return list(notifications.select_related("case").order_by("-created_at", "-id")[:limit])


def list_failed_deliveries(limit: int = 100) -> list[OutboxMessage]:
    """Messages the worker gave up on, newest first: what an administrator must look at."""
    return list(
        OutboxMessage.objects.filter(status=OutboxStatus.FAILED)
        .select_related("case", "subscription")
        .order_by("-created_at")[:limit]
    )
