"""A program administrator can reach every configuration page of the admin."""

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from caseloop.conftest import Cast
from caseloop.org.models import Unit

pytestmark = pytest.mark.django_db


CHANGELISTS = [
    f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"
    for model in admin.site._registry
]


@pytest.mark.parametrize("url_name", CHANGELISTS)
def test_every_changelist_renders_for_an_administrator(
    client: Client, cast: Cast, url_name: str
) -> None:
    client.force_login(cast.admin)
    response = client.get(reverse(url_name))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:programs_program_add",
        "admin:programs_casetype_add",
        "admin:org_unit_add",
        "admin:org_membership_add",
        "admin:org_user_add",
    ],
)
def test_configuration_add_forms_render(client: Client, cast: Cast, url_name: str) -> None:
    client.force_login(cast.admin)
    assert client.get(reverse(url_name)).status_code == 200


def test_program_change_page_shows_its_configuration(client: Client, cast: Cast) -> None:
    client.force_login(cast.admin)
    page = client.get(reverse("admin:programs_program_change", args=[cast.program.pk]))
    assert page.status_code == 200
    for expected in ("Resolved", "Not resolved", "Staff behaviour", "Complaint"):
        assert expected in page.text


def test_unit_created_in_admin_gets_its_subtree_path(client: Client, cast: Cast) -> None:
    client.force_login(cast.admin)
    response = client.post(
        reverse("admin:org_unit_add"),
        {
            "code": "store-9",
            "name": "Store 9",
            "kind": "store",
            "parent": cast.region.pk,
            "is_active": "on",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    unit = Unit.objects.get(code="store-9")
    assert unit.path == f"{cast.region.path}{unit.pk}/"


def test_cases_are_read_only_in_the_admin(client: Client, cast: Cast) -> None:
    client.force_login(cast.admin)
    page = client.get(reverse("admin:cases_case_change", args=[cast.case.pk]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.text


def test_non_staff_user_cannot_reach_the_admin(client: Client, cast: Cast) -> None:
    client.force_login(cast.owner)
    response = client.get(reverse("admin:programs_program_changelist"))
    assert response.status_code == 302


def test_invalid_calendar_is_refused_with_the_reason(client: Client, cast: Cast) -> None:
    client.force_login(cast.admin)
    response = client.post(
        reverse("admin:sla_unitcalendar_add"),
        {
            "unit": cast.store.pk,
            "time_zone": "Mars/Olympus",
            "weekly_hours": '{"0": [["09:00", "17:00"]]}',
            "country": "",
            "subdivision": "",
            "closed_dates": "[]",
        },
    )
    assert response.status_code == 200
    assert "Mars/Olympus" in response.text
    assert not cast.store.__class__.objects.filter(calendar__isnull=False).exists()
