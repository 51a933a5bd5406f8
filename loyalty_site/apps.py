from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class LoyaltySiteConfig(AppConfig):
    name = "loyalty_site"
    verbose_name = "Loyalty site"

    def ready(self):
        # Imported for what they connect: timestamps its connection_created receiver, the
        # staff modules their step of a customer's erasure and the second factor's login
        # receiver.
        from loyalty_site import timestamps  # noqa: F401
        from loyalty_site.staff import erasure, second_factor  # noqa: F401

        # Every app's tasks registered in every process (web included, not only the
        # worker): services enqueue their app's tasks by name (loyalty_site.core.commit).
        autodiscover_modules("tasks")
