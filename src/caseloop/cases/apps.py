from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "caseloop.cases"
    label = "cases"
