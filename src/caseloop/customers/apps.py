from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "caseloop.customers"
    label = "customers"
