"""HTTP helpers for API tests: a client that acts as a cast member through a personal token."""

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.http import HttpResponse
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from caseloop.api.services import create_token
from caseloop.org.models import User

BASE = "/api/v1"


class Api:
    """Calls the API as a given user with that user's bearer token (made on first use)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._tokens: dict[int, str] = {}

    def headers(self, user: User) -> dict[str, str]:
        if user.pk not in self._tokens:
            _, raw = create_token(actor=user, name="tests")
            self._tokens[user.pk] = raw
        return {"HTTP_AUTHORIZATION": f"Bearer {self._tokens[user.pk]}"}

    def get(self, path: str, user: User, **params: Any) -> HttpResponse:
        return self.client.get(BASE + path, params, **self.headers(user))

    def post(self, path: str, user: User, data: dict[str, Any] | None = None) -> HttpResponse:
        body = json.dumps(data) if data is not None else ""
        return self.client.post(
            BASE + path, body, content_type="application/json", **self.headers(user)
        )

    def delete(self, path: str, user: User, data: dict[str, Any] | None = None) -> HttpResponse:
        body = json.dumps(data) if data is not None else ""
        return self.client.delete(
            BASE + path, body, content_type="application/json", **self.headers(user)
        )

    def upload(self, path: str, user: User, **form: Any) -> HttpResponse:
        return self.client.post(BASE + path, form, **self.headers(user))


@pytest.fixture
def api(client: Client) -> Api:
    return Api(client)


@pytest.fixture(autouse=True)
def frozen_clock(now: datetime) -> Iterator[datetime]:
    """Requests read the real clock; pin it an hour after the cast's case opened, so that
    deadlines and "overdue" mean the same whenever the suite runs."""
    at = now + timedelta(hours=1)
    with time_machine.travel(at, tick=False):
        yield at


@pytest.fixture(autouse=True)
def media_root(settings: SettingsWrapper, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def error_of(response: HttpResponse) -> dict[str, Any]:
    """The ``error`` object of a response, after checking it has exactly the one error shape."""
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field", "details"}
    return body["error"]
