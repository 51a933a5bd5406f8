from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    """``loyalty_site.core`` as an app (label ``core``) for the one table it owns: the staff
    audit log (``loyalty_site.core.models.AuditEntry``). The log is a mechanism every app
    writes through (the admin and the point and tier services alike), so it sits in the
    bottom package, which imports no app; being an app of its own gives it migrations of
    its own, with the append-only trigger, without a model in ``loyalty_site``."""

    name = "loyalty_site.core"
    label = "core"
    verbose_name = _("Staff audit")
