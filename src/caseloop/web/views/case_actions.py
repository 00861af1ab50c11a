"""The case page's actions: one view per action, each one service call through ``perform``."""

from datetime import datetime
from typing import Any

from django.http import HttpResponse
from django.views.decorators.http import require_POST

from caseloop.cases import services
from caseloop.cases.models import Case
from caseloop.errors import NotFound
from caseloop.org.models import User
from caseloop.web.actions import perform
from caseloop.web.errors import web_view
from caseloop.web.http import AuthedRequest

Data = dict[str, Any]


@require_POST
@web_view
def add_note(request: AuthedRequest, case_id: int) -> HttpResponse:
    def act(case: Case, data: Data, now: datetime) -> object:
        return services.add_note(
            case, actor=request.user, body=data["body"], expected_version=data["version"], now=now
        )

    return perform(request, case_id, "note", act, done="Note added.")


@require_POST
@web_view
def attach_file(request: AuthedRequest, case_id: int) -> HttpResponse:
    def act(case: Case, data: Data, now: datetime) -> object:
        return services.attach_file(
            case, actor=request.user, upload=data["file"], expected_version=data["version"], now=now
        )

    return perform(request, case_id, "attachment", act, done="File attached.")


@require_POST
@web_view
def log_contact_attempt(request: AuthedRequest, case_id: int) -> HttpResponse:
    def act(case: Case, data: Data, now: datetime) -> object:
        return services.log_contact_attempt(
            case,
            actor=request.user,
            outcome=data["outcome"],
            channel=data["channel"],
            note=data["note"],
            expected_version=data["version"],
            now=now,
        )

    return perform(request, case_id, "contact", act, done="Contact attempt logged.")


@require_POST
@web_view
def complete_task(request: AuthedRequest, case_id: int, task_id: int) -> HttpResponse:
    def act(case: Case, data: Data, now: datetime) -> object:
        return services.complete_task(
            case, actor=request.user, task_id=task_id, expected_version=data["version"], now=now
        )

    return perform(request, case_id, "task", act, done="Task done.")


@require_POST
@web_view
def undo_task(request: AuthedRequest, case_id: int, task_id: int) -> HttpResponse:
    def act(case: Case, data: Data, now: datetime) -> object:
        return services.undo_task(
            case, actor=request.user, task_id=task_id, expected_version=data["version"], now=now
        )

    return perform(request, case_id, "task", act, done="Task unticked.")


@require_POST
@web_view
def assign_case(request: AuthedRequest, case_id: int) -> HttpResponse:
    def act(case: Case, data: Data, now: datetime) -> object:
        return services.assign_case(
            case, actor=request.user, owner=data["owner"], expected_version=data["version"], now=now
        )

    return perform(request, case_id, "assign", act, done="Case reassigned.")


@require_POST
@web_view
def add_watcher(request: AuthedRequest, case_id: int) -> HttpResponse:
    def act(case: Case, data: Data, now: datetime) -> object:
        return services.add_watcher(
            case,
            actor=request.user,
            user=data["user"],
            access=data["access"],
            expected_version=data["version"],
            now=now,
        )

    return perform(request, case_id, "watcher", act, done="Watcher added.")


@require_POST
@web_view
def remove_watcher(request: AuthedRequest, case_id: int, user_id: int) -> HttpResponse:
    def act(case: Case, data: Data, now: datetime) -> object:
        watcher = User.objects.filter(pk=user_id).first()
        if watcher is None:
            raise NotFound(f"User {user_id} not found.")
        return services.remove_watcher(
            case, actor=request.user, user=watcher, expected_version=data["version"], now=now
        )

    return perform(request, case_id, "remove_watcher", act, done="Watcher removed.")


@require_POST
@web_view
def close_case(request: AuthedRequest, case_id: int) -> HttpResponse:
    def act(case: Case, data: Data, now: datetime) -> object:
        return services.close_case(
            case,
            actor=request.user,
            closing_status_id=data["closing_status"],
            root_cause_ids=data["root_causes"],
            final_note=data["final_note"],
            expected_version=data["version"],
            now=now,
        )

    return perform(request, case_id, "close", act, done="Case closed.")


@require_POST
@web_view
def reopen_case(request: AuthedRequest, case_id: int) -> HttpResponse:
    def act(case: Case, data: Data, now: datetime) -> object:
        return services.reopen_case(
            case,
            actor=request.user,
            reason=data["reason"],
            expected_version=data["version"],
            now=now,
        )

    return perform(request, case_id, "reopen", act, done="Case reopened.")
