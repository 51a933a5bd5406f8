"""A partner's member whose e-mail address belongs to another customer: linked only when
that customer confirms.

``partner_member_upsert`` keeps such a member a customer of its own (without the address)
and opens a ``LinkClaim``: the partner's answer is the same as for a new person, and until
the claim is confirmed it sees only what it sent and what it did itself. The customer the
address belongs to is asked in the portal (and by e-mail) whether the partner's member is
them:

* **declined**: nothing moves; the partner's member stays a customer of its own.
* **confirmed**: the partner's member is merged into the customer. A membership in a
  program the customer is not in moves over as it is. In a program both are in, its lots
  (available and pending, with their dates), purchases and vouchers move to the
  customer's membership, and a pair of ledger entries (``merge_out`` / ``merge_in``)
  moves the balances, so every membership's ledger still sums to its balance; the merged
  membership is closed and points to the one it went into. The partner's link then points
  to the customer, so the partner sees the customer's memberships in its programs.

A merge waits while the partner's member has points held for a payment (the hold ends by
itself within minutes).
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from programs.errors import LoyaltyError
from programs.models import (
    EntryKind,
    EntrySource,
    HoldStatus,
    LinkClaim,
    Membership,
    MembershipStatus,
    MembershipStatusChange,
    PartnerCustomer,
    PointLot,
    PointsHold,
    Purchase,
    Redemption,
    WebhookEventType,
)
from programs.notifications.kinds import NotificationKind
from programs.notifications.services import notification_create
from programs.services.events import events_are_muted
from programs.services.ledger import consume_lots
from programs.services.locking import lock_memberships
from programs.services.postings import Actor, Postings, entry_instance
from programs.services.webhook_events import partner_event_emit


class ClaimClosed(LoyaltyError):
    code = "claim_closed"
    status = 409
    default_message = _("This request was already answered.")


class ClaimBusy(LoyaltyError):
    code = "claim_busy"
    status = 409
    default_message = _(
        "Points of this account are reserved for a payment right now. Please try again in "
        "15 minutes."
    )


def claim_open(*, link: PartnerCustomer, customer: Customer, email: str) -> LinkClaim:
    """Ask ``customer`` whether the partner's member ``link`` is them (replacing an open
    request of the same link for another address). Call inside the upsert's transaction."""
    LinkClaim.objects.filter(link=link, confirmed_at=None, declined_at=None).exclude(
        customer=customer
    ).delete()
    claim, created = LinkClaim.objects.get_or_create(
        link=link, defaults={"customer": customer, "email": email}
    )
    if (created or claim.is_open) and not events_are_muted():
        notification_create(
            customer=customer,
            kind=NotificationKind.LINK_REQUEST,
            cause_key=f"link-claim:{claim.pk}",
            params={"partner": link.partner.name, "claim": claim.pk},
        )
    return claim


def claim_withdraw(link: PartnerCustomer) -> None:
    """The partner changed its member's address: an open request for the old one goes."""
    LinkClaim.objects.filter(link=link, confirmed_at=None, declined_at=None).delete()


def claims_open_for(customer: Customer):
    return (
        LinkClaim.objects.filter(customer=customer, confirmed_at=None, declined_at=None)
        .select_related("link__partner")
        .order_by("created_at")
    )


def claim_decline(*, claim_id: int, customer: Customer) -> LinkClaim:
    with transaction.atomic():
        claim = _claim_lock(claim_id, customer)
        claim.declined_at = timezone.now()
        claim.save(update_fields=["declined_at"])
    return claim


def claim_confirm(*, claim_id: int, customer: Customer) -> LinkClaim:
    """Merge the partner's member into ``customer`` (see the module's docstring)."""
    with transaction.atomic():
        claim = _claim_lock(claim_id, customer)
        merged = claim.link.customer
        if PartnerCustomer.objects.filter(partner=claim.link.partner, customer=customer).exists():
            # Linked meanwhile under another id (by card): two ids for one person at one
            # partner cannot be merged here.
            raise ClaimClosed(_("This partner already knows you under another customer number."))
        _memberships_merge(claim, merged, customer)
        PartnerCustomer.objects.filter(customer=merged).update(customer=customer)
        claim.confirmed_at = timezone.now()
        claim.save(update_fields=["confirmed_at"])
        partner_event_emit(
            partner=claim.link.partner,
            type=WebhookEventType.MEMBER_LINKED,
            data={"external_id": claim.link.external_id},
        )
    return claim


def _claim_lock(claim_id: int, customer: Customer) -> LinkClaim:
    claim = (
        LinkClaim.objects.select_for_update()
        .select_related("link__partner", "link__customer")
        .filter(pk=claim_id, customer=customer)
        .first()
    )
    if claim is None:
        raise ClaimClosed(_("There is no such request for your account."))
    if not claim.is_open:
        raise ClaimClosed()
    return claim


def _memberships_merge(claim: LinkClaim, merged: Customer, customer: Customer) -> None:
    theirs = list(Membership.objects.filter(customer=merged, merged_into=None))
    ours = dict(
        Membership.objects.filter(
            customer=customer, program__in=[m.program_id for m in theirs]
        ).values_list("program_id", "pk")
    )
    locked = lock_memberships([m.pk for m in theirs] + list(ours.values()))
    for membership in theirs:
        source = locked[membership.pk]
        if source.program_id not in ours:
            Membership.objects.filter(pk=source.pk).update(customer=customer)
            continue
        _points_merge(claim, source, locked[ours[source.program_id]])


def _points_merge(claim: LinkClaim, source: Membership, target: Membership) -> None:
    if PointsHold.objects.filter(membership=source, status=HoldStatus.HELD).exists():
        raise ClaimBusy()
    actor = Actor.for_customer(claim.customer.user)
    available, pending = source.balance - source.debt, source.pending
    lots_available = target.balance + source.balance  # in the target's lots once moved
    postings = Postings()
    debit = None
    if available or pending:
        key = f"link-claim:{claim.pk}:{source.pk}"
        common = {"source": EntrySource.MERGE, "actor": actor, "reason": f"link claim {claim.pk}"}
        postings.post(
            source,
            kind=EntryKind.MERGE_OUT,
            idempotency_key=f"{key}:out",
            points=-available,
            pending_points=-pending,
            **common,
        )
        debit = postings.post(
            target,
            kind=EntryKind.MERGE_IN,
            idempotency_key=f"{key}:in",
            points=available,
            pending_points=pending,
            **common,
        )
    if postings.entries:
        postings.write()
    Membership.objects.filter(pk=source.pk).update(
        status=MembershipStatus.CLOSED, merged_into=target
    )
    MembershipStatusChange.objects.create(
        membership=source,
        from_status=source.status,
        to_status=MembershipStatus.CLOSED,
        reason=f"Merged into membership {target.pk}: the customer confirmed the partner's link.",
    )
    # The lots, purchases and vouchers go with the points, so a later return, expiry,
    # release or cancellation finds them in the target membership.
    PointLot.objects.filter(membership=source).update(membership=target)
    Purchase.objects.filter(membership=source).update(membership=target)
    Redemption.objects.filter(membership=source).update(membership=target)
    # A debt on either side was paid from the other's points: take them from the lots.
    paid = lots_available - target.balance
    if paid and debit is not None:
        consume_lots(target, entry_instance(debit), paid)
