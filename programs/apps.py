from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProgramsConfig(AppConfig):
    name = "programs"
    verbose_name = _("Loyalty programs")

    def ready(self):
        from programs import (  # noqa: F401
            lookups,  # registers the ``__any`` lookup
            privacy,  # registers its steps of a customer's erasure
        )
