"""A segment's members as rows for a file (CSV or Excel): one row per member, read in
chunks. The marketing export holds only customers who agreed to marketing e-mails
(``CommunicationPreferences.email_marketing``) and have an e-mail address."""

from collections.abc import Iterator
from datetime import date, datetime

from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone
from django.utils.text import capfirst, slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.models import CommunicationPreferences
from programs.models import Purchase, PurchaseStatus, Segment
from programs.segments import segment_members

CHUNK_SIZE = 2000

EXPORT_COLUMNS = (
    gettext_lazy("membership id"),
    gettext_lazy("name"),
    gettext_lazy("e-mail"),
    gettext_lazy("tier"),
    gettext_lazy("available points"),
    gettext_lazy("engagement score"),
    gettext_lazy("churn risk"),
    gettext_lazy("last purchase"),
    gettext_lazy("birthday month"),
    gettext_lazy("marketing e-mails allowed"),
)


def export_header() -> list[str]:
    return [capfirst(str(name)) for name in EXPORT_COLUMNS]


def _consent():
    return Exists(
        CommunicationPreferences.objects.filter(
            customer=OuterRef("customer_id"), email_marketing=True
        )
    )


def segment_export_members(segment: Segment, *, marketing_only: bool, now: datetime | None = None):
    """The memberships a segment's file holds (the marketing file: those who agreed and
    have an address), with what the rows need besides the membership's own columns."""
    last_purchase = (
        Purchase.objects.filter(membership=OuterRef("pk"), status=PurchaseStatus.AWARDED)
        .order_by("-occurred_at")
        .values("occurred_at")[:1]
    )
    members = segment_members(segment, now=now).annotate(
        consented=_consent(), last_purchase_at=Subquery(last_purchase)
    )
    if marketing_only:
        members = members.filter(consented=True).exclude(customer__email="")
    return members


def segment_export_rows(
    segment: Segment, *, marketing_only: bool, now: datetime | None = None, members=None
) -> Iterator[list]:
    """One row per member of the segment (columns as ``export_header()``), by membership
    id, read as plain values in chunks. Dates are the local calendar day; a value not
    known is empty. ``members``: ``segment_export_members``, if already built."""
    if members is None:
        members = segment_export_members(segment, marketing_only=marketing_only, now=now)
    values = members.order_by("pk").values_list(
        "pk",
        "customer__first_name",
        "customer__last_name",
        "customer__email",
        "tier__name",
        "balance",
        "figures__engagement_score",
        "figures__churn_risk",
        "last_purchase_at",
        "customer__birth_date",
        "consented",
    )
    words = {True: _("yes"), False: _("no"), None: ""}  # translated once, not per row
    zone = timezone.get_current_timezone()
    for (
        pk,
        first_name,
        last_name,
        email,
        tier,
        balance,
        engagement,
        churn_risk,
        bought_at,
        birth_date,
        consented,
    ) in values.iterator(chunk_size=CHUNK_SIZE):
        yield [
            pk,
            f"{first_name} {last_name}".strip(),
            email,
            tier or "",
            balance,
            "" if engagement is None else engagement,
            words[churn_risk],
            bought_at.astimezone(zone).date() if bought_at else "",
            birth_date.month if birth_date else "",
            words[consented],
        ]


def segment_export_filename(
    segment: Segment, *, marketing_only: bool, extension: str, today: date | None = None
) -> str:
    """The file's name says which segment, which members and when:
    ``segment-stammkunden-marketing-einwilligung-2025-03-01.xlsx``."""
    today = today or timezone.localdate()
    audience = "marketing-einwilligung" if marketing_only else "alle-mitglieder"
    name = slugify(segment.name) or f"{segment.pk}"
    return f"segment-{name}-{audience}-{today.isoformat()}.{extension}"
