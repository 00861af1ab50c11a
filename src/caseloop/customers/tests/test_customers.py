"""Customers: contact details are normalised so that a caller is recognised however the number
was first written."""

import pytest

from caseloop.customers.models import Customer
from caseloop.customers.services import create_customer, normalize_email, normalize_phone
from caseloop.errors import InvalidInput


@pytest.mark.parametrize(
    "raw",
    ["(202) 555-0143", "202.555.0143", "+1 202 555 0143", "1-202-555-0143", "+12025550143"],
)
def test_us_numbers_in_any_format_become_e164(raw: str) -> None:
    assert normalize_phone(raw, "US") == "+12025550143"


def test_national_number_uses_the_given_region() -> None:
    assert normalize_phone("030 1234567", "DE") == "+49301234567"


@pytest.mark.parametrize("raw", ["12", "not a number", "+1 555"])
def test_impossible_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput) as error:
        normalize_phone(raw, "US")
    assert error.value.field == "phone"


def test_email_domain_is_lowercased_local_part_kept() -> None:
    assert normalize_email("  Jane.Doe@Example.COM ") == "Jane.Doe@example.com"


def test_bad_email_is_refused() -> None:
    with pytest.raises(InvalidInput):
        normalize_email("jane@")


@pytest.mark.django_db
def test_create_customer_stores_normalised_contacts() -> None:
    customer = create_customer(name=" Jane ", email="jane@EXAMPLE.com", phone="(202) 555-0143")
    stored = Customer.objects.get(pk=customer.pk)
    assert (stored.name, stored.email, stored.phone) == ("Jane", "jane@example.com", "+12025550143")


@pytest.mark.django_db
def test_duplicate_external_id_is_refused_and_nothing_is_added() -> None:
    create_customer(name="A", external_id="crm-1")
    with pytest.raises(InvalidInput):
        create_customer(name="B", external_id="crm-1")
    assert Customer.objects.count() == 1


@pytest.mark.django_db
def test_bad_phone_creates_no_customer() -> None:
    with pytest.raises(InvalidInput):
        create_customer(name="A", phone="123")
    assert Customer.objects.count() == 0
