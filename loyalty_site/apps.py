from django.apps import AppConfig


class LoyaltySiteConfig(AppConfig):
    name = "loyalty_site"
    verbose_name = "Loyalty site"

    def ready(self):
        from loyalty_site import timestamps  # noqa: F401 - connects its connection_created receiver
