from django.contrib import admin

from caseloop.programs.models import CaseType, ClosingStatus, PlaybookStep, Program, RootCause


class CaseTypeInline(admin.TabularInline):
    model = CaseType
    extra = 0
    show_change_link = True


class ClosingStatusInline(admin.TabularInline):
    model = ClosingStatus
    extra = 0


class RootCauseInline(admin.TabularInline):
    model = RootCause
    extra = 0


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "code",
        "is_active",
        "start_deadline",
        "start_deadline_unit",
        "resolve_deadline",
        "resolve_deadline_unit",
        "root_causes_required",
    )
    list_filter = ("is_active",)
    search_fields = ("name", "code")
    prepopulated_fields = {"code": ("name",)}
    fieldsets = (
        (None, {"fields": ("name", "code", "description", "is_active")}),
        (
            "Deadlines",
            {
                "fields": (
                    ("start_deadline", "start_deadline_unit"),
                    ("resolve_deadline", "resolve_deadline_unit"),
                )
            },
        ),
        ("Closing", {"fields": ("root_causes_required",)}),
        (
            "Escalation",
            {
                "fields": (
                    "escalation_action",
                    ("escalation_levels", "escalation_interval_days"),
                    "recompute_deadlines_on_transfer",
                )
            },
        ),
    )
    inlines = [CaseTypeInline, ClosingStatusInline, RootCauseInline]


class PlaybookStepInline(admin.TabularInline):
    model = PlaybookStep
    extra = 1


@admin.register(CaseType)
class CaseTypeAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "program", "is_active")
    list_filter = ("program", "is_active")
    search_fields = ("name", "code")
    inlines = [PlaybookStepInline]
