from django.apps import AppConfig


class WebConfig(AppConfig):
    """The agents' web application: server-rendered pages with htmx fragments."""

    name = "caseloop.web"
    label = "web"
    verbose_name = "Web application"
