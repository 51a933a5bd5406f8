"""Referrals: registration with fraud checks, qualification by the friend's first purchase,
the referrer's reward held for the return window, and staff review.

Risk checks at registration (each adds a reason to the recorded verdict):

* self-referral: the same mailbox after normalisation (case, +tags, Gmail dots) -> blocked;
  the same device id or sign-up IP as the referrer's known signals -> suspicious;
* loops: the referrer was referred (directly or up the chain) by the friend -> blocked;
* the friend must be new to the program: no purchases before the referral -> blocked;
* the referrer's cap of rewarded referrals per period is reached -> blocked.

Blocked referrals are stored as rejected with their reasons; suspicious ones wait in the
admin review queue; clear ones proceed. A payment fingerprint seen on the friend's
qualifying purchase that matches one of the referrer's purchases sends it to review.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from programs.errors import ReferralNotAllowed
from programs.models import (
    EntrySource,
    Membership,
    MembershipStatus,
    PointLot,
    Purchase,
    PurchaseStatus,
    Referral,
    ReferralStatus,
    RiskVerdict,
)
from programs.services import events
from programs.services.events import event_record
from programs.services.ledger import Actor, points_earn
from programs.services.locking import lock_membership, lock_memberships
from programs.services.returns import points_reverse

MAX_CHAIN = 20


def _cap_reached(referrer: Membership, now) -> bool:
    program = referrer.program
    since = now - timedelta(days=program.referral_cap_days)
    counted = Referral.objects.filter(
        referrer=referrer,
        status__in=[ReferralStatus.QUALIFIED, ReferralStatus.REWARDED],
        created_at__gte=since,
    ).count()
    return counted >= program.referral_cap


def _referred_chain(membership: Membership) -> set[int]:
    """Ids of the memberships that referred this one, up the chain."""
    chain: set[int] = set()
    current = membership.pk
    for _ in range(MAX_CHAIN):
        parent = (
            Referral.objects.filter(referee_id=current)
            .exclude(status=ReferralStatus.REJECTED)
            .values_list("referrer_id", flat=True)
            .first()
        )
        if parent is None or parent in chain:
            break
        chain.add(parent)
        current = parent
    return chain


def referral_risk(
    referrer: Membership, referee: Membership, *, ip: str | None, device_id: str
) -> tuple[str, list[str]]:
    blocked: list[str] = []
    suspicious: list[str] = []
    a, b = referrer.customer, referee.customer
    if a.pk == b.pk or (a.email_normalized and a.email_normalized == b.email_normalized):
        blocked.append("self_referral_email")
    if referee.pk in _referred_chain(referrer):
        blocked.append("referral_loop")
    if Purchase.objects.filter(membership=referee).exists():
        blocked.append("friend_not_new")
    if _cap_reached(referrer, timezone.now()):
        blocked.append("referrer_cap_reached")
    signals = (
        Referral.objects.filter(referee=referrer).values("signup_ip", "signup_device_id").first()
    )
    referrer_purchases = Purchase.objects.filter(membership=referrer)
    if device_id and (
        (signals and signals["signup_device_id"] == device_id)
        or referrer_purchases.filter(device_id=device_id).exists()
    ):
        suspicious.append("same_device")
    if ip and (
        (signals and signals["signup_ip"] == ip)
        or referrer_purchases.filter(ip_address=ip).exists()
    ):
        suspicious.append("same_ip")
    if blocked:
        return RiskVerdict.BLOCKED, blocked + suspicious
    if suspicious:
        return RiskVerdict.SUSPICIOUS, suspicious
    return RiskVerdict.CLEAR, []


@transaction.atomic
def referral_register(
    *, referral_code: str, referee: Membership, ip: str | None = None, device_id: str = ""
) -> Referral:
    """Link a newly enrolled friend to the member whose code they used."""
    referrer = (
        Membership.objects.select_related("customer", "program")
        .filter(referral_code=referral_code.strip().upper())
        .first()
    )
    if (
        referrer is None
        or referrer.program_id != referee.program_id
        or referrer.status != MembershipStatus.ACTIVE
    ):
        raise ReferralNotAllowed("This referral code is not valid for this program.")
    if not referrer.program.referral_enabled:
        raise ReferralNotAllowed("This program has no referral scheme.")
    if Referral.objects.filter(referee=referee).exists():
        raise ReferralNotAllowed("This member was already referred.")
    lock_memberships([referrer.pk, referee.pk])
    verdict, reasons = referral_risk(referrer, referee, ip=ip, device_id=device_id)
    status = {
        RiskVerdict.CLEAR: ReferralStatus.SIGNED_UP,
        RiskVerdict.SUSPICIOUS: ReferralStatus.REVIEW,
        RiskVerdict.BLOCKED: ReferralStatus.REJECTED,
    }[verdict]
    return Referral.objects.create(
        program=referrer.program,
        referrer=referrer,
        referee=referee,
        status=status,
        risk=verdict,
        risk_reasons=reasons,
        rejection_reason=", ".join(reasons) if verdict == RiskVerdict.BLOCKED else "",
        signup_ip=ip,
        signup_device_id=device_id,
    )


def referral_on_purchase(referee: Membership, purchase: Purchase) -> None:
    """Called while awarding (membership locked): a friend's first qualifying purchase
    rewards the friend now and schedules the referrer's reward after the return window."""
    referral = (
        Referral.objects.select_for_update()
        .filter(referee=referee, qualifying_purchase__isnull=True)
        .exclude(status=ReferralStatus.REJECTED)
        .first()
    )
    program = referee.program
    if referral is None or purchase.amount < program.referral_min_purchase:
        return
    referral.qualifying_purchase = purchase
    referral.release_at = purchase.occurred_at + timedelta(days=program.pending_days)
    if (
        purchase.payment_fingerprint
        and Purchase.objects.filter(
            membership_id=referral.referrer_id, payment_fingerprint=purchase.payment_fingerprint
        ).exists()
    ):
        referral.risk = RiskVerdict.SUSPICIOUS
        referral.risk_reasons = [*referral.risk_reasons, "same_payment_fingerprint"]
        referral.status = ReferralStatus.REVIEW
    if referral.status == ReferralStatus.SIGNED_UP:
        referral.status = ReferralStatus.QUALIFIED
        _reward_referee(referral, referee, earned_at=purchase.occurred_at)
    referral.save()


