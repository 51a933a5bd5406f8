from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProgramsConfig(AppConfig):
    name = "programs"
    verbose_name = _("Loyalty programs")

    def ready(self):
        from programs import privacy  # noqa: F401 - registers its steps of a customer's erasure
        from programs.lookups import any_lookups_register

        any_lookups_register()
