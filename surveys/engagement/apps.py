from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EngagementConfig(AppConfig):
    """Engagement scores and churn flags per membership, recomputed nightly from purchases,
    referrals, redemptions, portal visits and survey answers."""

    name = "surveys.engagement"
    label = "engagement"
    verbose_name = _("Engagement")
