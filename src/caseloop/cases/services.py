"""Every change to a case. Web views, the API, the CLI and background tasks call these.

Each service runs in one transaction: it locks the case, checks the actor's right (``NotFound``
when they may not see it, ``Forbidden`` when they may only read), refuses an illegal transition
or a stale ``expected_version`` (``Conflict``), applies the change, and appends an event to the
case's history. The first activity on a New case moves it to In Progress and records when.
"""

import mimetypes
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import PurePath

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from caseloop.cases.models import (
    Case,
    CaseAttachment,
    CaseEvent,
    CaseNote,
    CaseTask,
    CaseWatcher,
    ContactAttempt,
    ContactOutcome,
    EventKind,
    Priority,
    Source,
    Status,
    WatcherAccess,
)
from caseloop.cases.queries import Access, access_of
from caseloop.customers.models import Channel, Customer, Direction, Transaction
from caseloop.customers.services import record_interaction
from caseloop.errors import Conflict, Forbidden, IllegalTransition, InvalidInput, NotFound
from caseloop.notify.services import notify_case_event
from caseloop.org.models import Role, Unit, User
from caseloop.org.queries import designated_owner, manager_chain, roles_on
from caseloop.programs.models import CaseType, ClosingStatus, Program, RootCause
from caseloop.routing.services import Assignment, choose_owner
from caseloop.sla.deadlines import deadlines_for
from caseloop.sla.services import initial_next_deadline

JsonDict = dict[str, object]


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


def _record(
    case: Case, kind: EventKind, actor: User | None, at: datetime, **data: object
) -> CaseEvent:
    event = CaseEvent.objects.create(case=case, kind=kind, actor=actor, data=data, created_at=at)
    # Same transaction: the notifications exist exactly when the change does.
    notify_case_event(event)
    return event


def _lock_for_write(case: Case, actor: User | None, expected_version: int | None) -> Case:
    """Re-read the case under a row lock and check the actor's right and the version.

    On PostgreSQL ``select_for_update`` holds the row; on SQLite the IMMEDIATE transaction
    already holds the database's write lock, so the version read here cannot change under us.
    """
    locked = (
        Case.objects.select_for_update()
        .select_related("program", "unit", "customer")
        .filter(pk=case.pk)
        .first()
    )
    if locked is None:
        raise NotFound(f"Case {case.pk} not found.")
    access = access_of(actor, locked)
    if access == Access.NONE:
        raise NotFound(f"Case {case.pk} not found.")
    if access < Access.WRITE:
        raise Forbidden("You may read this case but not change it.")
    if expected_version is not None and locked.version != expected_version:
        raise Conflict(
            f"{locked.number} was changed by someone else (version {locked.version}, "
            f"you had {expected_version}); reload it and try again."
        )
    return locked


def _require_open(case: Case, action: str) -> None:
    if case.status == Status.CLOSED:
        raise IllegalTransition(f"{case.number} is closed; reopen it before you {action}.")


def _save(case: Case, at: datetime, fields: Sequence[str] = ()) -> None:
    case.version += 1
    case.save(update_fields=[*fields, "version", "updated_at"])


def _start_if_new(case: Case, actor: User | None, at: datetime) -> list[str]:
    """First activity on a New case: it becomes In Progress, and we remember when. Work done
    by the system itself (an emailed attachment, an import) is not a first activity."""
    if actor is None or case.status != Status.NEW:
        return []
    case.status = Status.IN_PROGRESS
    case.first_activity_at = at
    _record(case, EventKind.STARTED, actor, at)
    return ["status", "first_activity_at"]


def initial_watchers(
    owner_id: int | None, managers: Sequence[User], covers: Sequence[User]
) -> list[tuple[int, WatcherAccess]]:
    """Who watches a new case, as (user id, access): the nearest manager of the unit with full
    access, the managers above read only, covers of away team members with full access (a
    cover wins over a manager's read-only access), never the owner. Shared with the bulk
    intake, which opens thousands of cases with it."""
    access_by_user: dict[int, WatcherAccess] = {}
    for index, manager in enumerate(managers):
        access = WatcherAccess.FULL if index == 0 else WatcherAccess.LIMITED
        access_by_user.setdefault(manager.pk, access)
    for cover in covers:
        access_by_user[cover.pk] = WatcherAccess.FULL
    return [(user_id, access) for user_id, access in access_by_user.items() if user_id != owner_id]


