"""The customer 360: contacts, cases open first, the timeline across channels, survey answers
and transactions, cut to what the user may see."""

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from caseloop.cases import services
from caseloop.cases.models import Source
from caseloop.cases.tests.factories import close_as_resolved, make_case
from caseloop.conftest import Cast
from caseloop.customers.models import Channel, Direction, Transaction
from caseloop.customers.services import record_interaction
from caseloop.customers.tests.factories import make_customer

pytestmark = pytest.mark.django_db

Login = Callable[[str], Client]


def url(cast: Cast) -> str:
    return reverse("web:customer", args=[cast.case.customer_id])


def test_contacts_are_click_to_call_and_mail(login: Login, cast: Cast) -> None:
    html = login("owner").get(url(cast)).content.decode()
    customer = cast.case.customer
    assert f'href="tel:{customer.phone}"' in html
    assert f'href="mailto:{customer.email}"' in html


def test_open_cases_come_before_closed_ones(login: Login, cast: Cast, now: datetime) -> None:
    customer = cast.case.customer
    newer = make_case(program=cast.program, unit=cast.store, customer=customer, now=now)
    close_as_resolved(newer, actor=cast.owner, now=now + timedelta(minutes=5))
    response = login("owner").get(url(cast))
    assert [c.pk for c in response.context["cases"]] == [cast.case.pk, newer.pk]


def test_timeline_spans_every_channel(login: Login, cast: Cast, clock: datetime) -> None:
    customer = cast.case.customer
    record_interaction(
        customer=customer, channel=Channel.PHONE, direction=Direction.INBOUND, summary="Rang in"
    )
    services.add_note(cast.case, actor=cast.owner, body="Internal remark", now=clock)
    html = login("owner").get(url(cast)).content.decode()
    assert "Rang in" in html
    assert "Internal remark" in html
    assert cast.case.number in html


def test_survey_answers_and_transactions_are_shown(login: Login, cast: Cast, now: datetime) -> None:
    customer = cast.case.customer
    make_case(
        program=cast.program,
        unit=cast.store,
        customer=customer,
        now=now,
        source=Source.SURVEY,
        verbatim="The fitting room was filthy",
    )
    Transaction.objects.create(customer=customer, occurred_at=now, kind="stay", reference="B-42")
    html = login("owner").get(url(cast)).content.decode()
    assert "The fitting room was filthy" in html
    assert "B-42" in html


def test_outsider_gets_404(login: Login, cast: Cast) -> None:
    assert login("outsider").get(url(cast)).status_code == 404


def test_customer_without_a_visible_case_is_404(login: Login, cast: Cast) -> None:
    stranger = make_customer()
    response = login("owner").get(reverse("web:customer", args=[stranger.pk]))
    assert response.status_code == 404


def test_cases_and_entries_out_of_reach_are_left_out(
    login: Login, cast: Cast, now: datetime
) -> None:
    customer = cast.case.customer
    hidden = make_case(program=cast.program, unit=cast.other_store, customer=customer, now=now)
    record_interaction(
        customer=customer,
        channel=Channel.EMAIL,
        direction=Direction.INBOUND,
        summary="Secret of the other region",
        case_id=hidden.pk,
    )
    response = login("owner").get(url(cast))
    assert [c.pk for c in response.context["cases"]] == [cast.case.pk]
    assert "Secret of the other region" not in response.content.decode()


def test_customer_name_with_markup_is_shown_as_text(
    login: Login, cast: Cast, now: datetime
) -> None:
    customer = make_customer(name="<script>x()</script>")
    make_case(program=cast.program, unit=cast.store, customer=customer, now=now)
    html = login("owner").get(reverse("web:customer", args=[customer.pk])).content.decode()
    assert "<script>x()" not in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in html
