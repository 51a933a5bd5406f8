"""What a campaign asks of a purchase and a member, as plain values: ``CampaignTerms``.

Built from a saved ``Campaign`` (``terms_of``) or from a draft that was never saved (the
what-if), so that the award path and a simulation apply the same rules. Pure: no queries.

* **Audience** (``reaches``): a campaign with a fixed audience reaches only the members of
  it not held out; tiers (empty: all), the posting partner (empty: any) and "first purchase
  only" are checked at each purchase.
* **Purchase conditions** (``times_match``, ``line_matches``): the date window, weekdays
  and hours in local time, categories or SKUs; the minimum spend counts the qualifying
  lines of the purchase (``programs.earning``).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from programs.models import Campaign, CampaignEffect


@dataclass(frozen=True)
class CampaignTerms:
    pk: int
    name: str
    starts_at: datetime
    ends_at: datetime
    effect: str = CampaignEffect.MULTIPLIER
    multiplier: Decimal = Decimal(2)
    bonus_points: int = 0
    categories: frozenset[str] = frozenset()
    skus: frozenset[str] = frozenset()
    weekdays: frozenset[int] = frozenset()  # 0 = Monday
    hour_from: int | None = None
    hour_until: int | None = None
    min_spend: Decimal | None = None
    first_purchase_only: bool = False
    tier_ids: frozenset[int] = frozenset()
    partner_id: int | None = None
    has_audience: bool = False
    cap_per_member: int | None = None
    cap_per_member_day: int | None = None
    budget_points: int | None = None

    @property
    def fixed(self) -> bool:
        return self.effect == CampaignEffect.FIXED


def terms_of(campaign: Campaign, tier_ids: Iterable[int] | None = None) -> CampaignTerms:
    """The terms of a saved campaign; ``tier_ids`` when already loaded (else its tiers are
    read: prefetch ``tiers`` for many campaigns)."""
    if tier_ids is None:
        tier_ids = [t.pk for t in campaign.tiers.all()]
    return CampaignTerms(
        pk=campaign.pk,
        name=campaign.name,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        effect=campaign.effect,
        multiplier=Decimal(campaign.multiplier),
        bonus_points=campaign.bonus_points or 0,
        categories=frozenset(campaign.categories or ()),
        skus=frozenset(campaign.skus or ()),
        weekdays=frozenset(campaign.weekdays or ()),
        hour_from=campaign.hour_from,
        hour_until=campaign.hour_until,
        min_spend=campaign.min_spend,
        first_purchase_only=campaign.first_purchase_only,
        tier_ids=frozenset(tier_ids),
        partner_id=campaign.partner_id,
        has_audience=campaign.has_audience,
        cap_per_member=campaign.cap_per_member,
        cap_per_member_day=campaign.cap_per_member_day,
        budget_points=campaign.budget_points,
    )


def times_match(terms: CampaignTerms, at: datetime) -> bool:
    """In the window, on one of its weekdays and within its hours (local time). Hours
    that wrap midnight (22 to 2) run over it."""
    if not terms.starts_at <= at < terms.ends_at:
        return False
    if not terms.weekdays and terms.hour_from is None and terms.hour_until is None:
        return True
    local = timezone.localtime(at)
    if terms.weekdays and local.weekday() not in terms.weekdays:
        return False
    start = terms.hour_from if terms.hour_from is not None else 0
    end = terms.hour_until if terms.hour_until is not None else 24
    if start < end:
        return start <= local.hour < end
    return local.hour >= start or local.hour < end


def line_matches(terms: CampaignTerms, category: str, sku: str) -> bool:
    if not terms.categories and not terms.skus:
        return True
    return (bool(category) and category in terms.categories) or (bool(sku) and sku in terms.skus)


def reaches(
    terms: CampaignTerms,
    *,
    tier_id: int | None,
    partner_id: int | None,
    first_purchase: bool,
    reached: bool,
) -> bool:
    """Whether the campaign applies to this member's purchase. ``reached``: the member is
    in the campaign's fixed audience and not held out (ignored without an audience)."""
    if terms.has_audience and not reached:
        return False
    if terms.tier_ids and tier_id not in terms.tier_ids:
        return False
    if terms.partner_id is not None and partner_id != terms.partner_id:
        return False
    return first_purchase or not terms.first_purchase_only
