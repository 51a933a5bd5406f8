"""The nightly jobs, run on the nights of the story: the history is loaded in one go, so
pending points are released, lots expired and referrers rewarded on the night each fell
due (the job's moment dates the entries it writes), not all on the day of the load."""

from datetime import datetime, timedelta

from django.db.models import Min
from django.utils import timezone

from programs.models import PointLot, Referral, ReferralStatus
from programs.services import due

NIGHTLY_HOUR = 3  # the jobs' run, local time


def night_after(moment: datetime) -> datetime:
    """The first nightly run at or after ``moment``."""
    local = timezone.localtime(moment)
    night = local.replace(hour=NIGHTLY_HOUR, minute=0, second=0, microsecond=0)
    return night if night >= local else night + timedelta(days=1)


def _next_due(after: datetime | None, until: datetime) -> datetime | None:
    """The earliest moment after ``after`` (up to ``until``) at which something falls due."""

    def first(queryset, field: str):
        if after is not None:
            queryset = queryset.filter(**{f"{field}__gt": after})
        return queryset.filter(**{f"{field}__lte": until}).aggregate(first=Min(field))["first"]

    moments = [
        first(PointLot.objects.filter(released_at__isnull=True), "available_at"),
        first(
            PointLot.objects.filter(
                released_at__isnull=False, expired_at__isnull=True, remaining__gt=0
            ),
            "expires_at",
        ),
        first(Referral.objects.filter(status=ReferralStatus.QUALIFIED), "release_at"),
    ]
    return min(filter(None, moments), default=None)


def nights_run(*, until: datetime) -> int:
    """Run the release, expiry and referral jobs on every night before ``until`` on which
    something fell due, in order; returns the number of nights run. What falls due after
    the last night before ``until`` is left to a run at ``until``."""
    night, nights = None, 0
    while (moment := _next_due(night, until)) is not None:
        night = night_after(moment)
        if night > until:
            break
        due.points_release_due(night)
        due.points_expire_due(night)
        due.referrals_release_due(night)
        nights += 1
    return nights
