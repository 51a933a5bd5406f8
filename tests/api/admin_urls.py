"""A URL conf with the admin built after the API key admin is registered (the project's
admin registers it once ``programs/admin/__init__.py`` imports ``programs.api.admin``)."""

from django.contrib import admin
from django.urls import path

import programs.api.admin  # noqa: F401 - registers ApiKeyAdmin

urlpatterns = [path("admin/", admin.site.urls)]
