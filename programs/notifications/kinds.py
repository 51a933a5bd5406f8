"""The kinds of notification and the states of their e-mails (apart from the model, so
that the texts can name them without importing the model that renders with them)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class NotificationKind(models.TextChoices):
    TIER_UPGRADE = "tier_upgrade", _("Tier upgrade")
    TIER_DOWNGRADE = "tier_downgrade", _("Tier downgrade")
    TIER_APPROACHING = "tier_approaching", _("Next tier within reach")
    POINTS_EXPIRING = "points_expiring", _("Points about to expire")
    REFERRAL_REWARDED = "referral_rewarded", _("Referral reward earned")
    REWARD_REDEEMED = "reward_redeemed", _("Reward redeemed")
    OCCASION = "occasion", _("Birthday or anniversary bonus")
    SEGMENT_MESSAGE = "segment_message", _("Message from the program")
    RETENTION_NOTICE = "retention_notice", _("Account to be deleted for inactivity")


class EmailState(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SENT = "sent", _("Sent")
    SKIPPED = "skipped", _("Not sent (preferences or no address)")
    FAILED = "failed", _("Failed")
