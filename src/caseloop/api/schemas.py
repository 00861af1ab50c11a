"""What the API accepts and returns. Schemas only parse and describe; rules live in services."""

from datetime import datetime
from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import AfterValidator, AwareDatetime, ConfigDict, Discriminator, Tag

from caseloop.cases.models import ContactOutcome, DisplayStatus, Priority, WatcherAccess
from caseloop.cases.queries import InboxTab


def _no_nul(text: str) -> str:
    # PostgreSQL refuses NUL in text columns; catching it here keeps it a 422, not a 500.
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    return text


# Database ids are signed 64-bit; a larger number would overflow in the query, not miss.
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
Text = Annotated[str, AfterValidator(_no_nul)]


class In(Schema):
    """Base of request bodies: an unknown field is an error, so a misspelt
    ``expected_version`` cannot silently skip the stale-write check."""

    model_config = ConfigDict(extra="forbid")


# ---- requests ---------------------------------------------------------------------------------


class InboxQuery(Schema):
    tab: InboxTab = InboxTab.MINE
    status: DisplayStatus | None = None
    program: Id | None = None
    case_type: Id | None = None
    unit: Id | None = Field(None, description="This unit and every unit below it.")
    due_after: AwareDatetime | None = Field(None, description="Resolve deadline at or after.")
    due_before: AwareDatetime | None = Field(None, description="Resolve deadline before.")
    cursor: Text | None = Field(None, description="next_cursor of the previous page.")
    limit: int = Field(50, ge=1, description="Page size, at most CASELOOP_API_PAGE_SIZE_MAX.")


class NewCustomerIn(In):
    name: Text = Field("", max_length=200)
    email: Text = Field("", max_length=254)
    phone: Text = Field("", max_length=40)
    external_id: Text | None = Field(None, max_length=128)


def _customer_kind(value: object) -> str:
    return "new_customer" if isinstance(value, dict | NewCustomerIn) else "customer"


# Tagged, so that a bad value is reported against the one form it was meant as, not both.
CustomerRef = Annotated[
    Annotated[Id, Tag("customer")] | Annotated[NewCustomerIn, Tag("new_customer")],
    Discriminator(_customer_kind),
]


class CaseCreateIn(In):
    program: Id
    case_type: Id
    unit: Id
    customer: CustomerRef = Field(
        description="An existing customer's id, or a new customer's details."
    )
    subject: Text = Field(max_length=300)
    description: Text = ""
    priority: Priority = Priority.NORMAL
    external_source: Text = Field("", max_length=64)
    external_id: Text = Field(
        "",
        max_length=128,
        description="With external_source, makes creation idempotent: the same reference "
        "returns the case it created the first time.",
    )


class VersionIn(In):
    expected_version: int | None = Field(
        None, description="The version you last read; a newer one on the server is a 409."
    )


class NoteIn(VersionIn):
    body: Text


class ContactAttemptIn(VersionIn):
    outcome: ContactOutcome
    channel: Text = "phone"
    note: Text = ""


class AssignIn(VersionIn):
    owner: Id


class WatcherIn(VersionIn):
    user: Id
    access: WatcherAccess = WatcherAccess.LIMITED


class CloseIn(VersionIn):
    closing_status: Id
    root_causes: list[Id] = Field(default_factory=list, max_length=100)
    final_note: Text


class ReopenIn(VersionIn):
    reason: Text


class TokenIn(In):
    name: Text = Field(max_length=100)


# ---- responses --------------------------------------------------------------------------------


class Ref(Schema):
    id: int
    name: str


class UserRef(Schema):
    id: int
    username: str
    name: str


class CustomerOut(Schema):
    id: int
    name: str
    email: str
    phone: str


class CaseSummary(Schema):
    id: int
    number: str
    subject: str
    status: str
    display_status: str
    priority: str
    program: Ref
    case_type: Ref
    unit: Ref
    customer: Ref
    owner: UserRef | None
    created_at: datetime
    start_due_at: datetime | None
    resolve_due_at: datetime | None
    was_overdue: bool
    version: int


class CasePage(Schema):
    items: list[CaseSummary]
    next_cursor: str | None


class WatcherOut(Schema):
    user: UserRef
    access: str
    added_at: datetime


class ClosingStatusOut(Schema):
    id: int
    code: str
    name: str
    is_resolved: bool


class RootCauseOut(Schema):
    id: int
    code: str
    name: str


class TaskOut(Schema):
    id: int
    position: int
    title: str
    done_at: datetime | None
    done_by: UserRef | None


class NoteOut(Schema):
    id: int
    author: UserRef | None
    body: str
    created_at: datetime


class ContactAttemptOut(Schema):
    id: int
    actor: UserRef | None
    channel: str
    outcome: str
    note: str
    attempted_at: datetime


class AttachmentOut(Schema):
    id: int
    original_name: str
    content_type: str
    size: int
    uploaded_by: UserRef | None
    created_at: datetime


class EventOut(Schema):
    id: int
    kind: str
    actor: UserRef | None
    data: dict[str, Any]
    created_at: datetime


class CaseDetail(Schema):
    id: int
    number: str
    subject: str
    description: str
    status: str
    display_status: str
    priority: str
    source: str
    external_source: str
    external_id: str
    program: Ref
    case_type: Ref
    unit: Ref
    customer: CustomerOut
    owner: UserRef | None
    watchers: list[WatcherOut]
    created_at: datetime
    start_due_at: datetime | None
    resolve_due_at: datetime | None
    first_activity_at: datetime | None
    closed_at: datetime | None
    was_overdue: bool
    reopen_count: int
    closing_status: ClosingStatusOut | None
    root_causes: list[RootCauseOut]
    final_note: str
    alert_reason: dict[str, Any]
    verbatim: str
    needs_contact_info: bool
    version: int
    tasks: list[TaskOut]
    notes: list[NoteOut]
    contact_attempts: list[ContactAttemptOut]
    attachments: list[AttachmentOut]
    events: list[EventOut]


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewTokenOut(TokenOut):
    token: str = Field(description="The raw token. It is shown only this once; store it now.")
