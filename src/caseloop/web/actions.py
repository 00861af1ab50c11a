"""Running one case action from a posted form.

Every action view names its form and the one service call to make. The case is loaded for
writing first, so a reader is refused (403) and a stranger sees nothing (404) even before the
service checks the same right again. htmx gets the refreshed ``#case`` part back; a browser
without JavaScript is redirected to the case page after success.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django_htmx.http import HttpResponseClientRedirect

from caseloop.cases.models import Case
from caseloop.cases.queries import get_case_for
from caseloop.errors import DomainError, NotFound
from caseloop.web.case_page import action_form
from caseloop.web.errors import report
from caseloop.web.http import AuthedRequest, wants_fragment
from caseloop.web.views.case import render_case_page

# (the case as locked by nobody yet, the parsed form, the request time) -> whatever it returns
Act = Callable[[Case, dict[str, Any], datetime], object]


def perform(
    request: AuthedRequest, case_id: int, form_name: str, act: Act, done: str
) -> HttpResponse:
    """Parse the form ``form_name``, run ``act`` and answer with the case as it is now."""
    now = timezone.now()
    case = get_case_for(request.user, case_id, write=True)
    form = action_form(form_name, case, request.POST, request.FILES)
    if not form.is_valid():
        status = 422
    else:
        try:
            act(case, form.cleaned_data, now)
        except DomainError as error:
            status = report(request, error, form)
        else:
            messages.success(request, done)
            if not wants_fragment(request):
                return redirect("web:case", case_id=case_id)
            return _case_as_it_is_now(request, case_id, now)
    return _case_as_it_is_now(request, case_id, now, bound={form_name: form}, status=status)


def _case_as_it_is_now(
    request: AuthedRequest,
    case_id: int,
    now: datetime,
    bound: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    try:
        case = get_case_for(request.user, case_id)
    except NotFound:
        # The action took the case out of the user's reach (they stopped watching it).
        messages.info(request, "That case is no longer in your reach.")
        inbox = reverse("web:inbox")
        return HttpResponseClientRedirect(inbox) if request.htmx else redirect(inbox)
    return render_case_page(request, case, now, bound, status)
