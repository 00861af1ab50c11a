"""Search by case number, customer name, email or phone written any way, within reach."""

from collections.abc import Callable
from datetime import datetime

import pytest
from django.test import Client
from django.urls import reverse

from caseloop.cases.tests.factories import make_case
from caseloop.conftest import Cast
from caseloop.customers.tests.factories import make_customer

pytestmark = pytest.mark.django_db

Login = Callable[[str], Client]
SEARCH = reverse("web:search")


def found(client: Client, text: str) -> list[str]:
    response = client.get(SEARCH, {"q": text})
    assert response.status_code == 200
    results = response.context["results"]
    return [c.number for c in results.cases] + [c.name for c in results.customers]


@pytest.fixture
def jane(cast: Cast, now: datetime) -> str:
    customer = make_customer(name="Jane Doe", email="Jane.Doe@Example.com", phone="+12025550143")
    make_case(program=cast.program, unit=cast.store, customer=customer, now=now)
    return customer.name


def test_case_number_opens_the_case(login: Login, cast: Cast) -> None:
    response = login("owner").get(SEARCH, {"q": cast.case.number.lower()})
    assert response.status_code == 302
    assert response["Location"] == reverse("web:case", args=[cast.case.pk])


@pytest.mark.parametrize("phone", ["(202) 555-0143", "202.555.0143", "+1 202 555 0143"])
def test_phone_written_any_way_finds_the_customer(login: Login, jane: str, phone: str) -> None:
    assert found(login("owner"), phone) == [jane]


def test_email_in_any_case_finds_the_customer(login: Login, jane: str) -> None:
    assert found(login("owner"), "jane.doe@example.COM") == [jane]


@pytest.mark.parametrize("text", ["jane", "DOE", "Jane D"])
def test_start_of_a_name_or_of_a_word_finds_the_customer(
    login: Login, jane: str, text: str
) -> None:
    assert found(login("owner"), text) == [jane]


def test_middle_of_a_word_finds_nothing(login: Login, jane: str) -> None:
    assert found(login("owner"), "ane") == []


def test_outsider_finds_nothing_out_of_reach(login: Login, cast: Cast, jane: str) -> None:
    client = login("outsider")
    assert found(client, "Jane") == []
    assert found(client, cast.case.number) == []


def test_results_say_how_many_cases_are_open(login: Login, jane: str) -> None:
    html = login("owner").get(SEARCH, {"q": "Jane"}).content.decode()
    assert '<span class="badge">1 open</span>' in html


def test_nothing_found_says_so(login: Login, cast: Cast) -> None:
    html = login("owner").get(SEARCH, {"q": "Zebediah"}).content.decode()
    assert "Nothing found for “Zebediah”." in html


def test_search_text_with_markup_is_shown_as_text(login: Login, cast: Cast) -> None:
    html = login("owner").get(SEARCH, {"q": "<script>x</script>"}).content.decode()
    assert "<script>x</script>" not in html


def test_search_box_is_on_every_page(login: Login, cast: Cast) -> None:
    client = login("owner")
    for url in (reverse("web:inbox"), reverse("web:case", args=[cast.case.pk])):
        html = client.get(url).content.decode()
        assert '<label for="site-search" class="visually-hidden">' in html
