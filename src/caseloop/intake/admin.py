from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from caseloop.errors import InvalidInput
from caseloop.intake.models import AlertRule, ProgramIntake, SurveyResponse
from caseloop.intake.services import (
    check_alert_rule,
    check_intake,
    configure_intake,
    rotate_webhook_secret,
    save_alert_rule,
)


def _as_form_error(exc: InvalidInput) -> forms.ValidationError:
    # A rule error ends with the source line and a caret under the fault: keep its layout.
    head, _, pointer = exc.message.partition("\n")
    if pointer:
        return forms.ValidationError(
            format_html('{}<pre class="rule-pointer">{}</pre>', head, pointer)
        )
    return forms.ValidationError(exc.message)


class AlertRuleForm(forms.ModelForm):
    class Meta:
        model = AlertRule
        fields = ["program", "position", "name", "expression", "case_type", "priority", "is_active"]
        widgets = {
            "expression": forms.Textarea(attrs={"rows": 3, "style": "font-family: monospace"})
        }

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        rule = self.instance
        for name, value in cleaned.items():
            setattr(rule, name, value)
        try:
            check_alert_rule(rule)
        except InvalidInput as exc:
            field = exc.field if exc.field in self.fields else None
            self.add_error(field, _as_form_error(exc))
        return cleaned


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    form = AlertRuleForm
    list_display = (
        "name",
        "program",
        "position",
        "expression",
        "case_type",
        "priority",
        "is_active",
    )
    list_filter = ("program", "is_active", "priority")
    list_editable = ("position", "is_active")
    search_fields = ("name", "expression")

    def save_model(
        self, request: HttpRequest, obj: AlertRule, form: forms.ModelForm, change: bool
    ) -> None:
        save_alert_rule(obj, actor=request.user)  # type: ignore[arg-type]


class ProgramIntakeForm(forms.ModelForm):
    class Meta:
        model = ProgramIntake
        fields = ["program", "default_source", "question_ids", "field_mapping"]

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        intake = ProgramIntake(pk=self.instance.pk)
        for name, value in cleaned.items():
            setattr(intake, name, value)
        try:
            check_intake(intake)
        except InvalidInput as exc:
            field = exc.field if exc.field in self.fields else None
            self.add_error(field, _as_form_error(exc))
        return cleaned


@admin.register(ProgramIntake)
class ProgramIntakeAdmin(admin.ModelAdmin):
    form = ProgramIntakeForm
    list_display = ("program", "default_source")
    readonly_fields = ("webhook_secret",)
    actions = ["rotate_secret"]

    def get_readonly_fields(
        self, request: HttpRequest, obj: ProgramIntake | None = None
    ) -> tuple[str, ...]:
        # The settings belong to one program for good; moving them would move its secret.
        return ("program", "webhook_secret") if obj else ("webhook_secret",)

    def save_model(
        self, request: HttpRequest, obj: ProgramIntake, form: forms.ModelForm, change: bool
    ) -> None:
        configure_intake(
            obj.program,
            actor=request.user,  # type: ignore[arg-type]
            default_source=obj.default_source,
            question_ids=obj.question_ids or [],
            field_mapping=obj.field_mapping or {},
        )

    @admin.action(description="Give the webhook a new secret")
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[ProgramIntake]) -> None:
        for intake in queryset.select_related("program"):
            rotate_webhook_secret(intake.program, actor=request.user)  # type: ignore[arg-type]
        self.message_user(request, "New secrets set; give them to the survey platforms.")


@admin.register(SurveyResponse)
class SurveyResponseAdmin(admin.ModelAdmin):
    """Responses are evidence of what the customer said: they are read here, never edited."""

    list_display = ("source", "external_id", "program", "unit", "received_at", "alert_rule", "case")
    list_filter = ("program", "source")
    search_fields = ("external_id",)
    list_select_related = ("program", "unit", "alert_rule", "case")
    raw_id_fields = ("customer", "case")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
