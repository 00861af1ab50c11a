"""The JSON API, mounted at /api/v1/: OpenAPI at openapi.json, interactive docs at docs.

Every endpoint takes a personal bearer token or the browser session (with CSRF), and every
client error has the one shape in ``caseloop.api.errors``.
"""

from django.urls import URLPattern, URLResolver, re_path
from ninja import NinjaAPI
from ninja.operation import Operation

from caseloop.api import cases, tokens
from caseloop.api.auth import AUTH
from caseloop.api.errors import install_error_handlers, not_found_view, shape_method_not_allowed
from caseloop.intake.api import router as intake_router

UrlList = list[URLPattern | URLResolver]


class CaseloopAPI(NinjaAPI):
    """NinjaAPI whose routing failures (no such path, wrong method) use the error shape too."""

    def get_openapi_operation_id(self, operation: Operation) -> str:
        # Clients generated from the schema get method names like ``close_case``.
        return operation.view_func.__name__

    @property
    def urls(self) -> tuple[UrlList, str, str]:
        patterns, app_name, namespace = super().urls
        shaped: UrlList = [
            URLPattern(p.pattern, shape_method_not_allowed(p.callback), p.default_args, p.name)
            if isinstance(p, URLPattern)
            else p
            for p in patterns
        ]
        shaped.append(re_path(r"^(?P<rest>.*)$", not_found_view, name="not-found"))
        return shaped, app_name, namespace


api = CaseloopAPI(
    title="caseloop API",
    version="1",
    description=(
        "Cases, their inbox and every action on them. Authenticate with a personal token "
        "(`Authorization: Bearer cl_…`, create one at POST /tokens) or a browser session. "
        'Errors read `{"error": {"code", "message", "field", "details"}}`.'
    ),
    auth=AUTH,
)
install_error_handlers(api)
api.add_router("", cases.router)
api.add_router("", tokens.router)
api.add_router("", intake_router)
