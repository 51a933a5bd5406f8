"""Points a member gives to another member of the same program, or to their shared
account; staff review unusual ones and can reverse any.

A transfer is two ledger entries in one transaction: ``transfer_out`` on the sender
(drawn from their lots in the program's order) and ``transfer_in`` on the recipient
(one new lot). The received lot expires when the earliest of the lots it came from would
have: giving points away never makes them last longer. Idempotent on the caller's key
(``Transfer.idempotency_key``, unique).

Rules (docs/accounts.md): the program allows transfers (``Program.transfers_enabled``),
except into the sender's own shared account, which is always allowed; the sender has
been in the program ``transfer_min_age_days``; what they give per calendar day and year
stays within ``transfer_daily_limit`` and ``transfer_yearly_limit`` (transfers waiting
for review count). A transfer waits for staff review, moving nothing, when it is larger
than ``transfer_review_above`` or the recipient received from three other members in
the last 30 days (the pattern of collecting accounts; the referral risk checks are the
model). Approving moves the points if the sender still has them; rejecting ends it.
"""

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from programs.errors import (
    IdempotencyConflict,
    InsufficientPoints,
    MembershipInactive,
    ProgramMismatch,
    TransferLimitReached,
    TransferRefused,
)
from programs.models import (
    AccountMember,
    EntryKind,
    EntrySource,
    Membership,
    MembershipStatus,
    Transfer,
    TransferStatus,
)
from programs.services import events
from programs.services.events import events_record
from programs.services.ledger import (
    membership_expire_overdue,
    points_earn,
    points_spend,
)
from programs.services.locking import lock_memberships
from programs.services.postings import Actor

COLLECTOR_SENDERS = 3  # distinct senders to one recipient in COLLECTOR_DAYS: review
COLLECTOR_DAYS = 30


def _same_account(sender: Membership, recipient: Membership) -> bool:
    """Is the recipient the sender's own account (its holder) or a fellow member?"""
    mine = AccountMember.objects.filter(membership=sender, left_at__isnull=True).values_list(
        "account_id", "account__holder_id"
    )
    for account_id, holder_id in mine:
        if recipient.pk == holder_id:
            return True
        fellow = AccountMember.objects.filter(
            account_id=account_id, membership=recipient, left_at__isnull=True
        )
        return fellow.exists()
    return False


def _given(sender: Membership, since: datetime) -> int:
    return (
        Transfer.objects.filter(
            sender=sender,
            created_at__gte=since,
            status__in=[TransferStatus.DONE, TransferStatus.REVIEW],
        ).aggregate(total=Sum("points"))["total"]
        or 0
    )


def _day_and_year_start(now: datetime) -> tuple[datetime, datetime]:
    local = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return local, local.replace(month=1, day=1)


def _refusals(sender: Membership, recipient: Membership, points: int, now: datetime) -> None:
    program = sender.program
    if sender.program_id != recipient.program_id:
        raise ProgramMismatch(_("Points can only be given within the same program."))
    if sender.pk == recipient.pk:
        raise TransferRefused(_("You cannot give points to yourself."), field="recipient")
    if sender.status != MembershipStatus.ACTIVE or recipient.status != MembershipStatus.ACTIVE:
        raise MembershipInactive()
    if points <= 0:
        raise TransferRefused(_("Give at least one point."), field="points")
    if hasattr(sender, "account_held"):
        raise TransferRefused(_("A shared account's points are not given away."))
    own_account = _same_account(sender, recipient)
    if not program.transfers_enabled and not own_account:
        raise TransferRefused(_("This program does not allow giving points to other members."))
    if not own_account and sender.joined_at > now - timedelta(days=program.transfer_min_age_days):
        raise TransferRefused(
            _("Members can give points after %(days)s days in the program.")
            % {"days": program.transfer_min_age_days}
        )
    day, year = _day_and_year_start(now)
    for limit, since, what in (
        (program.transfer_daily_limit, day, _("today")),
        (program.transfer_yearly_limit, year, _("this year")),
    ):
        given = _given(sender, since)
        if given + points > limit:
            raise TransferLimitReached(
                _(
                    "You may give %(limit)s points %(when)s; %(given)s are given already, "
                    "so %(left)s are left."
                )
                % {"limit": limit, "when": what, "given": given, "left": max(limit - given, 0)},
                field="points",
                limit=limit,
                given=given,
            )


def _review_reasons(sender: Membership, recipient: Membership, points: int, now) -> list[str]:
    reasons = []
    if points > sender.program.transfer_review_above:
        reasons.append(f"more than {sender.program.transfer_review_above} points")
    senders = (
        Transfer.objects.filter(
            recipient=recipient,
            created_at__gte=now - timedelta(days=COLLECTOR_DAYS),
            status__in=[TransferStatus.DONE, TransferStatus.REVIEW],
        )
        .exclude(sender=sender)
        .values("sender")
        .distinct()
        .count()
    )
    if senders >= COLLECTOR_SENDERS:
        reasons.append(
            f"the recipient received from {senders} other members in {COLLECTOR_DAYS} days"
        )
    return reasons