def _still_qualifies(referral: Referral, purchase: Purchase) -> bool:
    """The qualifying purchase still counts: awarded and, net of returns, at the minimum."""
    return (
        purchase.status == PurchaseStatus.AWARDED
        and purchase.amount - purchase.refunded_amount >= referral.program.referral_min_purchase
    )


def referral_on_return(referee: Membership, purchase: Purchase, actor: Actor) -> None:
    """Called in a return (the friend's membership locked): a qualifying purchase returned
    below the minimum before the referrer was rewarded rejects the referral at once, and the
    friend's welcome bonus goes back as the program's return policy allows (never into a
    debt the policy does not allow). A referral already rewarded stays rewarded."""
    referral = (
        Referral.objects.select_for_update()
        .select_related("program")
        .filter(
            qualifying_purchase=purchase,
            status__in=[ReferralStatus.QUALIFIED, ReferralStatus.REVIEW],
        )
        .first()
    )
    if referral is None or _still_qualifies(referral, purchase):
        return
    bonus = PointLot.objects.filter(
        earn_entry__idempotency_key=f"referral:{referral.pk}:referee"
    ).first()
    if bonus is not None:
        points_reverse(
            referee,
            lot=bonus,
            points=bonus.points,
            idempotency_key=f"referral:{referral.pk}:referee:reverse",
            actor=actor,
            reason="welcome bonus: qualifying purchase returned",
            source=EntrySource.REFERRAL,
            referral=referral,
        )
    referral.status = ReferralStatus.REJECTED
    referral.rejection_reason = "qualifying purchase returned"
    referral.save(update_fields=["status", "rejection_reason"])


