"""Members as rows for a file (CSV or Excel): one row per membership, with the member's
points, tier, figures (engagement score and churn risk, computed by ``surveys`` and stored
in ``MembershipFigures``), e-mail consents and the ids partners of the program know the
customer by. One query, read in chunks, so any number of members streams.

A customer without a preferences row yet has the defaults (``customers.preferences``
creates the row on first use): marketing off, the rest on."""

from collections.abc import Iterator
from datetime import date, datetime

from django.contrib.postgres.aggregates import StringAgg
from django.db.models import F, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Concat
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.models import CommunicationPreferences, Customer, Language
from programs.models import Membership, MembershipFigures, MembershipStatus, PartnerCustomer

CHUNK_SIZE = 2000

CONSENTS = (
    "email_marketing",
    "email_surveys",
    "email_tier_changes",
    "email_tier_progress",
    "email_points_expiry",
    "email_rewards",
    "email_referrals",
)


def _label(model, name: str):
    return model._meta.get_field(name).verbose_name


def members_export_header() -> list[str]:
    """The column names in the active language (German unless the page is English)."""
    names = [
        gettext_lazy("membership id"),
        _label(Membership, "card_number"),
        _label(Membership, "program"),
        _label(Customer, "first_name"),
        _label(Customer, "last_name"),
        _label(Customer, "email"),
        _label(Customer, "language"),
        _label(Membership, "status"),
        _label(Membership, "tier"),
        gettext_lazy("available points"),
        _label(Membership, "pending"),
        _label(MembershipFigures, "engagement_score"),
        _label(MembershipFigures, "churn_risk"),
        _label(Membership, "joined_at"),
        _label(Membership, "last_activity_at"),
        *(_label(CommunicationPreferences, name) for name in CONSENTS),
        gettext_lazy("partners' customer ids"),
    ]
    return [capfirst(str(name)) for name in names]


def _partner_ids():
    """'Partner: id' for each partner of the membership's program that linked the
    customer, by partner name, separated by '; '."""
    links = (
        PartnerCustomer.objects.filter(
            customer=OuterRef("customer_id"), partner__programs=OuterRef("program_id")
        )
        .values("customer")
        .annotate(
            ids=StringAgg(
                Concat("partner__name", Value(": "), "external_id"),
                delimiter="; ",
                order_by=("partner__name", "external_id"),
            )
        )
        .values("ids")
    )
    return Subquery(links)


def _consent(name: str):
    default = CommunicationPreferences._meta.get_field(name).default
    return Coalesce(f"customer__communication_preferences__{name}", Value(default))


def local_naive(moment: datetime | None) -> datetime | str:
    """A time as the local wall clock shows it, to the second (Excel knows no time zones);
    empty when not known."""
    if moment is None:
        return ""
    return timezone.localtime(moment).replace(tzinfo=None, microsecond=0)


def local_day(moment: datetime | None) -> date | str:
    return timezone.localdate(moment) if moment is not None else ""


def members_export_rows(memberships: QuerySet[Membership]) -> Iterator[list]:
    """One row per membership of ``memberships`` (columns as ``members_export_header()``),
    by membership id. Words (status, language, yes/no) are translated now, in the
    caller's language, not while the rows stream."""
    words = {True: _("yes"), False: _("no"), None: ""}
    statuses = {value: str(label) for value, label in MembershipStatus.choices}
    languages = {value: str(label) for value, label in Language.choices}
    values = (
        memberships.annotate(
            export_available=F("balance") - F("debt"),
            export_partner_ids=_partner_ids(),
            **{f"export_{name}": _consent(name) for name in CONSENTS},
        )
        .order_by("pk")
        .values_list(
            "pk",
            "card_number",
            "program__name",
            "customer__first_name",
            "customer__last_name",
            "customer__email",
            "customer__language",
            "status",
            "tier__name",
            "export_available",
            "pending",
            "figures__engagement_score",
            "figures__churn_risk",
            "joined_at",
            "last_activity_at",
            *(f"export_{name}" for name in CONSENTS),
            "export_partner_ids",
        )
    )

    def rows():
        for row in values.iterator(chunk_size=CHUNK_SIZE):
            (pk, card, program, first_name, last_name, email, language, status, tier) = row[:9]
            available, pending, engagement, churn_risk, joined, last_activity = row[9:15]
            consents, partner_ids = row[15:-1], row[-1]
            yield [
                pk,
                card,
                program,
                first_name,
                last_name,
                email,
                languages.get(language, language),
                statuses.get(status, status),
                tier or "",
                available,
                pending,
                "" if engagement is None else engagement,
                words[churn_risk],
                local_day(joined),
                local_naive(last_activity),
                *(words[consent] for consent in consents),
                partner_ids or "",
            ]

    return rows()


def members_export_filename(*, extension: str, today: date | None = None) -> str:
    today = today or timezone.localdate()
    return f"mitglieder-{today.isoformat()}.{extension}"
