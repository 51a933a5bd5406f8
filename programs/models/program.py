from datetime import date

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .fields import currency_field, factor_field, money_field

# No loyalty history is older than this; it keeps dates like 0001-01-01 out of the ledger.
EARLIEST_HISTORY = date(1990, 1, 1)


class Rounding(models.TextChoices):
    DOWN = "down", _("Round down")
    NEAREST = "nearest", _("Round to nearest (half up)")


class RuleCombination(models.TextChoices):
    STACK = "stack", _("Stack: every matching rule adds its bonus")
    BEST_OF = "best_of", _("Best of: only the highest multiplier counts")


class ExpiryPolicy(models.TextChoices):
    NEVER = "never", _("Points never expire")
    FIXED_PERIOD = "fixed_period", _("A fixed number of months after earning")
    END_OF_FOLLOWING_YEAR = "end_of_following_year", _("End of the following calendar year")
    INACTIVITY = "inactivity", _("All points lapse after months without activity")


class RedemptionOrder(models.TextChoices):
    OLDEST_EARNED = "oldest_earned", _("Oldest earned first")
    SOONEST_EXPIRING = "soonest_expiring", _("Soonest expiring first")


class ReturnPolicy(models.TextChoices):
    PENDING_ONLY = "pending_only", _("Reverse only points that are still pending")
    WITHIN_AVAILABLE = "within_available", _("Reverse within the available balance")
    ALLOW_NEGATIVE = "allow_negative", _("Reverse all; a negative balance blocks redemptions")


class TierMetric(models.TextChoices):
    SPEND = "spend", _("Qualifying spend")
    POINTS = "points", _("Points earned")


class TierWindow(models.TextChoices):
    ROLLING_12_MONTHS = "rolling_12_months", _("Rolling 12 months")
    CALENDAR_YEAR = "calendar_year", _("Calendar year")


class DowngradeMode(models.TextChoices):
    ONE_STEP = "one_step", _("One tier at a time")
    TO_QUALIFIED = "to_qualified", _("Straight to the tier the figures support")