def _reward_referee(referral: Referral, referee: Membership, earned_at=None) -> None:
    """The friend's welcome bonus, effective at ``earned_at`` (the qualifying purchase's
    date; default now, e.g. when staff approve it)."""
    points = referral.program.referee_points
    if points:
        points_earn(
            referee,
            points=points,
            source=EntrySource.REFERRAL,
            idempotency_key=f"referral:{referral.pk}:referee",
            actor=Actor.system(),
            reason="welcome bonus for joining through a referral",
            earned_at=earned_at,
            referral=referral,
        )


@transaction.atomic
def referral_approve(*, referral: Referral, user) -> Referral:
    """Staff clear a referral from the review queue; rewards follow as if it had been clear."""
    # Membership before referral: the same lock order as awarding a purchase.
    referee = lock_membership(referral.referee_id)
    referral = Referral.objects.select_for_update().get(pk=referral.pk)
    if referral.status != ReferralStatus.REVIEW:
        raise ReferralNotAllowed("Only referrals waiting for review can be approved.")
    referral.reviewed_by, referral.reviewed_at = user, timezone.now()
    if referral.qualifying_purchase_id:
        referral.status = ReferralStatus.QUALIFIED
        _reward_referee(referral, referee)
    else:
        referral.status = ReferralStatus.SIGNED_UP
    referral.save()
    return referral


@transaction.atomic
def referral_reject(*, referral: Referral, user, reason: str) -> Referral:
    if not reason.strip():
        raise ReferralNotAllowed("Give the reason for rejecting; the member may ask.")
    referral = Referral.objects.select_for_update().get(pk=referral.pk)
    if referral.status in (ReferralStatus.REWARDED, ReferralStatus.REJECTED):
        raise ReferralNotAllowed("This referral is already settled.")
    referral.status = ReferralStatus.REJECTED
    referral.rejection_reason = reason.strip()[:255]
    referral.reviewed_by, referral.reviewed_at = user, timezone.now()
    referral.save()
    return referral


def referral_release(referral_id: int, now=None) -> Referral:
    """Reward the referrer once the friend's purchase is past the return window and was
    not returned; reject if it was returned, the cap is used up or the referrer's membership
    was closed. While the referrer's membership is suspended the reward waits."""
    now = now or timezone.now()
    with transaction.atomic():
        referral = Referral.objects.select_related("program").get(pk=referral_id)
        referrer = lock_membership(referral.referrer_id)
        referral = Referral.objects.select_for_update().get(pk=referral_id)
        if referral.status != ReferralStatus.QUALIFIED or referral.release_at > now:
            return referral
        if referrer.status == MembershipStatus.SUSPENDED:
            return referral  # held: the job rewards it once the membership is reactivated
        if not _still_qualifies(referral, referral.qualifying_purchase):
            referral.status = ReferralStatus.REJECTED
            referral.rejection_reason = "qualifying purchase returned"
        elif referrer.status == MembershipStatus.CLOSED:
            referral.status = ReferralStatus.REJECTED
            referral.rejection_reason = "referrer_membership_closed"
        elif _cap_reached_excluding(referrer, referral, now):
            referral.status = ReferralStatus.REJECTED
            referral.rejection_reason = "referrer_cap_reached"
        else:
            if referral.program.referrer_points:
                points_earn(
                    referrer,
                    points=referral.program.referrer_points,
                    source=EntrySource.REFERRAL,
                    idempotency_key=f"referral:{referral.pk}:referrer",
                    actor=Actor.system(),
                    reason="friend referred",
                    earned_at=now,  # as rewarded_at: the job's moment
                    referral=referral,
                )
            referral.status = ReferralStatus.REWARDED
            referral.rewarded_at = now
            event_record(
                type=events.REFERRAL_REWARDED,
                membership=referrer,
                data={"referral_id": referral.pk, "points": referral.program.referrer_points},
                at=now,
            )
        referral.save()
        return referral


def _cap_reached_excluding(referrer: Membership, referral: Referral, now) -> bool:
    since = now - timedelta(days=referrer.program.referral_cap_days)
    rewarded = Referral.objects.filter(
        referrer=referrer, status=ReferralStatus.REWARDED, rewarded_at__gte=since
    ).exclude(pk=referral.pk)
    return rewarded.count() >= referrer.program.referral_cap
