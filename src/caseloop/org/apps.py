from django.apps import AppConfig


class OrgConfig(AppConfig):
    name = "caseloop.org"
    label = "org"
    verbose_name = "Organisation"
