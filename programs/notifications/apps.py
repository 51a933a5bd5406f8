from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    """What members are told about their program (tier changes, expiring points, rewards):
    the portal feed and the e-mails. A nested app of the engine, so its models have an
    app label of their own."""

    name = "programs.notifications"
    label = "notifications"
    verbose_name = _("Notifications")
