"""What the case page shows and which of its controls a user gets.

Controls follow the user's right on the case (``access_of``) and the case's state; the services
check the same right again, so a control that is not shown is also refused when posted.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.forms import Form
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict

from caseloop.cases.models import Case, CaseTask, CaseWatcher, Status
from caseloop.cases.queries import Access, access_of
from caseloop.org.models import User
from caseloop.programs.models import ClosingStatus, RootCause
from caseloop.web import forms as web_forms
from caseloop.web.choices import people_for_case
from caseloop.web.timeline import TimelineItem, case_timeline

# The forms of an open case, and of a closed one (notes stay allowed after closing).
OPEN_CASE_FORMS = ("note", "contact", "attachment", "assign", "watcher", "close")
CLOSED_CASE_FORMS = ("note", "reopen", "watcher")


def _choices(model: type[ClosingStatus] | type[RootCause], case: Case) -> list[tuple[int, str]]:
    return list(
        model.objects.filter(program_id=case.program_id, is_active=True).values_list("pk", "name")
    )


def people_offered(case: Case) -> list[User]:
    """Whom the reassign and add-watcher forms offer: the case's people but its owner."""
    return list(people_for_case(case).exclude(pk=case.owner_id))


def action_form(
    name: str,
    case: Case,
    data: QueryDict | None = None,
    files: MultiValueDict | None = None,
    *,
    people: list[User] | None = None,
) -> Form:
    """The form of the action ``name`` on ``case``, bound to ``data`` when given; ``people``
    is ``people_offered(case)`` when the caller has read it already."""
    # Ids carry the form's name: the page shows several forms at once.
    common: dict[str, Any] = {"data": data, "auto_id": f"{name}_%s"}
    if name == "note":
        return web_forms.NoteForm(**common)
    if name == "contact":
        return web_forms.ContactAttemptForm(**common)
    if name == "attachment":
        return web_forms.AttachmentForm(files=files, **common)
    if name == "task":
        return web_forms.TaskForm(**common)
    if name in ("assign", "watcher"):
        offered = people_offered(case) if people is None else people
        person_form = web_forms.AssignForm if name == "assign" else web_forms.WatcherForm
        return person_form(people=offered, **common)
    if name == "remove_watcher":
        return web_forms.RemoveWatcherForm(**common)
    if name == "close":
        return web_forms.CloseForm(
            closing_statuses=_choices(ClosingStatus, case),
            root_causes=_choices(RootCause, case),
            **common,
        )
    if name == "reopen":
        return web_forms.ReopenForm(**common)
    raise ValueError(f"No form for action {name!r}.")


@dataclass
class CasePage:
    """The case with its people, checklist and history, and the forms its viewer may use."""

    case: Case
    now: datetime
    can_write: bool
    watchers: list[CaseWatcher]
    tasks: list[CaseTask]
    timeline: list[TimelineItem]
    root_causes: list[RootCause]
    forms: dict[str, Form] = field(default_factory=dict)

    @property
    def tasks_done(self) -> int:
        return sum(1 for task in self.tasks if task.done_at is not None)

    @property
    def can_tick_tasks(self) -> bool:
        return self.can_write and self.case.is_open


def load_case_page(
    user: User, case: Case, now: datetime, bound: dict[str, Form] | None = None
) -> CasePage:
    """Everything the case page shows, with the forms ``user`` may use; ``bound`` holds a form
    that was just posted, to show it again with its errors."""
    can_write = access_of(user, case) == Access.WRITE
    page = CasePage(
        case=case,
        now=now,
        can_write=can_write,
        watchers=list(case.watchers.select_related("user").order_by("added_at", "id")),
        tasks=list(case.tasks.select_related("done_by")),
        timeline=case_timeline(case),
        root_causes=list(case.root_causes.all()) if case.status == Status.CLOSED else [],
    )
    if can_write:
        names = OPEN_CASE_FORMS if case.is_open else CLOSED_CASE_FORMS
        posted = bound or {}
        people = people_offered(case) if {"assign", "watcher"} & set(names) else []
        page.forms = {
            name: posted[name] if name in posted else action_form(name, case, people=people)
            for name in names
        }
    return page
