"""The partner API at ``/api/v1/``: the engine's routes, the surveys' routes, and a
problem+json 404 for every other path under it."""

from django.urls import re_path

from programs.api import urls as programs_api
from programs.api.views.fallback import EndpointNotFoundView
from surveys import api_urls as surveys_api

app_name = "api"

urlpatterns = [
    *programs_api.urlpatterns,
    *surveys_api.urlpatterns,
    re_path(r"^.*$", EndpointNotFoundView.as_view(), name="not-found"),
]
