from django.contrib import admin
from django.http import HttpRequest

from caseloop.worker.models import PeriodicDuty


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
