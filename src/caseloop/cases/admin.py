from django.contrib import admin

from caseloop.cases.models import Case, CaseEvent


class CaseEventInline(admin.TabularInline):
    model = CaseEvent
    extra = 0
    can_delete = False
    readonly_fields = ("created_at", "kind", "actor", "data")

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    """Read-only: a case changes only through the case services, which check rights, keep the
    history and notify people. Administrators inspect cases here."""

    list_display = ("number", "subject", "program", "unit", "owner", "status", "resolve_due_at")
    list_filter = ("status", "program", "priority", "source", "was_overdue")
    search_fields = ("subject", "customer__name", "customer__email", "external_id")
    list_select_related = ("program", "unit", "owner")
    show_full_result_count = False
    inlines = [CaseEventInline]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False
