"""Reads about customers shared by the web app and the API: the customer 360 and search.

A user sees a customer when they may see at least one of the customer's cases (superusers see
everyone). What is shown about a visible customer is cut to the same rule: their cases the user
may see, and timeline entries that belong to no case or to a case the user may see.
"""

from dataclasses import dataclass, field

from django.db.models import Case as Choose
from django.db.models import (
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Lower

from caseloop.cases.models import OPEN_STATUSES, Case, Source, parse_case_number
from caseloop.cases.queries import visible_cases
from caseloop.customers.models import Customer, Interaction, Transaction
from caseloop.customers.services import normalize_phone
from caseloop.errors import InvalidInput, NotFound
from caseloop.org.models import User


def visible_customers(user: User) -> QuerySet[Customer]:
    """Customers with at least one case ``user`` may see; every customer for a superuser."""
    if user.is_superuser:
        return Customer.objects.all()
    if not user.is_active:
        return Customer.objects.none()
    return Customer.objects.filter(Exists(visible_cases(user).filter(customer_id=OuterRef("pk"))))


def get_customer_for(user: User, customer_id: int) -> Customer:
    """The customer with ``customer_id`` if ``user`` may see them.

    Missing and invisible look the same (``NotFound``) so that ids cannot be probed.
    """
    customer = visible_customers(user).filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(f"Customer {customer_id} not found.")
    return customer


def list_customer_cases(user: User, customer: Customer, limit: int = 100) -> list[Case]:
    """The customer's cases that ``user`` may see: open ones first, then the newest."""
    open_first = Choose(When(status__in=OPEN_STATUSES, then=Value(0)), default=Value(1))
    return list(
        visible_cases(user)
        .filter(customer=customer)
        .select_related("case_type", "owner", "unit", "closing_status")
        .annotate(closed_rank=open_first)
        .order_by("closed_rank", "-created_at", "-id")[:limit]
    )


def list_customer_interactions(
    user: User, customer: Customer, limit: int = 200
) -> list[Interaction]:
    """The customer's timeline across every channel, newest first, without entries of cases
    ``user`` may not see."""
    interactions = Interaction.objects.filter(customer=customer)
    if not user.is_superuser:
        interactions = interactions.filter(
            Q(case__isnull=True) | Q(case_id__in=visible_cases(user).values("pk"))
        )
    return list(interactions.select_related("agent").order_by("-occurred_at", "-id")[:limit])


def list_survey_alerts(user: User, customer: Customer, limit: int = 50) -> list[Case]:
    """Cases opened from the customer's survey answers, newest first: the answer's verbatim and
    the alert rule that fired are what the customer told us."""
    return list(
        visible_cases(user)
        .filter(customer=customer, source=Source.SURVEY)
        .order_by("-created_at", "-id")[:limit]
    )


def list_customer_transactions(customer: Customer, limit: int = 50) -> list[Transaction]:
    """What the customer did with us, newest first."""
    return list(customer.transactions.select_related("unit").order_by("-occurred_at")[:limit])


@dataclass
class SearchResults:
    """What a search found: cases by number, customers by name, email or phone."""

    text: str
    cases: list[Case] = field(default_factory=list)
    customers: list[Customer] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.cases and not self.customers


def _customer_condition(text: str) -> Q | None:
    """The one way ``text`` can name customers: an email address, a phone number in any
    format, or the start of a name or of one of its words."""
    lowered = text.lower()
    if "@" in text:
        return Q(email_lower=lowered)
    try:
        phone = normalize_phone(text)
    except InvalidInput:
        phone = ""
    if phone:
        return Q(phone=phone)
    if len(lowered) < 2:
        return None
    # A prefix of the name (served by the lower(name) index) or of any word in it.
    return Q(name_lower__startswith=lowered) | Q(name_lower__contains=f" {lowered}")


def search(user: User, text: str, limit: int = 25) -> SearchResults:
    """Find what ``user`` may see by case number (``CL-000123``, ``123``), customer email, phone
    (written any way: normalised to E.164 first) or name. Never more than ``limit`` of each."""
    text = " ".join(text.split())
    results = SearchResults(text=text)
    if not text:
        return results
    case_id = parse_case_number(text)
    if case_id is not None:
        results.cases = list(
            visible_cases(user).filter(pk=case_id).select_related("customer", "case_type")
        )
    condition = _customer_condition(text)
    if condition is not None:
        results.customers = list(
            visible_customers(user)
            .annotate(email_lower=Lower("email"), name_lower=Lower("name"))
            .filter(condition)
            .annotate(open_cases=_count_open_cases(user))
            .order_by("name", "id")[:limit]
        )
    return results


def _count_open_cases(user: User) -> Coalesce:
    """How many of a customer's cases ``user`` may see are open, as a correlated subquery."""
    per_customer = (
        visible_cases(user)
        .filter(customer_id=OuterRef("pk"), status__in=OPEN_STATUSES)
        .order_by()
        .values("customer_id")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    return Coalesce(Subquery(per_customer, output_field=IntegerField()), Value(0))
