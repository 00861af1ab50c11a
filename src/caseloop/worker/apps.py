from django.apps import AppConfig


class WorkerConfig(AppConfig):
    name = "caseloop.worker"
    label = "worker"
    verbose_name = "Background worker"
