from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class LoyaltySiteConfig(AppConfig):
    name = "loyalty_site"
    verbose_name = "Loyalty site"

    def ready(self):
        from loyalty_site import timestamps  # noqa: F401 - connects its connection_created receiver

        # Every app's tasks registered in every process (web included, not only the
        # worker): services enqueue their app's tasks by name (loyalty_site.core.commit).
        autodiscover_modules("tasks")
