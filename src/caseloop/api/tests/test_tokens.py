"""Personal API tokens: shown once, stored hashed, dead once revoked or when their user is."""

from datetime import datetime, timedelta

import pytest
from django.test import Client

from caseloop.api.models import ApiToken
from caseloop.api.services import authenticate_token, create_token, hash_secret, revoke_token
from caseloop.api.tests.conftest import BASE, Api, error_of
from caseloop.conftest import Cast
from caseloop.errors import InvalidInput, NotFound

pytestmark = pytest.mark.django_db


def _bearer(raw: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_created_token_has_the_documented_form(cast: Cast) -> None:
    token, raw = create_token(actor=cast.owner, name="CRM sync")
    tag, prefix, secret = raw.split("_", 2)
    assert (tag, prefix) == ("cl", token.prefix)
    assert len(secret) >= 40


def test_only_a_hash_of_the_secret_is_stored(cast: Cast) -> None:
    token, raw = create_token(actor=cast.owner, name="CRM sync")
    secret = raw.split("_", 2)[2]
    row = ApiToken.objects.filter(pk=token.pk).values().get()
    assert row["key_hash"] == hash_secret(secret)
    assert not any(secret in str(value) for value in row.values())


def test_token_name_is_required(cast: Cast) -> None:
    with pytest.raises(InvalidInput) as error:
        create_token(actor=cast.owner, name="  ")
    assert error.value.field == "name"
    assert not ApiToken.objects.exists()


def test_valid_token_authenticates_its_user(cast: Cast) -> None:
    _, raw = create_token(actor=cast.owner, name="CRM sync")
    assert authenticate_token(raw) == cast.owner


@pytest.mark.parametrize(
    "garbage", ["", "cl_", "cl__secret", "xx_abc_def", "no-underscores", "cl_unknown_secret"]
)
def test_malformed_or_unknown_token_authenticates_nobody(cast: Cast, garbage: str) -> None:
    create_token(actor=cast.owner, name="CRM sync")
    assert authenticate_token(garbage) is None


def test_last_use_is_written_at_most_once_a_minute(cast: Cast, now: datetime) -> None:
    token, raw = create_token(actor=cast.owner, name="CRM sync", now=now)
    authenticate_token(raw, now=now)
    authenticate_token(raw, now=now + timedelta(seconds=59))
    token.refresh_from_db()
    assert token.last_used_at == now
    authenticate_token(raw, now=now + timedelta(seconds=61))
    token.refresh_from_db()
    assert token.last_used_at == now + timedelta(seconds=61)


def test_recently_used_token_authenticates_without_writing(
    cast: Cast, now: datetime, django_assert_num_queries: object
) -> None:
    _, raw = create_token(actor=cast.owner, name="CRM sync", now=now)
    authenticate_token(raw, now=now)
    with django_assert_num_queries(1):  # type: ignore[operator]
        authenticate_token(raw, now=now + timedelta(seconds=30))


def test_user_cannot_revoke_someone_elses_token(cast: Cast) -> None:
    token, _ = create_token(actor=cast.owner, name="CRM sync")
    with pytest.raises(NotFound):
        revoke_token(actor=cast.manager, token_id=token.pk)
    token.refresh_from_db()
    assert token.revoked_at is None


def test_superuser_may_revoke_any_token(cast: Cast) -> None:
    token, raw = create_token(actor=cast.owner, name="CRM sync")
    revoke_token(actor=cast.admin, token_id=token.pk)
    assert authenticate_token(raw) is None


# ---- over HTTP --------------------------------------------------------------------------------


def test_new_token_is_shown_once_in_the_create_response(api: Api, cast: Cast) -> None:
    response = api.post("/tokens", cast.owner, {"name": "CRM sync"})
    assert response.status_code == 201
    raw = response.json()["token"]
    assert authenticate_token(raw) == cast.owner
    listing = api.get("/tokens", cast.owner)
    assert raw.split("_", 2)[2] not in listing.content.decode()
    assert "token" not in listing.json()[0]


def test_token_list_shows_only_ones_own_tokens(api: Api, cast: Cast) -> None:
    create_token(actor=cast.manager, name="manager's script")
    names = [t["name"] for t in api.get("/tokens", cast.owner).json()]
    assert "manager's script" not in names


def test_request_with_a_valid_token_is_served(client: Client, cast: Cast) -> None:
    _, raw = create_token(actor=cast.owner, name="CRM sync")
    assert client.get(f"{BASE}/cases", **_bearer(raw)).status_code == 200


def test_revoked_token_is_refused(api: Api, client: Client, cast: Cast) -> None:
    token, raw = create_token(actor=cast.owner, name="CRM sync")
    assert api.delete(f"/tokens/{token.pk}", cast.owner).status_code == 200
    response = client.get(f"{BASE}/cases", **_bearer(raw))
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


def test_token_of_a_deactivated_user_is_refused(client: Client, cast: Cast) -> None:
    _, raw = create_token(actor=cast.owner, name="CRM sync")
    cast.owner.is_active = False
    cast.owner.save()
    assert client.get(f"{BASE}/cases", **_bearer(raw)).status_code == 401


def test_wrong_secret_with_a_real_prefix_is_refused(client: Client, cast: Cast) -> None:
    token, _ = create_token(actor=cast.owner, name="CRM sync")
    forged = f"cl_{token.prefix}_{'A' * 43}"
    assert client.get(f"{BASE}/cases", **_bearer(forged)).status_code == 401


def test_bad_token_on_a_write_is_401_not_a_csrf_error(client: Client, cast: Cast) -> None:
    response = client.post(
        f"{BASE}/tokens", {"name": "x"}, content_type="application/json", **_bearer("cl_x_y")
    )
    assert response.status_code == 401
    assert not ApiToken.objects.exists()


def test_revoking_someone_elses_token_over_http_is_404(api: Api, cast: Cast) -> None:
    token, raw = create_token(actor=cast.manager, name="manager's script")
    response = api.delete(f"/tokens/{token.pk}", cast.owner)
    assert response.status_code == 404
    assert authenticate_token(raw) == cast.manager


def test_admin_revoke_action_revokes_the_selected_tokens(client: Client, cast: Cast) -> None:
    token, raw = create_token(actor=cast.owner, name="CRM sync")
    client.force_login(cast.admin)
    response = client.post(
        "/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert authenticate_token(raw) is None


def test_admin_token_list_is_read_only(client: Client, cast: Cast) -> None:
    create_token(actor=cast.owner, name="CRM sync")
    client.force_login(cast.admin)
    response = client.get("/admin/api/apitoken/")
    assert response.status_code == 200
    assert b"CRM sync" in response.content
    assert client.get("/admin/api/apitoken/add/").status_code == 403
