"""What-if for a draft campaign (a form never saved, or a saved campaign switched off).

The last N months of purchases are replayed twice (``programs.what_if.replay``): with the
program's rules as they are, and with the draft campaign added, as if it had run over
them with all its conditions (weekdays, hours, categories, SKUs, minimum spend, first
purchase, tiers, partner), its effect, its caps per member and per day and its budget.
A saved campaign being edited is left out of both sides (the draft stands in for it).

**Its dates.** The draft keeps the length of its window, moved so that it ends when the
replayed period ends: a four-week campaign runs over the last four weeks of purchases.
A window longer than the period covers the whole period (``clipped``). The day its budget
would run out is given as a day of the campaign and as a date of its planned window.

**Its audience.** With a segment: the segment's members now (``programs.segments``).
With a holdout: that share of the audience (rounded down) is drawn at random (the same
draw for the same campaign) and kept back, as switching the campaign on would. A saved
campaign whose audience is fixed already keeps that audience and holdout.

The starting state is the tier what-if's (``programs.what_if.tiers``): members start the
period in the lowest tier and are upgraded as their purchases are replayed.
"""

import dataclasses
import random
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from programs.campaign_rules import CampaignTerms, terms_of
from programs.models import Campaign, CampaignMember, Membership, MembershipStatus, Program
from programs.models.campaigns import CAMPAIGN_RULE_FIELDS
from programs.what_if.loading import facts_load, period_of, rules_now
from programs.what_if.purchases import purchases_stream
from programs.what_if.replay import replay
from programs.what_if.side import Rules, Side
from programs.what_if.summary import InvalidProposal, money_data, period_data

DRAFT_ID = -1  # the id of a draft never saved: no campaign has it
# Form fields of a campaign the what-if reads (besides its program and tiers).
DRAFT_FIELDS = (
    "name",
    "starts_at",
    "ends_at",
    *(
        f"{name}_id" if name in ("segment", "partner") else name
        for name in CAMPAIGN_RULE_FIELDS
        if name != "tiers"
    ),
)


def draft_data(campaign: Campaign, tier_ids, *, campaign_id: int | None = None) -> dict:
    """An unsaved campaign (a form's instance) as the JSON a what-if run keeps."""
    data = {"campaign_id": campaign_id, "tier_ids": sorted(tier_ids)}
    for name in DRAFT_FIELDS:
        value = getattr(campaign, name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, list | tuple):
            value = list(value)
        data[name] = value
    return data


def draft_campaign(program: Program, data: dict) -> tuple[Campaign, list[int]]:
    """The unsaved campaign a ``draft_data`` describes, and its tier ids."""
    values = {name: data.get(name) for name in DRAFT_FIELDS}
    for name in ("starts_at", "ends_at"):
        values[name] = parse_datetime(values[name]) if values[name] else None
    for name in ("min_spend", "multiplier"):
        if values[name] is not None:
            values[name] = Decimal(values[name])
    if not values["starts_at"] or not values["ends_at"] or values["ends_at"] <= values["starts_at"]:
        raise InvalidProposal(_("The campaign needs a start and an end after it."))
    campaign = Campaign(program=program, **values)
    campaign.pk = data.get("campaign_id")
    return campaign, list(data.get("tier_ids") or [])


def draft_terms(
    campaign: Campaign, tier_ids, start: datetime, end: datetime
) -> tuple[CampaignTerms, timedelta]:
    """The draft's terms (``terms_of``) with its window moved onto the period ``[start,
    end)``, and how far it was moved."""
    terms = terms_of(campaign, tier_ids=tier_ids)
    shift = end - campaign.ends_at
    moved_start = max(campaign.starts_at + shift, start)
    terms = dataclasses.replace(
        terms, pk=campaign.pk or DRAFT_ID, starts_at=moved_start, ends_at=end
    )
    return terms, shift


def _window_data(campaign: Campaign, terms: CampaignTerms, shift: timedelta) -> dict:
    return {
        "name": campaign.name,
        "planned_start": campaign.starts_at.isoformat(),
        "planned_end": campaign.ends_at.isoformat(),
        "replayed_start": terms.starts_at.isoformat(),
        "replayed_end": terms.ends_at.isoformat(),
        "clipped": campaign.starts_at + shift < terms.starts_at,
    }


