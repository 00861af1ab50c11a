from django.contrib import admin

from caseloop.customers.models import Customer


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    """Read-only: customers change through intake and the agents' screens, which normalise
    contact details; the admin is for looking people up."""

    list_display = ("name", "email", "phone", "external_id", "created_at")
    search_fields = ("name", "email", "phone", "external_id")
    readonly_fields = ("name", "email", "phone", "external_id", "attributes", "created_at")

    def has_add_permission(self, request: object) -> bool:
        return False
