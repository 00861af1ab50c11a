"""Respondents are matched to customers by customer number, email, then phone; new ones are
created once; alerts without contact details still open a case, flagged for it."""

from datetime import datetime

import pytest

from caseloop.cases.models import Case
from caseloop.customers.models import Customer
from caseloop.customers.tests.factories import make_customer
from caseloop.intake.models import SurveyResponse
from caseloop.intake.services import ingest_responses
from caseloop.intake.tests.conftest import Survey
from caseloop.intake.tests.factories import records, response_data

pytestmark = pytest.mark.django_db


def take_in(survey: Survey, now: datetime, *respondents: dict[str, str], **answers: object) -> None:
    items = [
        response_data(survey.store.code, respondent=r, answers=answers or {"q_overall": 9})
        for r in respondents
    ]
    ingest_responses(survey.program, records(*items), actor=None, now=now)


def customer_of_last_response() -> Customer | None:
    return SurveyResponse.objects.order_by("pk").last().customer  # type: ignore[union-attr]


def test_respondent_is_matched_by_customer_number(survey: Survey, now: datetime) -> None:
    known = make_customer(external_id="C-100", email="old@example.test")
    take_in(survey, now, {"external_id": "C-100", "email": "new@example.test"})
    assert customer_of_last_response() == known
    assert Customer.objects.count() == 1


def test_respondent_is_matched_by_email_ignoring_case(survey: Survey, now: datetime) -> None:
    known = make_customer(email="Anna.Berg@Example.test")
    take_in(survey, now, {"email": "anna.berg@EXAMPLE.TEST"})
    assert customer_of_last_response() == known


def test_respondent_is_matched_by_phone_written_another_way(survey: Survey, now: datetime) -> None:
    known = make_customer(email="", phone="+1 202 555 0143")
    take_in(survey, now, {"phone": "(202) 555-0143"})
    assert customer_of_last_response() == known


def test_customer_number_wins_over_email(survey: Survey, now: datetime) -> None:
    by_number = make_customer(external_id="C-1", email="one@example.test")
    make_customer(email="two@example.test")
    take_in(survey, now, {"external_id": "C-1", "email": "two@example.test"})
    assert customer_of_last_response() == by_number


def test_of_two_customers_with_one_email_the_oldest_is_taken(survey: Survey, now: datetime) -> None:
    oldest = make_customer(email="shared@example.test")
    make_customer(email="shared@example.test")
    take_in(survey, now, {"email": "shared@example.test"})
    assert customer_of_last_response() == oldest


def test_of_two_customers_with_one_phone_the_oldest_is_taken_even_if_the_other_is_in_the_batch(
    survey: Survey, now: datetime
) -> None:
    oldest = make_customer(email="", phone="+12025550143")
    by_number = make_customer(external_id="C-7", email="", phone="+12025550143")
    take_in(survey, now, {"external_id": "C-7"}, {"phone": "+12025550143"})
    first, second = SurveyResponse.objects.order_by("pk")
    assert (first.customer, second.customer) == (by_number, oldest)


def test_of_two_customers_with_one_email_the_oldest_is_taken_even_if_the_other_is_in_the_batch(
    survey: Survey, now: datetime
) -> None:
    oldest = make_customer(email="shared@example.test")
    by_number = make_customer(external_id="C-8", email="shared@example.test")
    take_in(survey, now, {"external_id": "C-8"}, {"email": "SHARED@example.test"})
    first, second = SurveyResponse.objects.order_by("pk")
    assert (first.customer, second.customer) == (by_number, oldest)


def test_new_respondent_becomes_a_customer_with_the_details_given(
    survey: Survey, now: datetime
) -> None:
    take_in(
        survey,
        now,
        {
            "external_id": "C-9",
            "email": "nina@example.test",
            "phone": "202-555-0199",
            "name": "Nina",
        },
    )
    customer = customer_of_last_response()
    assert customer is not None
    assert (customer.external_id, customer.email, customer.phone, customer.name) == (
        "C-9",
        "nina@example.test",
        "+12025550199",
        "Nina",
    )


def test_the_same_new_respondent_twice_in_a_batch_is_one_customer(
    survey: Survey, now: datetime
) -> None:
    take_in(survey, now, {"email": "nina@example.test"}, {"email": "NINA@example.test"})
    assert Customer.objects.count() == 1
    assert SurveyResponse.objects.filter(customer__isnull=False).count() == 2


def test_a_later_row_matches_a_customer_created_earlier_in_the_batch_by_phone(
    survey: Survey, now: datetime
) -> None:
    take_in(
        survey,
        now,
        {"external_id": "C-1", "phone": "+12025550101"},
        {"external_id": "C-2", "phone": "202 555 0101"},
    )
    assert Customer.objects.count() == 1


def test_a_matched_customer_without_email_gets_the_one_given(survey: Survey, now: datetime) -> None:
    known = make_customer(external_id="C-5", email="", phone="")
    take_in(survey, now, {"external_id": "C-5", "email": "found@example.test"})
    known.refresh_from_db()
    assert known.email == "found@example.test"


def test_a_matched_customer_keeps_the_email_it_had(survey: Survey, now: datetime) -> None:
    known = make_customer(external_id="C-5", email="kept@example.test")
    take_in(survey, now, {"external_id": "C-5", "email": "other@example.test"})
    known.refresh_from_db()
    assert known.email == "kept@example.test"


def test_an_anonymous_response_without_alert_creates_no_customer(
    survey: Survey, now: datetime
) -> None:
    take_in(survey, now, {})
    assert customer_of_last_response() is None
    assert Customer.objects.count() == 0


def test_an_anonymous_alert_still_opens_a_case_flagged_for_contact_details(
    survey: Survey, now: datetime
) -> None:
    take_in(survey, now, {"name": "Someone"}, concern=True)
    case = Case.objects.get()
    assert case.needs_contact_info is True
    assert (case.customer.name, case.customer.email, case.customer.phone) == ("Someone", "", "")


def test_an_alert_of_a_customer_known_only_by_number_is_flagged_for_contact_details(
    survey: Survey, now: datetime
) -> None:
    take_in(survey, now, {"external_id": "C-77"}, concern=True)
    assert Case.objects.get().needs_contact_info is True


def test_an_alert_of_a_customer_with_an_email_is_not_flagged(survey: Survey, now: datetime) -> None:
    take_in(survey, now, {"email": "reach@example.test"}, concern=True)
    assert Case.objects.get().needs_contact_info is False


def test_a_later_row_matches_by_the_email_an_earlier_row_gave_a_stored_customer(
    survey: Survey, now: datetime
) -> None:
    known = make_customer(external_id="C-6", email="", phone="")
    take_in(
        survey,
        now,
        {"external_id": "C-6", "email": "given@example.test"},
        {"email": "given@example.test"},
    )
    assert Customer.objects.count() == 1
    assert set(SurveyResponse.objects.values_list("customer_id", flat=True)) == {known.pk}


def test_contact_details_two_rows_give_one_stored_customer_are_both_kept(
    survey: Survey, now: datetime
) -> None:
    known = make_customer(external_id="C-7", email="", phone="+12025550199")
    # Found by number in the first row and by phone in the second: one customer, both fills.
    take_in(
        survey,
        now,
        {"external_id": "C-7", "email": "seven@example.test"},
        {"phone": "+12025550199", "email": "other@example.test"},
    )
    known.refresh_from_db()
    assert (known.email, known.phone) == ("seven@example.test", "+12025550199")
    assert Customer.objects.count() == 1