def assignment_context(
    unit: Unit,
    case_type: CaseType,
    priority: Priority | str,
    source: Source | str,
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """What the conditions of assignment rules see about a new case: its unit's code and kind,
    case type, priority and source, and whatever the channel adds (``extra``). Shared with the
    bulk intake, so that a rule routes an imported alert as it routes one opened alone."""
    return {
        "unit": unit.code,
        "unit_kind": unit.kind,
        "case_type": case_type.code,
        "priority": str(priority),
        "source": str(source),
        **(extra or {}),
    }


def _check_can_open_in(actor: User | None, unit: Unit) -> None:
    if actor is None or actor.is_superuser:
        return
    roles = roles_on(actor, unit) - {Role.VIEWER}
    if not roles:
        raise Forbidden(f"You may not open cases for {unit}.")


@transaction.atomic
def open_case(
    *,
    actor: User | None,
    program: Program,
    case_type: CaseType,
    customer: Customer,
    unit: Unit,
    subject: str,
    description: str = "",
    priority: Priority | str = Priority.NORMAL,
    source: Source | str = Source.MANUAL,
    owner: User | None = None,
    transaction_record: Transaction | None = None,
    external_source: str = "",
    external_id: str = "",
    alert_reason: JsonDict | None = None,
    verbatim: str = "",
    routing_context: Mapping[str, object] | None = None,
    now: datetime | None = None,
) -> Case:
    """Open a case and put it in front of the right people.

    The owner is the one given, else the one the program's assignment rules choose (their
    conditions see the unit, case type, priority, source and ``routing_context``), else the
    unit's designated owner. The unit's manager chain watches it: the nearest manager with full
    access, those above read only; covers of away team members watch with full access.
    Deadlines come from the program, in the unit's business calendar. The same external reference
    (source + id) delivered twice returns the first case instead of opening a second one.
    ``actor`` is None when the system itself opens the case (survey alert, email, call).
    """
    at = _now(now)
    _check_can_open_in(actor, unit)
    if external_id:
        # The exclude lets SQLite use the partial unique index instead of scanning every case.
        existing = (
            Case.objects.filter(external_source=external_source, external_id=external_id)
            .exclude(external_id="")
            .first()
        )
        if existing is not None:
            return existing
    if case_type.program_id != program.pk:
        raise InvalidInput(f"Case type {case_type} is not part of {program}.", field="case_type")
    if not program.is_active or not case_type.is_active:
        raise InvalidInput(f"{program} / {case_type} is not accepting new cases.")
    subject = subject.strip()
    if not subject:
        raise InvalidInput("A case needs a subject.", field="subject")
    if priority not in Priority.values:
        raise InvalidInput(f"Unknown priority {priority!r}.", field="priority")
    if source not in Source.values:
        raise InvalidInput(f"Unknown source {source!r}.", field="source")
    assignment = (
        Assignment(owner)
        if owner is not None
        else choose_owner(
            program, unit, assignment_context(unit, case_type, priority, source, routing_context)
        )
    )
    owner = assignment.owner
    if owner is not None and not owner.is_active:
        raise InvalidInput(f"{owner} is not an active user.", field="owner")
    deadlines = deadlines_for(program, unit, at)
    case = Case.objects.create(
        program=program,
        case_type=case_type,
        customer=customer,
        unit=unit,
        owner=owner,
        transaction=transaction_record,
        subject=subject[:300],
        description=description,
        priority=priority,
        source=source,
        external_source=external_source,
        external_id=external_id,
        alert_reason=alert_reason or {},
        verbatim=verbatim,
        needs_contact_info=not customer.has_contact,
        created_at=at,
        start_due_at=deadlines.start_due_at,
        resolve_due_at=deadlines.resolve_due_at,
        next_deadline_at=initial_next_deadline(deadlines.start_due_at, deadlines.resolve_due_at),
    )
    watchers = [
        CaseWatcher(case=case, user_id=user_id, access=access, added_at=at)
        for user_id, access in initial_watchers(
            case.owner_id, manager_chain(unit), assignment.full_watchers
        )
    ]
    CaseWatcher.objects.bulk_create(watchers)
    CaseTask.objects.bulk_create(
        CaseTask(case=case, position=step.position, title=step.title)
        for step in case_type.playbook.all()
    )
    _record(
        case,
        EventKind.CREATED,
        actor,
        at,
        source=source,
        owner=owner.pk if owner else None,
        watchers=[w.user_id for w in watchers],
        assignment_rule=assignment.rule.name if assignment.rule else None,
    )
    return case


@transaction.atomic
def add_note(
    case: Case,
    *,
    actor: User,
    body: str,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> CaseNote:
    """Write a note on a case. Notes are allowed on closed cases too (e.g. a late call-back)."""
    at = _now(now)
    case = _lock_for_write(case, actor, expected_version)
    body = body.strip()
    if not body:
        raise InvalidInput("A note cannot be empty.", field="body")
    fields = _start_if_new(case, actor, at)
    note = CaseNote.objects.create(case=case, author=actor, body=body, created_at=at)
    record_interaction(
        customer=case.customer,
        channel=Channel.NOTE,
        direction=Direction.INTERNAL,
        summary=body[:500],
        agent=actor,
        case_id=case.pk,
        occurred_at=at,
    )
    _record(case, EventKind.NOTE_ADDED, actor, at, note=note.pk)
    _save(case, at, fields)
    return note


def _check_upload(upload: UploadedFile) -> tuple[str, str]:
    """Return (content type, safe extension) or refuse a file that is too big or not allowed."""
    limit = settings.CASELOOP_ATTACHMENT_MAX_BYTES
    if upload.size is None or upload.size > limit:
        raise InvalidInput(f"Files may be at most {limit // (1024 * 1024)} MiB.", field="file")
    if upload.size == 0:
        raise InvalidInput("The file is empty.", field="file")
    allowed = settings.CASELOOP_ATTACHMENT_TYPES
    declared = (upload.content_type or "").split(";")[0].strip().lower()
    guessed, _ = mimetypes.guess_type(upload.name or "")
    content_type = declared or (guessed or "")
    if content_type not in allowed or (guessed and guessed not in allowed):
        raise InvalidInput(
            f"Files of type {content_type or 'unknown'} are not accepted.", field="file"
        )
    suffix = PurePath(upload.name or "").suffix.lower()
    return content_type, suffix if suffix.isascii() and len(suffix) <= 10 else ""


@transaction.atomic
def attach_file(
    case: Case,
    *,
    actor: User | None,
    upload: UploadedFile,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> CaseAttachment:
    """Store a file on the case through the storage backend; size and type are checked first."""
    at = _now(now)
    case = _lock_for_write(case, actor, expected_version)
    _require_open(case, "attach files")
    content_type, suffix = _check_upload(upload)
    fields = _start_if_new(case, actor, at)
    attachment = CaseAttachment(
        case=case,
        uploaded_by=actor,
        storage_key=uuid.uuid4().hex + "".join(c for c in suffix if c.isalnum() or c == "."),
        original_name=PurePath((upload.name or "file").replace("\\", "/")).name[:255],
        content_type=content_type,
        size=upload.size or 0,
        created_at=at,
    )
    attachment.file.save(attachment.storage_key, upload, save=False)
    # A rollback after this point leaves an orphan file, never a row without its file.
    attachment.save()
    _record(
        case,
        EventKind.ATTACHMENT_ADDED,
        actor,
        at,
        attachment=attachment.pk,
        name=attachment.original_name,
    )
    _save(case, at, fields)
    return attachment


@transaction.atomic
def log_contact_attempt(
    case: Case,
    *,
    actor: User,
    outcome: ContactOutcome | str,
    channel: str = Channel.PHONE,
    note: str = "",
    expected_version: int | None = None,
    now: datetime | None = None,
) -> ContactAttempt:
    """Record an attempt to reach the customer; it also appears on the customer's timeline."""
    at = _now(now)
    case = _lock_for_write(case, actor, expected_version)
    _require_open(case, "log contact attempts")
    if outcome not in ContactOutcome.values:
        raise InvalidInput(f"Unknown outcome {outcome!r}.", field="outcome")
    if channel not in (Channel.PHONE, Channel.EMAIL, Channel.SMS, Channel.IN_PERSON):
        raise InvalidInput(f"Unknown contact channel {channel!r}.", field="channel")
    fields = _start_if_new(case, actor, at)
    attempt = ContactAttempt.objects.create(
        case=case, actor=actor, channel=channel, outcome=outcome, note=note.strip(), attempted_at=at
    )
    label = ContactOutcome(outcome).label
    record_interaction(
        customer=case.customer,
        channel=channel,
        direction=Direction.OUTBOUND,
        summary=f"{label}. {attempt.note}".strip(),
        agent=actor,
        case_id=case.pk,
        occurred_at=at,
    )
    _record(
        case, EventKind.CONTACT_ATTEMPTED, actor, at, outcome=outcome, channel=channel, note=note
    )
    _save(case, at, fields)
    return attempt


def _task_of(case: Case, task_id: int) -> CaseTask:
    task = CaseTask.objects.filter(case=case, pk=task_id).first()
    if task is None:
        raise NotFound(f"Task {task_id} is not on {case.number}.")
    return task


@transaction.atomic
def complete_task(
    case: Case,
    *,
    actor: User,
    task_id: int,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> CaseTask:
    """Tick a playbook task as done."""
    at = _now(now)
    case = _lock_for_write(case, actor, expected_version)
    _require_open(case, "tick tasks")
    task = _task_of(case, task_id)
    if task.done_at is not None:
        raise IllegalTransition(f"“{task.title}” is already done.")
    fields = _start_if_new(case, actor, at)
    task.done_at, task.done_by = at, actor
    task.save(update_fields=["done_at", "done_by"])
    _record(case, EventKind.TASK_COMPLETED, actor, at, task=task.pk, title=task.title)
    _save(case, at, fields)
    return task


@transaction.atomic
def undo_task(
    case: Case,
    *,
    actor: User,
    task_id: int,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> CaseTask:
    """Untick a task that was ticked by mistake."""
    at = _now(now)
    case = _lock_for_write(case, actor, expected_version)
    _require_open(case, "untick tasks")
    task = _task_of(case, task_id)
    if task.done_at is None:
        raise IllegalTransition(f"“{task.title}” is not done.")
    task.done_at, task.done_by = None, None
    task.save(update_fields=["done_at", "done_by"])
    _record(case, EventKind.TASK_UNDONE, actor, at, task=task.pk, title=task.title)
    _save(case, at)
    return task


@transaction.atomic
def assign_case(
    case: Case,
    *,
    actor: User | None,
    owner: User,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Case:
    """Give the case to another owner. The previous owner keeps nothing unless they watch it."""
    at = _now(now)
    case = _lock_for_write(case, actor, expected_version)
    _require_open(case, "reassign it")
    if not owner.is_active:
        raise InvalidInput(f"{owner} is not an active user.", field="owner")
    if owner.pk == case.owner_id:
        raise InvalidInput(f"{owner} already owns {case.number}.", field="owner")
    previous = case.owner_id
    case.owner = owner
    _record(case, EventKind.ASSIGNED, actor, at, previous_owner=previous, owner=owner.pk)
    _save(case, at, ["owner"])
    return case


@transaction.atomic
def add_watcher(
    case: Case,
    *,
    actor: User | None,
    user: User,
    access: WatcherAccess | str = WatcherAccess.LIMITED,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> CaseWatcher:
    """Let ``user`` watch the case with full (may act) or limited (read-only) access.

    Adding someone who already watches changes their access level.
    """
    at = _now(now)
    case = _lock_for_write(case, actor, expected_version)
    if access not in WatcherAccess.values:
        raise InvalidInput(f"Unknown watcher access {access!r}.", field="access")
    if user.pk == case.owner_id:
        raise InvalidInput(f"{user} owns {case.number} and cannot also watch it.", field="user")
    if not user.is_active:
        raise InvalidInput(f"{user} is not an active user.", field="user")
    watcher, created = CaseWatcher.objects.get_or_create(
        case=case, user=user, defaults={"access": access, "added_at": at}
    )
    if not created:
        if watcher.access == access:
            raise InvalidInput(f"{user} already watches {case.number}.", field="user")
        watcher.access = access
        watcher.save(update_fields=["access"])
    _record(case, EventKind.WATCHER_ADDED, actor, at, user=user.pk, access=access)
    _save(case, at)
    return watcher


@transaction.atomic
def remove_watcher(
    case: Case,
    *,
    actor: User,
    user: User,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Case:
    """Stop ``user`` from watching the case."""
    at = _now(now)
    case = _lock_for_write(case, actor, expected_version)
    deleted, _ = CaseWatcher.objects.filter(case=case, user=user).delete()
    if not deleted:
        raise InvalidInput(f"{user} does not watch {case.number}.", field="user")
    _record(case, EventKind.WATCHER_REMOVED, actor, at, user=user.pk)
    _save(case, at)
    return case


def _closing_choices(
    case: Case, closing_status_id: int, root_cause_ids: Sequence[int]
) -> tuple[ClosingStatus, list[RootCause]]:
    closing_status = ClosingStatus.objects.filter(
        pk=closing_status_id, program_id=case.program_id, is_active=True
    ).first()
    if closing_status is None:
        raise InvalidInput(f"Choose a closing status of {case.program}.", field="closing_status")
    wanted = set(root_cause_ids)
    causes = list(
        RootCause.objects.filter(pk__in=wanted, program_id=case.program_id, is_active=True)
    )
    if len(causes) != len(wanted):
        raise InvalidInput(f"Choose root causes of {case.program}.", field="root_causes")
    if case.program.root_causes_required and not causes:
        raise InvalidInput(f"{case.program} requires a root cause to close.", field="root_causes")
    return closing_status, causes


@transaction.atomic
def close_case(
    case: Case,
    *,
    actor: User,
    closing_status_id: int,
    root_cause_ids: Sequence[int] = (),
    final_note: str,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Case:
    """Close the case with one of the program's closing statuses, its root causes (required when
    the program says so) and a final note saying what was done."""
    at = _now(now)
    case = _lock_for_write(case, actor, expected_version)
    _require_open(case, "close it again")
    closing_status, causes = _closing_choices(case, closing_status_id, root_cause_ids)
    final_note = final_note.strip()
    if not final_note:
        raise InvalidInput("Say in a final note what was done.", field="final_note")
    fields = _start_if_new(case, actor, at)
    if case.resolve_due_at is not None and case.resolve_due_at <= at:
        case.was_overdue = True
        fields.append("was_overdue")
    case.status = Status.CLOSED
    case.closed_at = at
    case.closing_status = closing_status
    case.final_note = final_note
    case.next_deadline_at = None
    case.root_causes.set(causes)
    _record(
        case,
        EventKind.CLOSED,
        actor,
        at,
        closing_status=closing_status.code,
        resolved=closing_status.is_resolved,
        root_causes=sorted(c.code for c in causes),
        final_note=final_note,
    )
    _save(
        case,
        at,
        [*fields, "status", "closed_at", "closing_status", "final_note", "next_deadline_at"],
    )
    return case


@transaction.atomic
def reopen_case(
    case: Case,
    *,
    actor: User | None,
    reason: str,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Case:
    """Put a closed case back to In Progress with a fresh resolve deadline counted from now.
    How it had been closed stays in the history; ``was_overdue`` stays as it was."""
    at = _now(now)
    case = _lock_for_write(case, actor, expected_version)
    if case.status != Status.CLOSED:
        raise IllegalTransition(f"{case.number} is not closed.")
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Say why the case is reopened.", field="reason")
    previous = case.closing_status.code if case.closing_status else None
    case.status = Status.IN_PROGRESS
    case.closed_at = None
    case.closing_status = None
    case.final_note = ""
    case.reopen_count += 1
    case.root_causes.clear()
    case.resolve_due_at = deadlines_for(case.program, case.unit, at).resolve_due_at
    case.escalation_level = 0
    case.next_deadline_at = case.resolve_due_at
    _record(
        case,
        EventKind.REOPENED,
        actor,
        at,
        reason=reason,
        previous_closing_status=previous,
        resolve_due_at=case.resolve_due_at.isoformat(),
    )
    _save(
        case,
        at,
        [
            "status",
            "closed_at",
            "closing_status",
            "final_note",
            "reopen_count",
            "resolve_due_at",
            "escalation_level",
            "next_deadline_at",
        ],
    )
    return case


@transaction.atomic
def transfer_case(
    case: Case,
    *,
    actor: User | None,
    unit: Unit,
    owner: User | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Case:
    """Move the case to another unit, to the given owner or that unit's designated owner.

    Its deadlines restart in the new unit's calendar only when the program says so; otherwise
    the customer's clock keeps running.
    """
    at = _now(now)
    case = _lock_for_write(case, actor, expected_version)
    _require_open(case, "move it")
    if unit.pk == case.unit_id:
        raise InvalidInput(f"{case.number} is already at {unit}.", field="unit")
    _check_can_open_in(actor, unit)
    owner = owner or designated_owner(unit)
    if owner is not None and not owner.is_active:
        raise InvalidInput(f"{owner} is not an active user.", field="owner")
    previous_unit, previous_owner = case.unit_id, case.owner_id
    case.unit, case.owner = unit, owner
    fields = ["unit", "owner"]
    if case.program.recompute_deadlines_on_transfer:
        deadlines = deadlines_for(case.program, unit, at)
        if case.status == Status.NEW:
            case.start_due_at = deadlines.start_due_at
        case.resolve_due_at = deadlines.resolve_due_at
        case.escalation_level = 0
        # A case already started has no start deadline left to watch for.
        start_due_at = case.start_due_at if case.status == Status.NEW else None
        case.next_deadline_at = initial_next_deadline(start_due_at, case.resolve_due_at)
        fields += ["start_due_at", "resolve_due_at", "escalation_level", "next_deadline_at"]
    _record(
        case,
        EventKind.TRANSFERRED,
        actor,
        at,
        previous_unit=previous_unit,
        unit=unit.pk,
        previous_owner=previous_owner,
        owner=owner.pk if owner else None,
        deadlines_recomputed=case.program.recompute_deadlines_on_transfer,
    )
    _save(case, at, fields)
    return case
