from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "caseloop.notify"
    label = "notify"
    verbose_name = "Notifications and email"
