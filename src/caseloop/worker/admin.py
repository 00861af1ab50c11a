from datetime import datetime

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone

from caseloop.worker.models import PeriodicDuty, WorkerHeartbeat
from caseloop.worker.services import stale_after


@admin.register(PeriodicDuty)
class PeriodicDutyAdmin(admin.ModelAdmin):
    """Read-only: the schedule and the leases belong to the workers, not to people."""

    list_display = ("name", "next_run_at", "leased_by", "leased_until", "last_finished_at")
    readonly_fields = (
        "name",
        "next_run_at",
        "leased_until",
        "leased_by",
        "last_started_at",
        "last_finished_at",
        "last_error",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PeriodicDuty | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: PeriodicDuty | None = None) -> bool:
        return False


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    """Read-only: the workers running now, and those that died in the last day. The tasks a
    dead worker was running are under "Task results", queued again or failed with the reason."""

    list_display = ("worker_id", "started_at", "last_seen_at", "alive")
    readonly_fields = ("worker_id", "started_at", "last_seen_at")

    @admin.display(boolean=True, description="Alive")
    def alive(self, obj: WorkerHeartbeat) -> bool:
        last_seen: datetime = obj.last_seen_at
        return last_seen >= timezone.now() - stale_after()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: WorkerHeartbeat | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: WorkerHeartbeat | None = None
    ) -> bool:
        return False
