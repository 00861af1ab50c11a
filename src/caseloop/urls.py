from django.contrib import admin
from django.urls import include, path

from caseloop.api.urls import api

admin.site.site_header = "caseloop administration"
admin.site.site_title = "caseloop"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("", include("caseloop.web.urls")),
]
