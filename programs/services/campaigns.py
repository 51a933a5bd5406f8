"""Campaigns: saving one, and fixing its audience when it is switched on.

A campaign with a segment or a holdout reaches a fixed list of members
(``CampaignMember``), written once, when staff first save it active: the segment's
members then (or every active member, for a holdout without a segment), each drawn into
the holdout or not by ``holdout_assign``. The draw is a hash of the campaign and the
membership: stable (the same member is always in the same group of a campaign), close to
the configured share, and the same in SQL and in Python."""

import hashlib

from django.db import connection, transaction
from django.utils import timezone

from programs.models import Campaign, CampaignMember, Membership, MembershipStatus
from programs.segments import segment_members
from programs.services.purchases import program_earning_forget

# The draw: the first 8 hex digits of md5("<campaign>:<membership>") modulo 10,000,
# below the share in hundredths of a percent.
DRAW_BUCKETS = 10_000
_DRAW_SQL = "(('x' || substr(md5(%s || ':' || m.id::text), 1, 8))::bit(32)::bigint %% 10000)"


def holdout_assign(campaign_id: int, membership_id: int, percent: int) -> bool:
    """Whether the member is held out of the campaign (the SQL below draws the same)."""
    digest = hashlib.md5(f"{campaign_id}:{membership_id}".encode()).hexdigest()  # noqa: S324
    return int(digest[:8], 16) % DRAW_BUCKETS < percent * 100


def campaign_save(campaign: Campaign, *, now=None) -> Campaign:
    """Save a campaign (the admin's save) and, when it is active and reaches a fixed
    audience not yet fixed, fix it in the same transaction."""
    with transaction.atomic():
        campaign.save()
        if campaign.is_active and campaign.has_audience and campaign.audience_frozen_at is None:
            campaign_audience_freeze(campaign, now=now)
    program_earning_forget(campaign.program)
    return campaign


def campaign_audience_freeze(campaign: Campaign, *, now=None) -> int:
    """Write the campaign's audience (once: a second call adds nothing); returns how many
    members it holds."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.audience_frozen_at is not None:
            campaign.audience_frozen_at = locked.audience_frozen_at
            return CampaignMember.objects.filter(campaign=campaign).count()
        members = _audience(locked, now).values("id")
        sql, params = members.query.sql_with_params()
        with connection.cursor() as cursor:
            # Only a constant and Django's own compiled query are formatted in; the
            # values travel as parameters.
            insert = (
                "INSERT INTO programs_campaignmember (campaign_id, membership_id, in_holdout) "  # noqa: S608
                f"SELECT %s, m.id, {_DRAW_SQL} < %s FROM ({sql}) m "
                "ON CONFLICT (campaign_id, membership_id) DO NOTHING"
            )
            cursor.execute(
                insert,
                [locked.pk, str(locked.pk), locked.holdout_percent * 100, *params],
            )
            count = cursor.rowcount
        locked.audience_frozen_at = now
        locked.save(update_fields=["audience_frozen_at"])
        campaign.audience_frozen_at = now
    return count


def _audience(campaign: Campaign, now):
    if campaign.segment_id is not None:
        return segment_members(campaign.segment, now=now)
    return Membership.objects.filter(
        program_id=campaign.program_id,
        status=MembershipStatus.ACTIVE,
        customer__anonymized_at__isnull=True,
    )


def campaign_audience_add(campaign: Campaign, membership_ids: list[int]) -> int:
    """Add members who belonged to the audience when it was fixed but are recorded only
    now (a data import, the demo's story), drawn as the freeze would have drawn them.
    Returns how many were added."""
    rows = [
        CampaignMember(
            campaign=campaign,
            membership_id=membership_id,
            in_holdout=holdout_assign(campaign.pk, membership_id, campaign.holdout_percent),
        )
        for membership_id in membership_ids
    ]
    return len(CampaignMember.objects.bulk_create(rows, ignore_conflicts=True))