def draft_audience(program: Program, campaign: Campaign) -> tuple[set[int] | None, int]:
    """The members the draft reaches (None: everyone) and how many the holdout keeps back."""
    if campaign.segment_id is None and not campaign.holdout_percent:
        return None, 0
    fixed = CampaignMember.objects.filter(
        campaign_id=campaign.pk, campaign__audience_frozen_at__isnull=False
    )
    if campaign.pk and fixed.exists():
        reached = set(fixed.filter(in_holdout=False).values_list("membership_id", flat=True))
        return reached, fixed.filter(in_holdout=True).count()
    if campaign.segment_id is not None:
        audience = _segment_member_ids(campaign.segment)
    else:
        audience = set(
            Membership.objects.filter(program=program, status=MembershipStatus.ACTIVE).values_list(
                "pk", flat=True
            )
        )
    held = len(audience) * campaign.holdout_percent // 100
    draw = random.Random(f"what-if:{campaign.pk or 'draft'}")  # noqa: S311 - not a secret
    holdout = set(draw.sample(sorted(audience), held)) if held else set()
    return audience - holdout, held


def _segment_member_ids(segment) -> set[int]:
    try:
        from programs.segments import segment_members  # written alongside; may be missing
    except ImportError:
        raise InvalidProposal(
            _("Segments cannot be evaluated yet; replay the campaign without a segment.")
        ) from None
    members = segment_members(segment)
    if hasattr(members, "values_list"):
        return set(members.values_list("pk", flat=True))
    return {getattr(member, "pk", member) for member in members}


def what_if_campaign(
    program: Program, proposal: dict, months: int, *, now: datetime | None = None, progress=None
) -> dict:
    """Replay the last ``months`` months with the draft (``draft_data``'s form) added; the
    result as JSON-ready data."""
    start, end = period_of(months, now or timezone.now())
    campaign, tier_ids = draft_campaign(program, proposal)
    terms, shift = draft_terms(campaign, tier_ids, start, end)
    audience, held = draft_audience(program, campaign)
    current = rules_now(program, start, end, leave_out=campaign.pk)
    campaigns = sorted([*current.campaigns, terms], key=_award_order)
    budget = dict(current.budget_left)
    if terms.budget_points is not None:
        budget[terms.pk] = terms.budget_points
    proposed = Rules(program, current.tiers, current.rules, campaigns, budget)
    reached = {member_id: {terms.pk} for member_id in audience or ()}
    facts = facts_load(
        program,
        start,
        end,
        current.campaigns,
        reached=reached,
        first_purchase=terms.first_purchase_only,
    )
    without, with_draft = Side(current, facts), Side(proposed, facts)
    stream = purchases_stream(program.pk, start, end, progress)
    replayed = replay(stream, without, with_draft, draft_id=terms.pk)
    difference = with_draft.points - without.points
    return {
        "kind": "campaign",
        "period": period_data(start, end, months),
        "campaign": _window_data(campaign, terms, shift),
        "purchases": replayed,
        "members": len(without.standings),
        "audience": None if audience is None else len(audience),
        "holdout": held,
        "bonus_points": with_draft.bonus.get(terms.pk, 0),
        "members_receiving": len(with_draft.bonus_members.get(terms.pk, ())),
        "purchases_affected": with_draft.bonus_purchases.get(terms.pk, 0),
        **_budget_data(campaign, terms, with_draft, shift),
        "points_without": without.points,
        "points_with": with_draft.points,
        "points_difference": difference,
        **money_data(program, difference),
    }


def _award_order(terms: CampaignTerms):
    """Campaigns in the award path's order (by id); a draft would be saved last."""
    return terms.pk if terms.pk > 0 else float("inf")


def _budget_data(campaign: Campaign, terms: CampaignTerms, side: Side, shift) -> dict:
    """The budget, what is left of it, and when it would run out (if it would): when in
    the replay, on which day of the campaign, and on which date of its planned window."""
    data = {
        "budget_points": terms.budget_points,
        "budget_left": None,
        "budget_exhausted_at": None,
        "budget_exhausted_day": None,
        "budget_exhausted_planned": None,
    }
    if terms.budget_points is None:
        return data
    data["budget_left"] = max(0, side.budget_left[terms.pk])
    spent_at = side.exhausted_at.get(terms.pk)
    if spent_at is not None:
        planned = spent_at - shift
        data["budget_exhausted_at"] = spent_at.isoformat()
        data["budget_exhausted_day"] = (planned - campaign.starts_at).days + 1
        data["budget_exhausted_planned"] = planned.isoformat()
    return data
