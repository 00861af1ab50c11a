"""POST /cases: open a case, idempotently by external reference; bad input changes nothing."""

import threading
from typing import Any

import pytest
from django.db import connection

from caseloop.api.services import NewCustomer, open_case_from_api
from caseloop.api.tests.conftest import Api, error_of
from caseloop.cases.models import Case, Source
from caseloop.conftest import Cast
from caseloop.customers.models import Customer
from caseloop.customers.tests.factories import make_customer
from caseloop.programs.tests.factories import make_program

pytestmark = pytest.mark.django_db


def _body(cast: Cast, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "program": cast.program.pk,
        "case_type": cast.program.case_types.get().pk,
        "unit": cast.store.pk,
        "customer": {"name": "Ann Lee", "email": "ann@example.test", "phone": "+1 202 555 0142"},
        "subject": "Broken kettle",
        "description": "Stopped working after a week.",
        "priority": "high",
    }
    body.update(overrides)
    return body


@pytest.fixture
def counts() -> tuple[int, int]:
    return Case.objects.count(), Customer.objects.count()


def _unchanged(before: tuple[int, int]) -> bool:
    return (Case.objects.count(), Customer.objects.count()) == before


def test_open_case_with_a_new_customer_answers_201_with_the_case(api: Api, cast: Cast) -> None:
    response = api.post("/cases", cast.member, _body(cast))
    assert response.status_code == 201
    case = Case.objects.get(pk=response.json()["id"])
    assert (case.subject, case.priority, case.source) == ("Broken kettle", "high", Source.API)
    assert case.customer.phone == "+12025550142"
    assert response.json()["customer"]["email"] == "ann@example.test"
    assert response.json()["owner"]["id"] == cast.owner.pk


def test_open_case_for_an_existing_customer(api: Api, cast: Cast) -> None:
    customer = make_customer()
    response = api.post("/cases", cast.member, _body(cast, customer=customer.pk))
    assert response.status_code == 201
    assert Case.objects.get(pk=response.json()["id"]).customer == customer


def test_repeat_with_same_external_reference_answers_200_with_the_same_case(
    api: Api, cast: Cast
) -> None:
    body = _body(cast, external_source="crm", external_id="T-17")
    first = api.post("/cases", cast.member, body)
    customers = Customer.objects.count()
    again = api.post("/cases", cast.member, body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert Case.objects.filter(external_id="T-17").count() == 1
    assert Customer.objects.count() == customers


def test_repeat_with_an_inline_customer_external_id_is_still_idempotent(
    api: Api, cast: Cast
) -> None:
    customer = {"name": "Ann", "email": "ann@example.test", "external_id": "C-1"}
    body = _body(cast, customer=customer, external_source="crm", external_id="T-18")
    api.post("/cases", cast.member, body)
    assert api.post("/cases", cast.member, body).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"subject": ""}, "subject"),
        ({"subject": "x" * 301}, "subject"),
        ({"priority": "whenever"}, "priority"),
        ({"unit": 999999}, "unit"),
        ({"program": 999999}, "program"),
        ({"customer": 999999}, "customer"),
        ({"customer": {"name": "Ann", "email": "not-an-email"}}, "email"),
        ({"customer": {"name": "Ann", "phone": "12"}}, "phone"),
        ({"customer": {"name": "Ann", "shoe_size": 42}}, "shoe_size"),
        ({"unit": 0}, "unit"),
    ],
)
def test_bad_input_is_422_and_creates_nothing(
    api: Api, cast: Cast, counts: tuple[int, int], overrides: dict[str, Any], field: str
) -> None:
    response = api.post("/cases", cast.member, _body(cast, **overrides))
    assert response.status_code == 422, response.content
    assert error_of(response)["field"] == field
    assert _unchanged(counts)


def test_case_type_of_another_program_is_422(api: Api, cast: Cast, counts: tuple[int, int]) -> None:
    foreign_type = make_program().case_types.get()
    response = api.post("/cases", cast.member, _body(cast, case_type=foreign_type.pk))
    assert response.status_code == 422
    assert error_of(response)["field"] == "case_type"
    assert _unchanged(counts)


def test_missing_subject_is_a_validation_error_with_details(api: Api, cast: Cast) -> None:
    body = _body(cast)
    del body["subject"]
    error = error_of(api.post("/cases", cast.member, body))
    assert error["code"] == "validation_error"
    assert error["details"][0]["loc"][-1] == "subject"


@pytest.mark.parametrize("role", ["viewer", "outsider"])
def test_unit_the_caller_may_not_open_cases_in_is_403_and_creates_nothing(
    api: Api, cast: Cast, counts: tuple[int, int], role: str
) -> None:
    response = api.post("/cases", cast.user(role), _body(cast))
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    assert _unchanged(counts)


@pytest.mark.django_db(transaction=True)
def test_racing_repeats_open_one_case_with_one_new_customer(cast: Cast) -> None:
    workers = 4
    start = threading.Barrier(workers)
    results: list[tuple[int, bool]] = []
    customers = Customer.objects.count()

    def submit() -> None:
        start.wait()
        try:
            opened = open_case_from_api(
                actor=cast.member,
                program_id=cast.program.pk,
                case_type_id=cast.program.case_types.get().pk,
                unit_id=cast.store.pk,
                customer=NewCustomer(name="Ann", email="ann@example.test"),
                subject="Delivered twice",
                external_source="crm",
                external_id="RACE-1",
            )
            results.append((opened.case.pk, opened.created))
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == workers
    assert len({pk for pk, _ in results}) == 1
    assert sorted(created for _, created in results) == [False] * (workers - 1) + [True]
    assert Case.objects.filter(external_id="RACE-1").count() == 1
    assert Customer.objects.count() == customers + 1
