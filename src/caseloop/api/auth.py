"""Who is calling: a personal bearer token, or the browser's Django session."""

from django.http import HttpRequest
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer
from ninja.security.session import SessionAuth

from caseloop.api.services import authenticate_token
from caseloop.org.models import User


class AuthedRequest(HttpRequest):
    """A request that passed authentication: ``auth`` is the acting user."""

    auth: User


class TokenAuth(HttpBearer):
    """``Authorization: Bearer cl_<prefix>_<secret>``.

    A token that is presented but does not work is a definite 401: falling through to the
    session would answer a script's expired token with a confusing CSRF failure.
    """

    def authenticate(self, request: HttpRequest, token: str) -> User:
        user = authenticate_token(token)
        if user is None:
            raise AuthenticationError(
                401, "The API token is unknown, revoked, or its user is deactivated."
            )
        return user


class BrowserSessionAuth(SessionAuth):
    """The logged-in browser session, with Django's CSRF check on unsafe methods.

    Without a session cookie there is nothing a forged request could ride on, so the CSRF
    check is skipped and the caller gets a plain 401 instead of a CSRF error.
    """

    def _get_key(self, request: HttpRequest) -> str | None:
        if self.param_name not in request.COOKIES:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        if key is None:
            return None
        return super().authenticate(request, key)


AUTH = [TokenAuth(), BrowserSessionAuth()]
