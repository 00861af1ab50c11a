from django import forms
from django.contrib import admin

from caseloop.sla.calendar import CalendarError
from caseloop.sla.models import Escalation, UnitCalendar


class UnitCalendarForm(forms.ModelForm):
    class Meta:
        model = UnitCalendar
        fields = ["unit", "time_zone", "weekly_hours", "country", "subdivision", "closed_dates"]

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        candidate = UnitCalendar(
            time_zone=cleaned.get("time_zone") or "",
            weekly_hours=cleaned.get("weekly_hours") or {},
            country=cleaned.get("country") or "",
            subdivision=cleaned.get("subdivision") or "",
            closed_dates=cleaned.get("closed_dates") or [],
        )
        try:
            candidate.as_business_calendar().validate()
        except CalendarError as error:
            raise forms.ValidationError(str(error)) from None
        return cleaned


@admin.register(UnitCalendar)
class UnitCalendarAdmin(admin.ModelAdmin):
    form = UnitCalendarForm
    list_display = ("unit", "time_zone", "country", "subdivision")
    search_fields = ("unit__name", "unit__code")
    autocomplete_fields = ["unit"]


@admin.register(Escalation)
class EscalationAdmin(admin.ModelAdmin):
    list_display = ("case", "deadline", "level", "designee", "deadline_at", "created_at")
    list_filter = ("deadline", "level")
    list_select_related = ("designee",)
    readonly_fields = ("case", "deadline", "deadline_at", "level", "designee", "created_at")

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
