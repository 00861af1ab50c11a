"""The case page and its attachments."""

from datetime import datetime

from django import forms
from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from caseloop.cases.models import Case
from caseloop.cases.queries import get_case_for
from caseloop.web.case_page import load_case_page
from caseloop.web.errors import web_view
from caseloop.web.http import AuthedRequest, wants_fragment


def render_case_page(
    request: AuthedRequest,
    case: Case,
    now: datetime,
    bound: dict[str, forms.Form] | None = None,
    status: int = 200,
) -> HttpResponse:
    """The whole page, or only the ``#case`` part for htmx, with ``bound`` forms shown again
    with their errors. A posted form the page no longer offers (a case closed meanwhile) has
    its errors shown as messages instead."""
    page = load_case_page(request.user, case, now, bound)
    for name, form in (bound or {}).items():
        if name not in page.forms:
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, error)
    template = "web/_case.html" if wants_fragment(request) else "web/case.html"
    return render(request, template, {"page": page, "case": case, "now": now}, status=status)


@require_GET
@web_view
def case_detail(request: AuthedRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request.user, case_id)
    return render_case_page(request, case, timezone.now())


@require_GET
@web_view
def attachment_download(request: AuthedRequest, case_id: int, attachment_id: int) -> HttpResponse:
    """A file of a case, for those who may read the case. Always a download, never shown inline,
    so an uploaded HTML or image file cannot run in the app's origin."""
    case = get_case_for(request.user, case_id)
    attachment = case.attachments.filter(pk=attachment_id).first()
    if attachment is None:
        raise Http404("No such file on this case.")
    return FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.original_name,
        content_type=attachment.content_type,
    )
