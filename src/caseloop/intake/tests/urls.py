"""The intake endpoints on an API of their own, shaped like the real one, for the HTTP tests."""

from django.urls import path
from ninja import NinjaAPI

from caseloop.api.auth import AUTH
from caseloop.api.errors import install_error_handlers
from caseloop.intake.api import build_router

api = NinjaAPI(title="intake tests", urls_namespace="intake-tests", auth=AUTH)
install_error_handlers(api)
api.add_router("", build_router())

urlpatterns = [path("api/v1/", api.urls)]
