from django.shortcuts import redirect
from django.views.generic import TemplateView

from customers.models import Customer


class HomeView(TemplateView):
    """The front page: customers go to their dashboard; visitors find sign-in, the staff
    admin and the API docs."""

    template_name = "home.html"

    def get(self, request, *args, **kwargs):
        if request.user.is_authenticated and Customer.objects.filter(user=request.user).exists():
            return redirect("portal:dashboard")
        return super().get(request, *args, **kwargs)
