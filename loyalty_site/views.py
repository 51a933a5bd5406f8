from django.views.generic import TemplateView


class HomeView(TemplateView):
    """The front page: where a visitor finds the portal, the admin and the API docs."""

    template_name = "home.html"
