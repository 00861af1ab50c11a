"""Finding the customer behind each respondent of a batch with a few set-based queries.

A respondent is the customer with the same customer number (external id); failing that, the
customer with the same email address (ignoring case); failing that, the one with the same phone
number (both in E.164). When several customers share an address, the oldest is taken. A
respondent who matches nobody becomes a new customer with the details given. A match keeps its
details, except that an empty email or phone is filled from the response, so that a case is not
marked as lacking contact details the customer has just given us.

Within a batch the respondents are taken in order, exactly as one-by-one intake would take them:
a new customer created for row 3 is the match of row 9 when they share an address.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import connection

from caseloop.bulkrows import Table, select_in
from caseloop.customers.models import Customer
from caseloop.intake.records import Respondent

_FIELDS = ("id", "external_id", "email", "phone")


@dataclass(eq=False, slots=True)
class CustomerRef:
    """A customer as the batch sees it: stored already (``pk`` set) or to be created."""

    pk: int | None
    external_id: str | None
    email: str
    phone: str
    name: str = ""

    @property
    def has_contact(self) -> bool:
        return bool(self.email or self.phone)


@dataclass
class CustomerPlan:
    """Who each respondent is: existing customers, new ones to insert, and existing ones whose
    empty contact fields get filled."""

    by_key: dict[int, CustomerRef] = field(default_factory=dict)
    new: list[CustomerRef] = field(default_factory=list)
    filled: dict[int, CustomerRef] = field(default_factory=dict)


class _Directory:
    """Customers by each of their keys, as the batch sees them so far."""

    def __init__(self) -> None:
        self.by_external_id: dict[str, CustomerRef] = {}
        self.by_email: dict[str, CustomerRef] = {}
        self.by_phone: dict[str, CustomerRef] = {}
        self.loaded: dict[object, CustomerRef] = {}

    def add(self, customer: CustomerRef) -> None:
        # Under each key the oldest customer: a stored one before one created in the batch,
        # and of two stored ones the lower id, whatever order the lookups found them in.
        for table, key in (
            (self.by_external_id, customer.external_id),
            (self.by_email, customer.email.lower()),
            (self.by_phone, customer.phone),
        ):
            if key:
                current = table.get(key)
                if current is None or (
                    customer.pk is not None and (current.pk is None or customer.pk < current.pk)
                ):
                    table[key] = customer

    def find(self, respondent: Respondent) -> CustomerRef | None:
        return (
            (respondent.external_id and self.by_external_id.get(respondent.external_id))
            or (respondent.email and self.by_email.get(respondent.email.lower()))
            or (respondent.phone and self.by_phone.get(respondent.phone))
            or None
        )


def _add_rows(directory: _Directory, rows: Iterable[tuple[object, ...]]) -> None:
    loaded = directory.loaded
    for pk, external_id, email, phone in rows:
        # A customer found by number and again by email is one customer, added once.
        if pk not in loaded:
            customer = loaded[pk] = CustomerRef(pk, external_id, email, phone)  # type: ignore[arg-type]
            directory.add(customer)


def _load(directory: _Directory, respondents: Sequence[Respondent]) -> None:
    """Three indexed queries: by external id, then by email (through the index on its lower
    case) for those whose number matched nobody, and by phone for those whose email did not
    either. Every customer with an email or phone asked for is loaded, not only the first
    found: a customer loaded by number may share a phone with an older one, which is the
    match of a respondent known only by that phone."""
    external_ids = {r.external_id for r in respondents if r.external_id}
    _add_rows(directory, select_in(Customer, _FIELDS, "external_id", external_ids))
    rest = [r for r in respondents if r.external_id not in directory.by_external_id]
    emails = {r.email.lower() for r in rest if r.email}
    _add_rows(directory, select_in(Customer, _FIELDS, "email", emails, lower=True))
    rest = [r for r in rest if not r.email or r.email.lower() not in directory.by_email]
    phones = {r.phone for r in rest if r.phone}
    _add_rows(directory, select_in(Customer, _FIELDS, "phone", phones))


def plan_customers(
    respondents: Iterable[tuple[int, Respondent]],
    *,
    anonymous: Iterable[tuple[int, Respondent]] = (),
) -> CustomerPlan:
    """Match every identified respondent (by key) and plan the customers to create.

    ``anonymous`` holds respondents who cannot be recognised but still need a customer (their
    response raised a case): each becomes a customer of their own, with the name if given.
    """
    respondents = list(respondents)
    directory = _Directory()
    _load(directory, [r for _, r in respondents])
    plan = CustomerPlan()
    for key, respondent in respondents:
        customer = directory.find(respondent)
        if customer is None:
            customer = CustomerRef(
                None,
                respondent.external_id or None,
                respondent.email,
                respondent.phone,
                respondent.name,
            )
            plan.new.append(customer)
        elif _fill_contact(customer, respondent) and customer.pk is not None:
            plan.filled[customer.pk] = customer
        elif customer.pk is not None:
            # A stored customer who gained nothing is already under all of their keys.
            plan.by_key[key] = customer
            continue
        directory.add(customer)
        plan.by_key[key] = customer
    for key, respondent in anonymous:
        customer = CustomerRef(None, None, "", "", respondent.name)
        plan.new.append(customer)
        plan.by_key[key] = customer
    return plan


def _fill_contact(customer: CustomerRef, respondent: Respondent) -> bool:
    changed = False
    if not customer.email and respondent.email:
        customer.email = respondent.email
        changed = True
    if not customer.phone and respondent.phone:
        customer.phone = respondent.phone
        changed = True
    return changed


def save_customer_plan_unsafe_outside_transaction(plan: CustomerPlan) -> None:
    """Insert the new customers (their ids land on the planned refs) and fill contacts."""
    table = Table(Customer, ("external_id", "name", "email", "phone", "attributes"))
    ids = table.insert_returning_ids(
        [(c.external_id, c.name, c.email, c.phone, {}) for c in plan.new]
    )
    for customer, pk in zip(plan.new, ids, strict=True):
        customer.pk = pk
    if plan.filled:
        # Only empty fields are filled, in the statement itself, so a value written meanwhile
        # by someone else is never overwritten.
        quote = connection.ops.quote_name
        table_name = quote(Customer._meta.db_table)
        fill = [
            f"{quote(c)} = CASE WHEN {quote(c)} = '' THEN %s ELSE {quote(c)} END"
            for c in ("email", "phone")
        ]
        # Only quoted model metadata and placeholders are formatted in; values are bound.
        sql = f"UPDATE {table_name} SET {', '.join(fill)} WHERE {quote('id')} = %s"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.executemany(sql, [(c.email, c.phone, pk) for pk, c in plan.filled.items()])
