"""expected_version: an action based on a stale read is refused with 409 and changes nothing."""

from datetime import datetime

import pytest

from caseloop.api.tests.conftest import Api, error_of
from caseloop.api.tests.test_access_matrix import ENDPOINTS, _snapshot
from caseloop.cases.models import Case
from caseloop.conftest import Cast

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ENDPOINTS)
def test_stale_expected_version_is_409_and_nothing_changes(
    api: Api, cast: Cast, now: datetime, name: str
) -> None:
    endpoint = ENDPOINTS[name]
    if endpoint.arrange:
        endpoint.arrange(cast, now)
    before = _snapshot(cast)
    response = endpoint.call(api, cast, "owner", {"expected_version": before.version - 1})
    assert response.status_code == 409, response.content
    assert error_of(response)["code"] == "conflict"
    assert _snapshot(cast) == before


@pytest.mark.parametrize("name", ENDPOINTS)
def test_current_expected_version_is_accepted(
    api: Api, cast: Cast, now: datetime, name: str
) -> None:
    endpoint = ENDPOINTS[name]
    if endpoint.arrange:
        endpoint.arrange(cast, now)
    version = Case.objects.get(pk=cast.case.pk).version
    response = endpoint.call(api, cast, "owner", {"expected_version": version})
    assert response.status_code == endpoint.success, response.content
    assert response.json()["version"] > version


def test_misspelt_expected_version_is_refused_not_ignored(api: Api, cast: Cast) -> None:
    response = api.post(
        f"/cases/{cast.case.pk}/notes", cast.owner, {"body": "Hi", "expected_verison": 1}
    )
    assert response.status_code == 422
    assert error_of(response)["field"] == "expected_verison"
