"""Turn cases and their parts into the plain data the response schemas describe."""

from datetime import datetime
from typing import Any

from django.db.models import Prefetch, prefetch_related_objects

from caseloop.cases.models import (
    Case,
    CaseAttachment,
    CaseEvent,
    CaseNote,
    CaseTask,
    CaseWatcher,
    ContactAttempt,
)
from caseloop.org.models import User

Data = dict[str, Any]

# One query per list on the case page, whatever the case's size: each list brings its people.
DETAIL_PREFETCHES = (
    Prefetch("watchers", queryset=CaseWatcher.objects.select_related("user").order_by("id")),
    "root_causes",
    Prefetch("tasks", queryset=CaseTask.objects.select_related("done_by")),
    Prefetch("notes", queryset=CaseNote.objects.select_related("author")),
    Prefetch("contact_attempts", queryset=ContactAttempt.objects.select_related("actor")),
    Prefetch("attachments", queryset=CaseAttachment.objects.select_related("uploaded_by")),
    Prefetch("events", queryset=CaseEvent.objects.select_related("actor")),
)

DETAIL_RELATED = ("program", "case_type", "customer", "unit", "owner", "closing_status")


def user_ref(user: User | None) -> Data | None:
    if user is None:
        return None
    return {"id": user.pk, "username": user.username, "name": user.get_full_name()}


def _ref(obj: Any) -> Data:
    return {"id": obj.pk, "name": str(obj.name)}


def case_summary(case: Case, now: datetime) -> Data:
    """One inbox row. Reads only what ``inbox_cases`` already joined, so a page costs one query."""
    return {
        "id": case.pk,
        "number": case.number,
        "subject": case.subject,
        "status": case.status,
        "display_status": case.display_status(now),
        "priority": case.priority,
        "program": _ref(case.program),
        "case_type": _ref(case.case_type),
        "unit": _ref(case.unit),
        "customer": {"id": case.customer.pk, "name": str(case.customer)},
        "owner": user_ref(case.owner),
        "created_at": case.created_at,
        "start_due_at": case.start_due_at,
        "resolve_due_at": case.resolve_due_at,
        "was_overdue": case.was_overdue,
        "version": case.version,
    }


def _closing_status(case: Case) -> Data | None:
    status = case.closing_status
    if status is None:
        return None
    return {
        "id": status.pk,
        "code": status.code,
        "name": status.name,
        "is_resolved": status.is_resolved,
    }


def _activity(case: Case) -> Data:
    return {
        "tasks": [
            {
                "id": t.pk,
                "position": t.position,
                "title": t.title,
                "done_at": t.done_at,
                "done_by": user_ref(t.done_by),
            }
            for t in case.tasks.all()
        ],
        "notes": [
            {"id": n.pk, "author": user_ref(n.author), "body": n.body, "created_at": n.created_at}
            for n in case.notes.all()
        ],
        "contact_attempts": [
            {
                "id": a.pk,
                "actor": user_ref(a.actor),
                "channel": a.channel,
                "outcome": a.outcome,
                "note": a.note,
                "attempted_at": a.attempted_at,
            }
            for a in case.contact_attempts.all()
        ],
        "attachments": [
            {
                "id": f.pk,
                "original_name": f.original_name,
                "content_type": f.content_type,
                "size": f.size,
                "uploaded_by": user_ref(f.uploaded_by),
                "created_at": f.created_at,
            }
            for f in case.attachments.all()
        ],
        "events": [
            {
                "id": e.pk,
                "kind": e.kind,
                "actor": user_ref(e.actor),
                "data": e.data,
                "created_at": e.created_at,
            }
            for e in case.events.all()
        ],
    }


def case_detail(case: Case, now: datetime) -> Data:
    """The whole case page: the case, its people, its checklist and its history.

    ``case`` must come with ``DETAIL_RELATED`` joined; its lists are prefetched here.
    """
    prefetch_related_objects([case], *DETAIL_PREFETCHES)
    customer = case.customer
    return {
        **case_summary(case, now),
        "description": case.description,
        "source": case.source,
        "external_source": case.external_source,
        "external_id": case.external_id,
        "customer": {
            "id": customer.pk,
            "name": customer.name,
            "email": customer.email,
            "phone": customer.phone,
        },
        "watchers": [
            {"user": user_ref(w.user), "access": w.access, "added_at": w.added_at}
            for w in case.watchers.all()
        ],
        "first_activity_at": case.first_activity_at,
        "closed_at": case.closed_at,
        "reopen_count": case.reopen_count,
        "closing_status": _closing_status(case),
        "root_causes": [
            {"id": c.pk, "code": c.code, "name": c.name} for c in case.root_causes.all()
        ],
        "final_note": case.final_note,
        "alert_reason": case.alert_reason,
        "verbatim": case.verbatim,
        "needs_contact_info": case.needs_contact_info,
        **_activity(case),
    }
