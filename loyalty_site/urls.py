from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from loyalty_site.health import healthz
from loyalty_site.views import HomeView, api_docs

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include("loyalty_site.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("i18n/", include("django.conf.urls.i18n")),
    # Passkey ceremonies of the staff's second factor (JSON; loyalty_site/staff).
    path("staff/passkeys/", include("loyalty_site.staff.passkey_urls")),
]
urlpatterns += i18n_patterns(
    path("", HomeView.as_view(), name="home"),
    path("admin/", admin.site.urls),
    path("", include("loyalty_site.portal.urls")),
    path("umfrage/", include("surveys.urls")),
    prefix_default_language=False,
)
