"""Writes that belong to the API: personal tokens (create, revoke, note their use) and opening a
case together with a new customer in one transaction."""

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

from caseloop.api.models import ApiToken
from caseloop.cases.models import Case, Priority, Source
from caseloop.cases.services import open_case
from caseloop.customers.models import Customer
from caseloop.customers.services import create_customer
from caseloop.errors import Conflict, InvalidInput, NotFound
from caseloop.org.models import Unit, User
from caseloop.programs.models import CaseType, Program

M = TypeVar("M", bound=models.Model)

# Every raw token starts with this tag, so that secret scanners and people recognise it.
TOKEN_TAG = "cl"  # noqa: S105 - a public marker, not a secret
# Writing last_used_at on every request would turn every read into a write; a minute is
# precise enough to tell which tokens are still in use.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_NAME_MAX = ApiToken._meta.get_field("name").max_length


def hash_secret(secret: str) -> str:
    """The stored form of a token's secret. The secret is 256 random bits, so a fast hash is
    enough: there is nothing to guess that a slow hash would protect."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(raw: str) -> tuple[str, str] | None:
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_TAG or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def create_token(*, actor: User, name: str, now: datetime | None = None) -> tuple[ApiToken, str]:
    """Give ``actor`` a new personal token named ``name`` and return it with the raw token.

    The raw token (``cl_<prefix>_<secret>``) exists only in the return value: it is shown to the
    user once and cannot be recovered later, only revoked and replaced.
    """
    name = name.strip()
    if not name:
        raise InvalidInput("Give the token a name, e.g. the script that will use it.", field="name")
    if len(name) > _NAME_MAX:
        raise InvalidInput(f"A token name has at most {_NAME_MAX} characters.", field="name")
    at = now or timezone.now()
    secret = secrets.token_urlsafe(32)
    # A prefix collision is astronomically rare; retrying beats failing the request.
    for _attempt in range(3):
        prefix = secrets.token_hex(6)
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=actor,
                    name=name,
                    prefix=prefix,
                    key_hash=hash_secret(secret),
                    created_at=at,
                )
        except IntegrityError:
            continue
        return token, f"{TOKEN_TAG}_{prefix}_{secret}"
    raise RuntimeError("Could not draw a unique token prefix.")


@transaction.atomic
def revoke_token(*, actor: User, token_id: int, now: datetime | None = None) -> ApiToken:
    """Stop a token from working, at once and for good.

    Users revoke their own tokens; superusers may revoke anyone's. Anyone else's token does not
    exist for the actor (``NotFound``). Revoking a revoked token changes nothing.
    """
    token = ApiToken.objects.select_for_update().filter(pk=token_id).first()
    if token is None or not (actor.is_superuser or token.user_id == actor.pk):
        raise NotFound(f"Token {token_id} not found.")
    if token.revoked_at is None:
        token.revoked_at = now or timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def authenticate_token(raw: str, *, now: datetime | None = None) -> User | None:
    """The user a raw token acts for, or None when the token is malformed, unknown, wrong,
    revoked, or belongs to a deactivated user.

    Notes the time of use, at most once a minute per token, with a conditional update so that
    parallel requests write it once.
    """
    parsed = _split(raw.strip())
    if parsed is None:
        return None
    prefix, secret = parsed
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.key_hash, hash_secret(secret)):
        return None
    if token.revoked_at is not None or not token.user.is_active:
        return None
    at = now or timezone.now()
    stale = at - LAST_USED_RESOLUTION
    if token.last_used_at is None or token.last_used_at <= stale:
        ApiToken.objects.filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale), pk=token.pk
        ).update(last_used_at=at)
    return token.user


@dataclass(frozen=True)
class NewCustomer:
    """A customer to create together with the case, when the caller has no customer id."""

    name: str = ""
    email: str = ""
    phone: str = ""
    external_id: str | None = None


@dataclass(frozen=True)
class OpenedCase:
    case: Case
    created: bool


def _by_id(model: type[M], pk: int, field: str, **conditions: object) -> M:
    obj = model.objects.filter(pk=pk, **conditions).first()
    if obj is None:
        raise InvalidInput(f"There is no {field.replace('_', ' ')} {pk}.", field=field)
    return obj


def _existing_case(external_source: str, external_id: str) -> Case | None:
    if not external_id:
        return None
    return Case.objects.filter(external_source=external_source, external_id=external_id).first()


class _OpenedBefore(Exception):
    """Raised inside the savepoint to undo a customer created for a case that already existed."""

    def __init__(self, case: Case) -> None:
        self.case = case


@transaction.atomic
def open_case_from_api(
    *,
    actor: User,
    program_id: int,
    case_type_id: int,
    unit_id: int,
    customer: int | NewCustomer,
    subject: str,
    description: str = "",
    priority: str = Priority.NORMAL,
    external_source: str = "",
    external_id: str = "",
    now: datetime | None = None,
) -> OpenedCase:
    """Open a case from an API request, creating its customer in the same transaction.

    Either both the customer and the case exist afterwards or neither does. A repeated
    request with the same external reference returns the case the first one opened (and
    creates no second customer), with ``created`` false; requests racing each other with the
    same reference also end with one case and one new customer.
    """
    program = _by_id(Program, program_id, "program")
    case_type = _by_id(CaseType, case_type_id, "case_type", program=program)
    unit = _by_id(Unit, unit_id, "unit")
    existing = _existing_case(external_source, external_id)
    open_for = partial(
        open_case,
        actor=actor,
        program=program,
        case_type=case_type,
        unit=unit,
        subject=subject,
        description=description,
        priority=priority,
        source=Source.API,
        external_source=external_source,
        external_id=external_id,
        now=now,
    )
    if existing is not None:
        # Through the service all the same, so that the caller's right to open cases in the
        # unit is checked on a repeat too.
        return OpenedCase(open_for(customer=existing.customer), created=False)
    try:
        # A savepoint: losing a race on the unique external reference is answered with the
        # winner's case, and undoes the customer this request created.
        with transaction.atomic():
            if isinstance(customer, NewCustomer):
                new_customer = create_customer(**asdict(customer))
                case = open_for(customer=new_customer)
                if case.customer_id != new_customer.pk:
                    raise _OpenedBefore(case)
            else:
                case_customer = _by_id(Customer, customer, "customer")
                case = open_for(customer=case_customer)
    except _OpenedBefore as opened:
        return OpenedCase(case=opened.case, created=False)
    except IntegrityError:
        winner = _existing_case(external_source, external_id)
        if winner is None:
            raise Conflict(
                "The same record was created by another request at this moment; try again."
            ) from None
        return OpenedCase(case=winner, created=False)
    return OpenedCase(case=case, created=True)
