from django.apps import AppConfig


class ProgramsConfig(AppConfig):
    name = "caseloop.programs"
    label = "programs"
