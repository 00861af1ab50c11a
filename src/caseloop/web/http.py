"""The request type of views behind the login."""

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from caseloop.org.models import User


class AuthedRequest(HttpRequest):
    """A request from a logged-in user, with htmx's headers parsed by ``HtmxMiddleware``."""

    user: User
    htmx: HtmxDetails


def wants_fragment(request: AuthedRequest) -> bool:
    """htmx asked for a part of the page; a history restore needs the whole page again."""
    return bool(request.htmx) and not request.htmx.history_restore_request
