"""The API's one error shape and the one place where failures become 4xx responses.

Every client error reads ``{"error": {"code", "message", "field", "details"}}`` so that a client
handles errors with one piece of code, whatever raised them: a domain rule, request parsing,
authentication, or routing.
"""

from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.responses import Response

from caseloop.errors import (
    Conflict,
    DomainError,
    Forbidden,
    IllegalTransition,
    InvalidInput,
    NotFound,
)

# Most specific first: the first class the error is an instance of decides the status.
DOMAIN_STATUS: Sequence[tuple[type[DomainError], int]] = (
    (NotFound, 404),
    (Forbidden, 403),
    (InvalidInput, 422),
    (IllegalTransition, 409),
    (Conflict, 409),
)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "throttled",
}


class ErrorDetail(Schema):
    code: str
    message: str
    field: str | None = None
    details: list[dict[str, Any]] = []


class ErrorOut(Schema):
    """The body of every 4xx response."""

    error: ErrorDetail


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    details: Sequence[dict[str, Any]] = (),
) -> HttpResponse:
    body = {"error": {"code": code, "message": message, "field": field, "details": list(details)}}
    return Response(body, status=status, content_type="application/json; charset=utf-8")


def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    status = next((s for cls, s in DOMAIN_STATUS if isinstance(exc, cls)), 400)
    return error_response(status, exc.code, exc.message, field=exc.field)


def _field_of(error: dict[str, Any]) -> str | None:
    # loc is ("body", "payload", "subject") or ("query", "limit"): the last name is the field.
    # Validator labels such as "function-wrap[...]" are not names and are skipped.
    names = [p for p in error.get("loc", ()) if isinstance(p, str) and p.isidentifier()]
    return names[-1] if len(names) > 1 else None


def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    details = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors
    ]
    first = exc.errors[0] if exc.errors else {}
    message = first.get("msg", "The request is not valid.")
    field = _field_of(first)
    if field:
        message = f"{field}: {message}"
    return error_response(422, "validation_error", message, field=field, details=details)


def _authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = error_response(401, "unauthorized", exc.message)
    response["WWW-Authenticate"] = 'Bearer realm="caseloop"'
    return response


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = HTTP_CODES.get(exc.status_code, "error")
    if exc.status_code == 403 and "CSRF" in exc.message:
        code = "csrf_failed"
    return error_response(exc.status_code, code, exc.message)


def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error_response(404, "not_found", "Not found.")


def _suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    # Django raises these for oversized or malformed request bodies and bad hosts.
    return error_response(400, "bad_request", "The request could not be read.")


def install_error_handlers(api: NinjaAPI) -> None:
    """Map every error that a request can cause to the one error shape."""
    api.add_exception_handler(DomainError, _domain_error)
    api.add_exception_handler(ValidationError, _validation_error)
    api.add_exception_handler(AuthenticationError, _authentication_error)
    api.add_exception_handler(HttpError, _http_error)
    api.add_exception_handler(Http404, _not_found)
    api.add_exception_handler(SuspiciousOperation, _suspicious)


def not_found_view(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Answer any path under the API that matches no endpoint."""
    return error_response(404, "not_found", f"No endpoint at {request.path}.")


def shape_method_not_allowed(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap an endpoint view so that ninja's plain-text 405 also carries the error shape."""

    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            response = error_response(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here; use {allowed}.",
            )
            response["Allow"] = allowed
        return response

    wrapped.csrf_exempt = getattr(view, "csrf_exempt", False)  # type: ignore[attr-defined]
    return wrapped
