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
    LINK_REQUEST = "link_request", _("A partner asks to link your account")


class EmailState(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SENT = "sent", _("Sent")
    SKIPPED = "skipped", _("Not sent (preferences or no address)")
    FAILED = "failed", _("Failed")


# The switch (``customers.preferences``) that decides the e-mail of each kind of notification.
EMAIL_SWITCH = {
    NotificationKind.TIER_UPGRADE: "email_tier_changes",
    NotificationKind.TIER_DOWNGRADE: "email_tier_changes",
    NotificationKind.TIER_APPROACHING: "email_tier_progress",
    NotificationKind.POINTS_EXPIRING: "email_points_expiry",
    NotificationKind.REWARD_REDEEMED: "email_rewards",
    NotificationKind.REFERRAL_REWARDED: "email_referrals",
    # a birthday greeting is advertising (UWG section 7): only with the marketing opt-in
    NotificationKind.OCCASION: "email_marketing",
    NotificationKind.SEGMENT_MESSAGE: "email_marketing",  # staff's news and offers
    # a service notice the customer cannot switch off: their account is about to be deleted
    NotificationKind.RETENTION_NOTICE: None,
    # the customer decides whether a partner may see their account: always asked
    NotificationKind.LINK_REQUEST: None,
}
