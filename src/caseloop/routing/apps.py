from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "caseloop.routing"
    label = "routing"
