"""django.contrib.admin with the staff site as ``admin.site`` (settings: INSTALLED_APPS).
The site module loads models, so it is named here, not imported."""

from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    default_site = "loyalty_site.admin_site.StaffAdminSite"
