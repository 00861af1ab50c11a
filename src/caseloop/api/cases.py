"""Case endpoints: each parses the request, calls one query or service, and renders the case."""

from django.conf import settings
from django.utils import timezone
from ninja import File, Form, Query, Router, Status, UploadedFile

from caseloop.api.auth import AuthedRequest
from caseloop.api.errors import ErrorOut
from caseloop.api.pagination import decode_cursor, encode_cursor
from caseloop.api.queries import get_case_after_write, get_user_named_in_request
from caseloop.api.render import Data, case_detail, case_summary
from caseloop.api.schemas import (
    AssignIn,
    CaseCreateIn,
    CaseDetail,
    CasePage,
    CloseIn,
    ContactAttemptIn,
    Id,
    InboxQuery,
    NoteIn,
    ReopenIn,
    VersionIn,
    WatcherIn,
)
from caseloop.api.services import NewCustomer, open_case_from_api
from caseloop.cases import services
from caseloop.cases.queries import InboxFilters, get_case_for, inbox_page
from caseloop.errors import InvalidInput

router = Router(tags=["cases"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
DETAIL = {200: CaseDetail, **ERRORS}
CREATED = {201: CaseDetail, **ERRORS}


def _detail_after_write(case_id: int) -> Data:
    return case_detail(get_case_after_write(case_id), timezone.now())


@router.get("/cases", response={200: CasePage, **ERRORS}, summary="The inbox")
def list_cases(request: AuthedRequest, query: Query[InboxQuery]) -> Data:
    """Cases of one inbox tab, most urgent first, a page at a time. Follow ``next_cursor``
    until it is null to walk them all."""
    page_max = settings.CASELOOP_API_PAGE_SIZE_MAX
    if query.limit > page_max:
        raise InvalidInput(f"limit is at most {page_max}.", field="limit")
    filters = InboxFilters(
        tab=query.tab,
        status=query.status,
        program_id=query.program,
        case_type_id=query.case_type,
        unit_id=query.unit,
        due_after=query.due_after,
        due_before=query.due_before,
    )
    now = timezone.now()
    after = decode_cursor(query.cursor) if query.cursor else None
    # One row more than asked tells whether another page follows.
    rows = inbox_page(request.auth, filters, now, limit=query.limit + 1, after=after)
    items = rows[: query.limit]
    more = len(rows) > query.limit
    return {
        "items": [case_summary(case, now) for case in items],
        "next_cursor": encode_cursor(items[-1]) if more else None,
    }


@router.get("/cases/{case_id}", response=DETAIL, summary="One case with its whole history")
def get_case(request: AuthedRequest, case_id: Id) -> Data:
    """A case the caller may see; one they may not see answers 404, like a missing one."""
    return case_detail(get_case_for(request.auth, case_id), timezone.now())


@router.post("/cases", response={200: CaseDetail, **CREATED}, summary="Open a case")
def create_case(request: AuthedRequest, payload: CaseCreateIn) -> Status[Data]:
    """Open a case (201). Repeating a request with the same ``external_source`` and
    ``external_id`` returns the case the first request opened (200)."""
    customer = payload.customer
    opened = open_case_from_api(
        actor=request.auth,
        program_id=payload.program,
        case_type_id=payload.case_type,
        unit_id=payload.unit,
        customer=customer if isinstance(customer, int) else NewCustomer(**customer.model_dump()),
        subject=payload.subject,
        description=payload.description,
        priority=payload.priority,
        external_source=payload.external_source,
        external_id=payload.external_id,
    )
    case = get_case_for(request.auth, opened.case.pk)
    return Status(201 if opened.created else 200, case_detail(case, timezone.now()))


@router.post("/cases/{case_id}/notes", response=CREATED, summary="Write a note")
def add_note(request: AuthedRequest, case_id: Id, payload: NoteIn) -> Status[Data]:
    case = get_case_for(request.auth, case_id)
    services.add_note(
        case, actor=request.auth, body=payload.body, expected_version=payload.expected_version
    )
    return Status(201, _detail_after_write(case_id))


@router.post("/cases/{case_id}/attachments", response=CREATED, summary="Attach a file")
def attach_file(
    request: AuthedRequest,
    case_id: Id,
    file: File[UploadedFile],
    expected_version: Form[int | None] = None,
) -> Status[Data]:
    """Upload one file as ``multipart/form-data`` (field ``file``); type and size are checked."""
    case = get_case_for(request.auth, case_id)
    services.attach_file(case, actor=request.auth, upload=file, expected_version=expected_version)
    return Status(201, _detail_after_write(case_id))


@router.post("/cases/{case_id}/contact-attempts", response=CREATED, summary="Log a contact")
def log_contact_attempt(
    request: AuthedRequest, case_id: Id, payload: ContactAttemptIn
) -> Status[Data]:
    case = get_case_for(request.auth, case_id)
    services.log_contact_attempt(
        case,
        actor=request.auth,
        outcome=payload.outcome,
        channel=payload.channel,
        note=payload.note,
        expected_version=payload.expected_version,
    )
    return Status(201, _detail_after_write(case_id))


@router.post("/cases/{case_id}/tasks/{task_id}/complete", response=DETAIL, summary="Tick a task")
def complete_task(
    request: AuthedRequest, case_id: Id, task_id: Id, payload: VersionIn | None = None
) -> Data:
    case = get_case_for(request.auth, case_id)
    version = payload.expected_version if payload else None
    services.complete_task(case, actor=request.auth, task_id=task_id, expected_version=version)
    return _detail_after_write(case_id)


@router.post("/cases/{case_id}/tasks/{task_id}/undo", response=DETAIL, summary="Untick a task")
def undo_task(
    request: AuthedRequest, case_id: Id, task_id: Id, payload: VersionIn | None = None
) -> Data:
    case = get_case_for(request.auth, case_id)
    version = payload.expected_version if payload else None
    services.undo_task(case, actor=request.auth, task_id=task_id, expected_version=version)
    return _detail_after_write(case_id)


@router.post("/cases/{case_id}/assign", response=DETAIL, summary="Give the case to an owner")
def assign_case(request: AuthedRequest, case_id: Id, payload: AssignIn) -> Data:
    case = get_case_for(request.auth, case_id)
    services.assign_case(
        case,
        actor=request.auth,
        owner=get_user_named_in_request(payload.owner, "owner"),
        expected_version=payload.expected_version,
    )
    return _detail_after_write(case_id)


@router.post("/cases/{case_id}/watchers", response=DETAIL, summary="Add or change a watcher")
def add_watcher(request: AuthedRequest, case_id: Id, payload: WatcherIn) -> Data:
    case = get_case_for(request.auth, case_id)
    services.add_watcher(
        case,
        actor=request.auth,
        user=get_user_named_in_request(payload.user, "user"),
        access=payload.access,
        expected_version=payload.expected_version,
    )
    return _detail_after_write(case_id)


@router.delete("/cases/{case_id}/watchers/{user_id}", response=DETAIL, summary="Remove a watcher")
def remove_watcher(
    request: AuthedRequest, case_id: Id, user_id: Id, payload: VersionIn | None = None
) -> Data:
    case = get_case_for(request.auth, case_id)
    version = payload.expected_version if payload else None
    services.remove_watcher(
        case,
        actor=request.auth,
        user=get_user_named_in_request(user_id, "user"),
        expected_version=version,
    )
    return _detail_after_write(case_id)


@router.post("/cases/{case_id}/close", response=DETAIL, summary="Close the case")
def close_case(request: AuthedRequest, case_id: Id, payload: CloseIn) -> Data:
    case = get_case_for(request.auth, case_id)
    services.close_case(
        case,
        actor=request.auth,
        closing_status_id=payload.closing_status,
        root_cause_ids=payload.root_causes,
        final_note=payload.final_note,
        expected_version=payload.expected_version,
    )
    return _detail_after_write(case_id)


@router.post("/cases/{case_id}/reopen", response=DETAIL, summary="Reopen a closed case")
def reopen_case(request: AuthedRequest, case_id: Id, payload: ReopenIn) -> Data:
    case = get_case_for(request.auth, case_id)
    services.reopen_case(
        case, actor=request.auth, reason=payload.reason, expected_version=payload.expected_version
    )
    return _detail_after_write(case_id)
