from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from caseloop.api.urls import api

admin.site.site_header = "caseloop administration"
admin.site.site_title = "caseloop"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
