"""Inviting members to surveys: throttled, one at a time or set-based for a segment (saved,
or chosen by filters) or after purchases. The e-mails go out from the worker after the commit
(``surveys.services.invitation_emails``)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from customers.models import Customer
from loyalty_site.core.commit import enqueue_after_commit
from programs.models import (
    Membership,
    MembershipStatus,
    Partner,
    PartnerCustomer,
    Purchase,
    PurchaseStatus,
    Segment,
    Tier,
)
from programs.segments import segment_members as saved_segment_members
from surveys.errors import InvitationThrottled, SurveyInactive
from surveys.models import Channel, Invitation, Survey

BATCH_SIZE = 1000
# Enqueued by name: the tasks module imports this one.
SEND_TASK = "surveys.tasks.send_invitation_task"
SEND_DUE_TASK = "surveys.tasks.send_due_invitations_task"
PURCHASE_LOOKBACK_DAYS = 3  # a missed nightly run still finds its purchases


def cooldown() -> timedelta:
    return timedelta(days=settings.SURVEY_COOLDOWN_DAYS)


def _recent(now: datetime, survey: Survey) -> tuple[Q, Q]:
    """Invitations that block a new one: any survey within the cool-down, this survey
    within its recontact interval."""
    any_survey = Q(created_at__gt=now - cooldown())
    this_survey = Q(survey=survey, created_at__gt=now - timedelta(days=survey.recontact_days))
    return any_survey, this_survey


def throttle_reason(*, customer_id: int, survey: Survey, now: datetime) -> str | None:
    """Why this customer may not be invited to ``survey`` now, or None if they may."""
    any_survey, this_survey = _recent(now, survey)
    recent = Invitation.objects.filter(customer_id=customer_id)
    last_same = recent.filter(this_survey).order_by("-created_at").first()
    if last_same is not None:
        until = last_same.created_at + timedelta(days=survey.recontact_days)
        return _(
            "Invited to this survey on %(last)s; the recontact interval of %(days)d days "
            "allows the next invitation from %(until)s."
        ) % {
            "last": date_format(timezone.localtime(last_same.created_at)),
            "days": survey.recontact_days,
            "until": date_format(timezone.localtime(until)),
        }
    last_any = recent.filter(any_survey).order_by("-created_at").first()
    if last_any is not None:
        until = last_any.created_at + cooldown()
        return _(
            "Invited to a survey on %(last)s; the cool-down of %(days)d days between any two "
            "surveys allows the next invitation from %(until)s."
        ) % {
            "last": date_format(timezone.localtime(last_any.created_at)),
            "days": settings.SURVEY_COOLDOWN_DAYS,
            "until": date_format(timezone.localtime(until)),
        }
    return None


def _check_survey(survey: Survey, membership_program_id: int) -> None:
    if not survey.is_active:
        raise SurveyInactive(f"The survey '{survey.name}' is not active.")
    if survey.program_id != membership_program_id:
        raise SurveyInactive("The survey belongs to another program than the membership.")


@transaction.atomic
def invitation_create(
    *,
    survey: Survey,
    membership: Membership,
    channel: str,
    partner: Partner | None = None,
    purchase: Purchase | None = None,
    user=None,
    now: datetime | None = None,
) -> Invitation:
    """Invite one member, unless throttled (``InvitationThrottled`` with the reason).

    The customer row is locked first, so two concurrent invitations of the same customer
    cannot both pass the throttle. The e-mail is sent by a task after the commit."""
    now = now or timezone.now()
    _check_survey(survey, membership.program_id)
    if membership.status != MembershipStatus.ACTIVE:
        raise SurveyInactive("Only active members can be invited.")
    customer = Customer.objects.select_for_update().get(pk=membership.customer_id)
    reason = throttle_reason(customer_id=customer.pk, survey=survey, now=now)
    if reason is not None:
        raise InvitationThrottled(reason, reason=reason)
    invitation = Invitation.objects.create(
        survey=survey,
        membership=membership,
        customer=customer,
        channel=channel,
        partner=partner,
        purchase=purchase,
        created_by=user,
        language=customer.language or settings.LANGUAGE_CODE,
        created_at=now,
        expires_at=now + timedelta(days=survey.valid_days),
        email_next_attempt_at=now,
    )
    enqueue_after_commit(SEND_TASK, invitation.pk)  # the beat job sends missed ones
    return invitation


@dataclass(frozen=True)
class SegmentResult:
    matched: int
    invited: int

    @property
    def throttled(self) -> int:
        return self.matched - self.invited


def segment_members(
    *,
    survey: Survey,
    segment: Segment | None = None,
    tier: Tier | None = None,
    partner: Partner | None = None,
    engagement: tuple[int, int] | None = None,
    now: datetime | None = None,
) -> QuerySet[Membership]:
    """Active members of the survey's program with an e-mail address; of those, only the
    members of a saved ``segment`` of the program (``programs.segments``, evaluated at
    ``now``), of one tier, linked to one partner, or with an engagement score in
    [low, high): every one given must hold (the admin form offers a segment or filters)."""
    if segment is not None:
        if segment.program_id != survey.program_id:
            raise SurveyInactive("The segment belongs to another program than the survey.")
        members = saved_segment_members(segment, now=now)
    else:
        members = Membership.objects.filter(
            program=survey.program_id,
            status=MembershipStatus.ACTIVE,
            customer__anonymized_at__isnull=True,
        )
    members = members.exclude(customer__email="")
    if tier is not None:
        members = members.filter(tier=tier)
    if partner is not None:
        members = members.filter(
            Exists(PartnerCustomer.objects.filter(partner=partner, customer=OuterRef("customer")))
        )
    if engagement is not None:
        low, high = engagement
        members = members.filter(
            figures__engagement_score__gte=low, figures__engagement_score__lt=high
        )
    return members


def _not_throttled(members: QuerySet[Membership], survey: Survey, now: datetime):
    any_survey, this_survey = _recent(now, survey)
    blocking = Invitation.objects.filter(customer=OuterRef("customer")).filter(
        any_survey | this_survey
    )
    return members.exclude(Exists(blocking))


def _bulk_invite(rows, *, survey: Survey, channel: str, now: datetime, user=None) -> int:
    """Insert invitations for ``(membership_id, customer_id, language, partner_id,
    purchase_id)`` rows in batches; returns how many were inserted."""
    expires_at = now + timedelta(days=survey.valid_days)
    created, batch = 0, []

    def flush():
        nonlocal created
        Invitation.objects.bulk_create(batch, ignore_conflicts=True)
        created += len(batch)
        batch.clear()

    for membership_id, customer_id, language, partner_id, purchase_id in rows:
        batch.append(
            Invitation(
                survey=survey,
                membership_id=membership_id,
                customer_id=customer_id,
                channel=channel,
                partner_id=partner_id,
                purchase_id=purchase_id,
                created_by=user,
                language=language or settings.LANGUAGE_CODE,
                created_at=now,
                expires_at=expires_at,
                email_next_attempt_at=now,
            )
        )
        if len(batch) >= BATCH_SIZE:
            flush()
    if batch:
        flush()
    return created


def _send_due_after_commit() -> None:
    enqueue_after_commit(SEND_DUE_TASK)


@transaction.atomic
def invitations_for_segment(
    *,
    survey: Survey,
    segment: Segment | None = None,
    tier: Tier | None = None,
    partner: Partner | None = None,
    engagement: tuple[int, int] | None = None,
    user=None,
    now: datetime | None = None,
) -> SegmentResult:
    """Invite every member of a segment who is not throttled, set-based (one INSERT per
    thousand members): a saved ``segment``, or the members the filters choose. The
    survey row is locked so two staff sends run one after the other; the e-mails go out
    from the worker after the commit."""
    now = now or timezone.now()
    survey = Survey.objects.select_for_update().get(pk=survey.pk)
    if not survey.is_active:
        raise SurveyInactive(f"The survey '{survey.name}' is not active.")
    members = segment_members(
        survey=survey,
        segment=segment,
        tier=tier,
        partner=partner,
        engagement=engagement,
        now=now,
    )
    matched = members.count()
    rows = (
        _not_throttled(members, survey, now)
        .order_by("pk")
        .values_list("pk", "customer_id", "customer__language")
    )
    invited = _bulk_invite(
        ((m, c, lang, partner.pk if partner else None, None) for m, c, lang in rows.iterator()),
        survey=survey,
        channel=Channel.STAFF,
        now=now,
        user=user,
    )
    _send_due_after_commit()
    return SegmentResult(matched=matched, invited=invited)


@transaction.atomic
def invitations_after_purchases(*, now: datetime | None = None) -> int:
    """Invite members whose purchase was awarded ``SURVEY_PURCHASE_DELAY_DAYS`` ago to each
    active after-purchase survey of the program (their latest such purchase, one
    invitation per member, throttled). Safe to run twice: (survey, purchase) is unique
    and the throttle sees the first run's invitations."""
    now = now or timezone.now()
    until = now - timedelta(days=settings.SURVEY_PURCHASE_DELAY_DAYS)
    since = until - timedelta(days=PURCHASE_LOOKBACK_DAYS)
    invited = 0
    for survey in Survey.objects.filter(is_active=True, after_purchase=True).order_by("pk"):
        purchases = Purchase.objects.filter(
            membership=OuterRef("pk"),
            status=PurchaseStatus.AWARDED,
            occurred_at__gt=since,
            occurred_at__lte=until,
        ).order_by("-occurred_at", "-pk")
        members = (
            segment_members(survey=survey)
            .annotate(
                last_purchase=Subquery(purchases.values("pk")[:1]),
                last_partner=Subquery(purchases.values("partner_id")[:1]),
            )
            .filter(last_purchase__isnull=False)
        )
        rows = (
            _not_throttled(members, survey, now)
            .order_by("pk")
            .values_list("pk", "customer_id", "customer__language", "last_partner", "last_purchase")
        )
        invited += _bulk_invite(rows.iterator(), survey=survey, channel=Channel.PURCHASE, now=now)
    if invited:
        _send_due_after_commit()
    return invited
