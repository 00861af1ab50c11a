"""Every write to customers, their transactions and their timeline."""

from datetime import datetime

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from caseloop.customers.models import Channel, Customer, Direction, Interaction
from caseloop.errors import InvalidInput
from caseloop.org.models import User


def normalize_phone(raw: str, region: str | None = None) -> str:
    """Return ``raw`` as E.164, or raise ``InvalidInput`` for a number that cannot exist.

    ``phonenumbers.parse`` accepts short and impossible numbers, so validity is checked apart.
    """
    raw = (raw or "").strip()
    if not raw:
        return ""
    try:
        number = phonenumbers.parse(raw, region or settings.CASELOOP_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        raise InvalidInput(f"{raw!r} is not a phone number.", field="phone") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"{raw!r} is not a valid phone number.", field="phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    """Return ``raw`` trimmed with its domain lower-cased, or raise ``InvalidInput``."""
    raw = (raw or "").strip()
    if not raw:
        return ""
    try:
        validate_email(raw)
    except ValidationError:
        raise InvalidInput(f"{raw!r} is not an email address.", field="email") from None
    local, _, domain = raw.rpartition("@")
    return f"{local}@{domain.lower()}"


@transaction.atomic
def create_customer(
    *,
    name: str = "",
    email: str = "",
    phone: str = "",
    external_id: str | None = None,
    attributes: dict[str, object] | None = None,
    region: str | None = None,
) -> Customer:
    """Record a new customer with contact details normalised; an external id is unique."""
    external_id = (external_id or "").strip() or None
    if external_id and Customer.objects.filter(external_id=external_id).exists():
        raise InvalidInput(
            f"A customer with external id {external_id!r} already exists.", field="external_id"
        )
    return Customer.objects.create(
        name=name.strip(),
        email=normalize_email(email),
        phone=normalize_phone(phone, region),
        external_id=external_id,
        attributes=attributes or {},
    )


def record_interaction(
    *,
    customer: Customer,
    channel: Channel | str,
    direction: Direction | str,
    summary: str = "",
    agent: User | None = None,
    case_id: int | None = None,
    occurred_at: datetime | None = None,
) -> Interaction:
    """Append one contact to the customer's timeline (inside the caller's transaction)."""
    return Interaction.objects.create(
        customer=customer,
        case_id=case_id,
        channel=channel,
        direction=direction,
        summary=summary,
        agent=agent,
        occurred_at=occurred_at or timezone.now(),
    )
