from django.apps import AppConfig


class IntakeAppConfig(AppConfig):
    name = "caseloop.intake"
    label = "intake"
    verbose_name = "Survey intake"
