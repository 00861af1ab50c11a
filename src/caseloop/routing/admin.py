from django import forms
from django.contrib import admin

from caseloop.programs.rules import RuleError
from caseloop.routing.models import AssignmentRule
from caseloop.routing.services import check_rule


class AssignmentRuleForm(forms.ModelForm):
    class Meta:
        model = AssignmentRule
        fields = ["program", "position", "name", "condition", "strategy", "team", "skill"]

    def clean_condition(self) -> str:
        condition = self.cleaned_data.get("condition", "")
        try:
            check_rule(AssignmentRule(condition=condition))
        except RuleError as error:
            raise forms.ValidationError(str(error)) from None
        return condition


@admin.register(AssignmentRule)
class AssignmentRuleAdmin(admin.ModelAdmin):
    form = AssignmentRuleForm
    list_display = ("name", "program", "position", "strategy", "team", "skill", "is_active")
    list_filter = ("program", "strategy", "is_active")
    list_editable = ("position", "is_active")
    autocomplete_fields = ["team"]
    fields = [
        "program",
        "position",
        "name",
        "condition",
        "strategy",
        "team",
        "skill",
        "is_active",
    ]
