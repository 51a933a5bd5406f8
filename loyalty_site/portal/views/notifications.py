"""The notification feed and its "mark as read" action (programs.notifications)."""

from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from loyalty_site.portal.views.base import PortalMixin
from programs.notifications.selectors import notifications_recent
from programs.notifications.services import notifications_mark_read

FEED_SIZE = 50


class NotificationsView(PortalMixin, TemplateView):
    template_name = "portal/notifications.html"
    needs_membership = False

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        notifications = notifications_recent(self.customer, limit=FEED_SIZE)
        context["notifications"] = notifications
        context["unread"] = any(n.read_at is None for n in notifications)
        return context

    def post(self, request):
        ids = request.POST.getlist("id")
        try:
            count = notifications_mark_read(self.customer, ids=ids or None)
        except ValueError:
            count = 0
        if count:
            messages.success(request, _("Marked as read."))
        return redirect("portal:notifications")
