"""Every page: each control has a label, and scripts and styles come from the app itself."""

from collections.abc import Callable
from datetime import datetime
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from caseloop.cases.tests.factories import close_as_resolved
from caseloop.conftest import Cast

pytestmark = pytest.mark.django_db

Login = Callable[[str], Client]


class _Controls(HTMLParser):
    """Collects form controls, the ids labels point at, and controls wrapped in a label."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.label_targets: set[str] = set()
        self.open_labels = 0
        self.assets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "label":
            self.open_labels += 1
            if attributes.get("for"):
                self.label_targets.add(str(attributes["for"]))
        if tag in ("input", "select", "textarea") and attributes.get("type") not in (
            "hidden",
            "submit",
        ):
            self.controls.append({**attributes, "wrapped": "yes" if self.open_labels else None})
        if tag == "script" and attributes.get("src"):
            self.assets.append(str(attributes["src"]))
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.assets.append(str(attributes["href"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.open_labels -= 1


def parse(html: str) -> _Controls:
    parser = _Controls()
    parser.feed(html)
    return parser


def pages(cast: Cast) -> list[str]:
    return [
        reverse("web:inbox") + "?tab=units",
        reverse("web:case", args=[cast.case.pk]),
        reverse("web:customer", args=[cast.case.customer_id]),
        reverse("web:search") + "?q=Customer",
        reverse("web:password_change"),
    ]


def test_every_control_has_a_label(login: Login, cast: Cast) -> None:
    client = login("manager")
    for url in pages(cast):
        parsed = parse(client.get(url).content.decode())
        unlabelled = [
            c
            for c in parsed.controls
            if not c["wrapped"] and c.get("id") not in parsed.label_targets
        ]
        assert parsed.controls, url
        assert unlabelled == [], url


def test_closed_case_controls_have_labels(login: Login, cast: Cast, clock: datetime) -> None:
    close_as_resolved(cast.case, actor=cast.owner, now=clock)
    parsed = parse(login("owner").get(reverse("web:case", args=[cast.case.pk])).content.decode())
    assert all(c["wrapped"] or c.get("id") in parsed.label_targets for c in parsed.controls)


@pytest.mark.parametrize("url", ["web:login", "web:password_reset"])
def test_account_pages_label_their_controls(client: Client, url: str) -> None:
    parsed = parse(client.get(reverse(url)).content.decode())
    assert parsed.controls
    assert all(c.get("id") in parsed.label_targets for c in parsed.controls)


def test_scripts_and_styles_come_from_the_app_itself(login: Login, cast: Cast) -> None:
    parsed = parse(login("owner").get(reverse("web:inbox")).content.decode())
    assert "/static/django_htmx/htmx-2.min.js" in parsed.assets
    assert "/static/web/app.css" in parsed.assets
    assert all(asset.startswith("/static/") for asset in parsed.assets)


@pytest.mark.parametrize(
    "path", ["/static/web/app.css", "/static/web/app.js", "/static/django_htmx/htmx-2.min.js"]
)
def test_static_assets_are_served_by_the_app(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
