"""The one place where the web app turns domain errors into what the user sees.

- ``NotFound``: a 404 page (missing and out of reach look the same);
- ``Forbidden``: a 403 (the control was not offered; the server refuses it anyway);
- ``Conflict``: the form again, over the case as it is now, saying someone else changed it;
- ``InvalidInput`` / ``IllegalTransition``: the form again with the reason beside the field.
"""

from collections.abc import Callable
from functools import wraps
from typing import Concatenate, ParamSpec

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse

from caseloop.errors import Conflict, DomainError, Forbidden, IllegalTransition, NotFound
from caseloop.web.http import AuthedRequest

P = ParamSpec("P")

STALE_FORM = (
    "Someone else changed this case while you had it open. The page now shows their change; "
    "check it, then send again."
)


def report(request: AuthedRequest, error: DomainError, form: forms.Form | None = None) -> int:
    """Show ``error`` on ``form`` (or as a message without one) and return the HTTP status of
    the answer; errors that end the request (404, 403) are raised."""
    if isinstance(error, NotFound):
        raise Http404(error.message)
    if isinstance(error, Forbidden):
        raise PermissionDenied(error.message)
    status = 409 if isinstance(error, Conflict | IllegalTransition) else 422
    message = STALE_FORM if isinstance(error, Conflict) else error.message
    if form is None:
        messages.error(request, message)
    else:
        form.add_error(error.field if error.field in form.fields else None, message)
    return status


def web_view(
    view: Callable[Concatenate[AuthedRequest, P], HttpResponse],
) -> Callable[Concatenate[AuthedRequest, P], HttpResponse]:
    """A page behind the login; a case or customer out of reach is a 404 and a refused write a
    403, through ``report``. Any other domain error is the view's to show on its form."""

    @wraps(view)
    def wrapper(request: AuthedRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except (NotFound, Forbidden) as error:
            report(request, error)
            raise  # report() has raised Http404 or PermissionDenied instead

    return login_required(wrapper)  # type: ignore[return-value]