def _available_check(sender: Membership, points: int) -> None:
    if sender.balance - sender.debt < points:
        raise InsufficientPoints(
            _("You have %(available)s points available; %(points)s cannot be given.")
            % {"available": max(sender.balance - sender.debt, 0), "points": points},
            field="points",
        )


def transfer_post(
    transfer: Transfer, sender: Membership, recipient: Membership, actor: Actor
) -> None:
    """The two entries, with both memberships locked by the caller."""
    membership_expire_overdue(sender)  # lapsed points are never given
    _available_check(sender, transfer.points)
    common = {"source": EntrySource.TRANSFER, "actor": actor}
    out = points_spend(
        sender,
        points=transfer.points,
        kind=EntryKind.TRANSFER_OUT,
        idempotency_key=f"transfer:{transfer.pk}:out",
        reason=f"transfer {transfer.pk}",
        **common,
    )
    expiries = [a.lot.expires_at for a in out.allocations.select_related("lot")]
    dated = [at for at in expiries if at is not None]
    points_earn(
        recipient,
        points=transfer.points,
        kind=EntryKind.TRANSFER_IN,
        idempotency_key=f"transfer:{transfer.pk}:in",
        reason=f"transfer {transfer.pk}",
        expires_at=min(dated) if dated else None,
        **common,
    )
    now = timezone.now()
    Transfer.objects.filter(pk=transfer.pk).update(status=TransferStatus.DONE, done_at=now)
    transfer.status, transfer.done_at = TransferStatus.DONE, now
    # One event per side, each to the partners that know that member (as the member's
    # other events): a partner never learns who the other side is.
    events_record(
        [
            (
                events.POINTS_TRANSFERRED,
                sender,
                {"transfer_id": transfer.pk, "points": -transfer.points, "direction": "out"},
            ),
            (
                events.POINTS_TRANSFERRED,
                recipient,
                {"transfer_id": transfer.pk, "points": transfer.points, "direction": "in"},
            ),
        ]
    )


def _same_transfer(t: Transfer, sender: Membership, recipient: Membership, points: int) -> bool:
    return (t.sender_id, t.recipient_id, t.points) == (sender.pk, recipient.pk, points)


@transaction.atomic
def transfer_create(
    *,
    sender: Membership,
    recipient: Membership,
    points: int,
    key: str,
    actor: Actor,
    message: str = "",
    now: datetime | None = None,
) -> tuple[Transfer, bool]:
    """Give ``points`` from ``sender`` to ``recipient``: done at once, or waiting for
    review. Idempotent on ``key`` (the caller's, namespaced by the caller): the same key
    again returns the stored transfer (created False); with other data it is a conflict."""
    now = now or timezone.now()
    existing = Transfer.objects.filter(idempotency_key=key).first()
    if existing is not None:
        if not _same_transfer(existing, sender, recipient, points):
            raise IdempotencyConflict(field="idempotency_key")
        return existing, False
    locked = lock_memberships([sender.pk, recipient.pk])
    sender, recipient = locked[sender.pk], locked[recipient.pk]
    _refusals(sender, recipient, points, now)
    own = _same_account(sender, recipient)
    reasons = [] if own else _review_reasons(sender, recipient, points, now)
    _available_check(sender, points)  # a transfer for review too: no promises on nothing
    try:
        with transaction.atomic():
            transfer = Transfer.objects.create(
                program=sender.program,
                sender=sender,
                recipient=recipient,
                points=points,
                status=TransferStatus.REVIEW if reasons else TransferStatus.DONE,
                message=message[:200],
                review_reasons=reasons,
                idempotency_key=key,
                requested_by=actor.user,
                requested_by_partner=actor.partner,
                created_at=now,
            )
    except IntegrityError:  # the same key, concurrently
        existing = Transfer.objects.get(idempotency_key=key)
        if not _same_transfer(existing, sender, recipient, points):
            raise IdempotencyConflict(field="idempotency_key") from None
        return existing, False
    if not reasons:
        transfer_post(transfer, sender, recipient, actor)
    return transfer, True


def transfer_settle(
    *, holder: Membership, recipient: Membership, actor: Actor, key: str
) -> Transfer:
    """Move a closing account's whole available balance to ``recipient`` (no limits, no
    review: the documented closing rule). The caller holds the holder's lock."""
    locked = lock_memberships([holder.pk, recipient.pk])
    holder, recipient = locked[holder.pk], locked[recipient.pk]
    transfer = Transfer.objects.create(
        program=holder.program,
        sender=holder,
        recipient=recipient,
        points=holder.balance,
        status=TransferStatus.DONE,  # no review: the documented closing rule
        message="account closed",
        idempotency_key=key,
        requested_by=actor.user,
        requested_by_partner=actor.partner,
        created_at=timezone.now(),
    )
    transfer_post(transfer, holder, recipient, actor)
    return transfer


def transfers_of(membership: Membership):
    """A membership's transfers, given and received, newest first."""
    from django.db.models import Q

    return (
        Transfer.objects.filter(Q(sender=membership) | Q(recipient=membership))
        .select_related("sender__customer", "recipient__customer")
        .order_by("-created_at", "-pk")
    )
