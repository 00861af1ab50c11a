from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest

from caseloop.org.models import Membership, Unit, User
from caseloop.org.services import save_unit


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("Case work", {"fields": ("phone", "skills", "is_away", "cover")}),
    )
    list_display = ("username", "email", "first_name", "last_name", "is_away", "is_staff")
    list_filter = (*BaseUserAdmin.list_filter, "is_away")
    autocomplete_fields = ["cover"]


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "kind", "parent", "owner", "manager", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "code")
    autocomplete_fields = ["parent", "owner", "manager"]
    readonly_fields = ("path", "depth")
    inlines = [MembershipInline]

    def save_model(self, request: HttpRequest, obj: Unit, form: object, change: bool) -> None:
        # The subtree path of the unit and all below it must follow a move.
        save_unit(obj)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "unit", "role")
    list_filter = ("role",)
    search_fields = ("user__username", "unit__name", "unit__code")
    autocomplete_fields = ["user", "unit"]
