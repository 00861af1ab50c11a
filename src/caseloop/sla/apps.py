from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "caseloop.sla"
    label = "sla"
