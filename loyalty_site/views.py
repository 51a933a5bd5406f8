from csp.decorators import csp_update
from django.shortcuts import redirect
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularSwaggerView

from customers.models import Customer


class HomeView(TemplateView):
    """The front page: customers go to their dashboard; visitors find sign-in, the staff
    admin and the API docs."""

    template_name = "home.html"

    def get(self, request, *args, **kwargs):
        if request.user.is_authenticated and Customer.objects.filter(user=request.user).exists():
            return redirect("portal:dashboard")
        return super().get(request, *args, **kwargs)


# Swagger UI from drf-spectacular-sidecar, served from this site: its inline style and
# start-up script carry the Content-Security-Policy nonce (templates/api/swagger_ui.html),
# and its stylesheet draws a few icons as data: images.
api_docs = csp_update({"img-src": ["data:"]})(
    SpectacularSwaggerView.as_view(url_name="api-schema", template_name="api/swagger_ui.html")
)