class Program(models.Model):
    """A loyalty program and every rule that decides how points are earned and lost."""

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), unique=True)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    currency = currency_field(_("currency"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    history_starts_on = models.DateField(
        _("history starts on"),
        default=timezone.localdate,
        validators=[MinValueValidator(EARLIEST_HISTORY)],
        help_text=_(
            "Purchases and actions dated earlier are refused. A new program starts on the day "
            "it is created; set an earlier day before importing older history."
        ),
    )

    # Spend-based earning
    points_per_unit = models.DecimalField(
        _("points per currency unit"),
        max_digits=8,
        decimal_places=4,
        default=1,
        help_text=_("e.g. 1 = one point per euro spent."),
    )
    rounding = models.CharField(
        _("rounding"), max_length=10, choices=Rounding.choices, default=Rounding.DOWN
    )
    min_purchase_amount = money_field(_("minimum purchase amount"), default=0)
    rule_combination = models.CharField(
        _("how rules combine"),
        max_length=10,
        choices=RuleCombination.choices,
        default=RuleCombination.STACK,
    )
    pending_days = models.PositiveSmallIntegerField(
        _("return window (days)"),
        default=14,
        help_text=_("Points from a purchase stay pending this long, then become available."),
    )

    # Expiry and redemption
    expiry_policy = models.CharField(
        _("expiry policy"),
        max_length=30,
        choices=ExpiryPolicy.choices,
        default=ExpiryPolicy.FIXED_PERIOD,
    )
    expiry_months = models.PositiveSmallIntegerField(
        _("expiry months"),
        default=24,
        help_text=_("Months after earning (fixed period) or without activity (inactivity)."),
    )
    redemption_order = models.CharField(
        _("lots consumed first"),
        max_length=20,
        choices=RedemptionOrder.choices,
        default=RedemptionOrder.SOONEST_EXPIRING,
    )
    return_policy = models.CharField(
        _("return policy"),
        max_length=20,
        choices=ReturnPolicy.choices,
        default=ReturnPolicy.WITHIN_AVAILABLE,
    )
    point_value = models.DecimalField(
        _("value of one point"),
        max_digits=10,
        decimal_places=4,
        default="0.0100",
        help_text=_("In the program currency; used for the outstanding points liability."),
    )

    # Tiers
    tier_metric = models.CharField(
        _("tier qualification metric"),
        max_length=10,
        choices=TierMetric.choices,
        default=TierMetric.SPEND,
    )
    tier_window = models.CharField(
        _("tier qualification window"),
        max_length=20,
        choices=TierWindow.choices,
        default=TierWindow.ROLLING_12_MONTHS,
    )
    downgrade_mode = models.CharField(
        _("downgrade"), max_length=20, choices=DowngradeMode.choices, default=DowngradeMode.ONE_STEP
    )
    downgrade_grace_days = models.PositiveSmallIntegerField(_("downgrade grace (days)"), default=0)
    approaching_tier_percent = models.PositiveSmallIntegerField(
        _("'almost there' distance (%)"),
        default=10,
        help_text=_("Notify members when they are this close to the next tier's threshold."),
    )

    # Referrals
    referral_enabled = models.BooleanField(_("referrals enabled"), default=False)
    referrer_points = models.PositiveIntegerField(_("points for the referrer"), default=0)
    referee_points = models.PositiveIntegerField(_("points for the friend"), default=0)
    referral_min_purchase = money_field(_("friend's minimum first purchase"), default=0)
    referral_cap = models.PositiveSmallIntegerField(
        _("rewarded referrals per referrer and period"), default=10
    )
    referral_cap_days = models.PositiveSmallIntegerField(
        _("referral cap period (days)"), default=365
    )

    # Shared accounts and transfers (programs.services.accounts, .transfers)
    accounts_pool = models.BooleanField(
        _("shared accounts pool their points"),
        default=True,
        help_text=_(
            "On: members of a business or household account earn into the account's balance "
            "and tier. Off: each keeps their own balance; the account shows the combined figures."
        ),
    )
    transfers_enabled = models.BooleanField(_("members may give points"), default=False)
    transfer_daily_limit = models.PositiveIntegerField(
        _("points a member may give per day"), default=2000
    )
    transfer_yearly_limit = models.PositiveIntegerField(
        _("points a member may give per year"), default=20000
    )
    transfer_min_age_days = models.PositiveSmallIntegerField(
        _("days a member must have been in the program before giving points"), default=30
    )
    transfer_review_above = models.PositiveIntegerField(
        _("transfers above this many points wait for review"),
        default=5000,
        help_text=_("Transfers to a recipient who received from three others in 30 days wait too."),
    )

    # Occasions: a daily job gives these once a year per member (0: none)
    birthday_points = models.PositiveIntegerField(
        _("birthday bonus (points)"), default=0, help_text=_("0: no birthday bonus.")
    )
    anniversary_points = models.PositiveIntegerField(
        _("membership anniversary bonus (points)"),
        default=0,
        help_text=_("0: no anniversary bonus."),
    )

    class Meta:
        verbose_name = _("program")
        verbose_name_plural = _("programs")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(points_per_unit__gte=0), name="program_points_per_unit_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(min_purchase_amount__gte=0), name="program_min_purchase_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(point_value__gte=0), name="program_point_value_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TierKind(models.TextChoices):
    QUALIFIED = "qualified", _("Earned by qualifying figures")
    SUBSCRIPTION = "subscription", _("Bought for a period (VIP)")


class SubscriptionPeriod(models.TextChoices):
    MONTH = "month", _("Monthly")
    YEAR = "year", _("Yearly")


class Tier(models.Model):
    """A status level: reached by spend or points (qualified), or bought (subscription)."""

    program = models.ForeignKey(
        Program, verbose_name=_("program"), on_delete=models.CASCADE, related_name="tiers"
    )
    name = models.CharField(_("name"), max_length=60)
    rank = models.PositiveSmallIntegerField(
        _("rank"),
        help_text=_("Higher rank = higher tier. The lowest tier usually has threshold 0."),
    )
    kind = models.CharField(
        _("kind"), max_length=20, choices=TierKind.choices, default=TierKind.QUALIFIED
    )
    threshold = models.DecimalField(
        _("threshold"),
        max_digits=14,
        decimal_places=2,
        default=0,
        help_text=_(
            "Qualifying spend (program currency) or points earned, per the program setting."
        ),
    )
    earn_multiplier = factor_field(_("earn multiplier"))
    benefits = models.TextField(_("benefits"), blank=True, help_text=_("One benefit per line."))
    subscription_price = money_field(_("subscription price"), null=True, blank=True)
    subscription_period = models.CharField(
        _("subscription period"),
        max_length=10,
        choices=SubscriptionPeriod.choices,
        blank=True,
    )

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["program", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["program", "rank"], name="tier_unique_rank"),
            models.UniqueConstraint(fields=["program", "name"], name="tier_unique_name"),
            models.CheckConstraint(condition=Q(threshold__gte=0), name="tier_threshold_gte_0"),
            models.CheckConstraint(
                condition=Q(earn_multiplier__gte=0), name="tier_earn_multiplier_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(kind="qualified")
                | (Q(subscription_price__gt=0) & ~Q(subscription_period="")),
                name="tier_subscription_has_price_and_period",
                violation_error_message=_("A subscription tier needs a price and a period."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.program})" if self.program_id else self.name

    @property
    def benefit_list(self) -> list[str]:
        return [line.strip() for line in self.benefits.splitlines() if line.strip()]
