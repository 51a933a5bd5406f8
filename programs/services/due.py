"""Periodic work, set-based where it can be: find what is due with one query, then apply
it per membership under that membership's lock in short transactions (batches), so a
long run never blocks the API for long and a crash loses nothing already committed. A
membership that makes its batch fail is split out of it (``batch_apply``): the others
go on."""

from collections import defaultdict
from datetime import timedelta

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from loyalty_site.core.batches import batch_apply, each_apply
from programs.models import (
    ExpiryPolicy,
    LedgerEntry,
    Membership,
    PointLot,
    Program,
    Referral,
    ReferralStatus,
)
from programs.services.ledger import lots_expire_many, lots_release
from programs.services.locking import lock_membership, lock_memberships
from programs.services.postings import BALANCE_FIELDS
from programs.services.referrals import referral_release
from programs.services.tiers import membership_tier_expire_parts, membership_tier_review

BATCH = 500
SCAN = 100_000  # due lots found per query (a LIMIT this size still uses the expiry index)


def _by_membership(lot_rows) -> dict[int, list[int]]:
    grouped: dict[int, list[int]] = defaultdict(list)
    for lot_id, membership_id in lot_rows:
        grouped[membership_id].append(lot_id)
    return grouped


def _apply_to_lots(lot_filter: Q, apply, now) -> int:
    """Run ``apply(membership, lots, now)`` for every lot matching, in batches (each batch
    one transaction; a membership that fails its batch is split out and skipped)."""
    total = 0
    last_id = 0
    while True:
        rows = list(
            PointLot.objects.filter(lot_filter, pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", "membership_id")[:BATCH]
        )
        if not rows:
            return total
        last_id = rows[-1][0]
        grouped = _by_membership(rows)

        def run(member_ids: list[int], grouped=grouped) -> int:
            done = 0
            with transaction.atomic():
                memberships = lock_memberships(member_ids)
                lots = PointLot.objects.select_related("earn_entry").filter(
                    lot_filter, pk__any=[pk for m in member_ids for pk in grouped[m]]
                )
                lots_by_member = defaultdict(list)
                for lot in lots.order_by("pk"):
                    lots_by_member[lot.membership_id].append(lot)
                for membership_id, member_lots in lots_by_member.items():
                    done += apply(memberships[membership_id], member_lots, now)
            return done

        total += batch_apply(sorted(grouped), run, _skip_membership)


def _expire_lots(lot_filter: Q, now) -> int:
    """Expire every lot matching, set-based per batch: the batch's memberships locked in id
    order, the lots read again under the locks, then bulk writes (``lots_expire_many``).
    A membership that fails its batch is split out and skipped (logged), the others expire.

    The due lots are found with one query, in id order (the partial index on the expiry
    date finds them; paging in id order with a limit scanned the whole table by its
    primary key instead, once per page), at most ``SCAN`` at a time so that the ids of a
    huge backlog never sit in memory at once, then cut into batches of ``BATCH`` lots as
    before."""
    total = last_id = 0
    while rows := list(
        PointLot.objects.filter(lot_filter, pk__gt=last_id)
        .order_by("pk")
        .values_list("pk", "membership_id")[:SCAN]
    ):
        last_id = rows[-1][0]
        total += _expire_found(lot_filter, rows, now)
    return total


def _expire_found(lot_filter: Q, rows: list, now) -> int:
    total = 0
    for start in range(0, len(rows), BATCH):
        grouped = _by_membership(rows[start : start + BATCH])

        def run(member_ids: list[int], grouped=grouped) -> int:
            with transaction.atomic():
                # only the balances the entries move: no model instance of 29 columns each
                memberships = lock_memberships(member_ids, fields=BALANCE_FIELDS)
                # read again under the locks: a concurrent run or redemption may have got there
                lots = PointLot.objects.filter(
                    lot_filter, pk__any=[pk for m in member_ids for pk in grouped[m]]
                )
                return lots_expire_many(memberships, lots, now)

        total += batch_apply(sorted(grouped), run, _skip_membership)
    return total


def _skip_membership(membership_id: int, error: Exception) -> int:
    """A membership whose lots cannot be processed: left as it is (and logged by
    ``batch_apply``) for staff to look into; the next run tries it again."""
    return 0


def _skip_referral(referral_id: int, error: Exception) -> int:
    return 0  # logged by ``each_apply``; stays qualified, so the next run tries it again


def points_release_due(now=None) -> int:
    """Pending points whose return window has passed become available."""
    now = now or timezone.now()
    return _apply_to_lots(Q(released_at__isnull=True, available_at__lte=now), lots_release, now)


def points_expire_due(now=None) -> int:
    """Expire lots past their date, and all points of members inactive for too long."""
    now = now or timezone.now()
    dated = Q(
        expired_at__isnull=True, released_at__isnull=False, remaining__gt=0, expires_at__lte=now
    )
    total = _expire_lots(dated, now)
    for program in Program.objects.filter(expiry_policy=ExpiryPolicy.INACTIVITY):
        cutoff = now - relativedelta(months=program.expiry_months)
        inactive = Q(
            membership__program=program,
            expired_at__isnull=True,
            released_at__isnull=False,
            remaining__gt=0,
        ) & (
            Q(membership__last_activity_at__lt=cutoff)
            | Q(membership__last_activity_at__isnull=True, membership__joined_at__lt=cutoff)
        )
        total += _expire_lots(inactive, now)
    return total


def tiers_review_due(now=None) -> int:
    """Close qualification periods (after each program's grace), end staff tiers and
    lapsed subscriptions. Returns the number of memberships looked at."""
    now = now or timezone.now()
    done = 0
    for program in Program.objects.all():
        review_before = now - timedelta(days=program.downgrade_grace_days)
        due = Membership.objects.filter(program=program).filter(
            Q(tier_review_at__lte=review_before)
            | Q(override_until__lte=now)
            | Q(subscription_until__lte=now)
        )

        def review(membership_id: int, review_before=review_before) -> int:
            with transaction.atomic():
                membership = lock_membership(membership_id)
                membership_tier_expire_parts(membership, now)
                if membership.tier_review_at and membership.tier_review_at <= review_before:
                    membership_tier_review(membership, now)
            return 1

        ids = due.values_list("pk", flat=True).iterator(chunk_size=BATCH)
        done += sum(each_apply(ids, review, _skip_membership))
    return done


def referrals_release_due(now=None) -> int:
    now = now or timezone.now()
    # Oldest due first (not the model's newest-first order): when the referrer's cap allows
    # only some rewards, the friends who qualified first get them.
    due = Referral.objects.filter(status=ReferralStatus.QUALIFIED, release_at__lte=now).order_by(
        "release_at", "pk"
    )

    def release(referral_id: int) -> int:
        referral_release(referral_id, now)
        return 1

    ids = due.values_list("pk", flat=True).iterator(chunk_size=BATCH)
    return sum(each_apply(ids, release, _skip_referral))


def ledger_drift(membership_ids: list[int] | None = None) -> list[dict]:
    """Memberships (all, or ``membership_ids``) whose cached balances differ from the sums
    of their ledger (should be none). One query: the ledger sums as correlated
    subqueries, compared in SQL."""

    def ledger_sum(field):
        return Coalesce(
            Subquery(
                LedgerEntry.objects.filter(membership=OuterRef("pk"))
                .values("membership")
                .annotate(total=Sum(field))
                .values("total")
            ),
            0,
        )

    memberships = Membership.objects.all()
    if membership_ids is not None:
        memberships = memberships.filter(pk__in=membership_ids)
    rows = (
        memberships.annotate(
            ledger_available=ledger_sum("points"),
            ledger_pending=ledger_sum("pending_points"),
            ledger_held=ledger_sum("held_points"),
        )
        .exclude(
            ledger_available=F("balance") - F("debt"),
            ledger_pending=F("pending"),
            ledger_held=F("held"),
        )
        .values(
            "pk",
            "balance",
            "debt",
            "pending",
            "held",
            "ledger_available",
            "ledger_pending",
            "ledger_held",
        )
    )
    return [
        {
            "membership": row["pk"],
            "cached_available": row["balance"] - row["debt"],
            "ledger_available": row["ledger_available"],
            "cached_pending": row["pending"],
            "ledger_pending": row["ledger_pending"],
            "cached_held": row["held"],
            "ledger_held": row["ledger_held"],
        }
        for row in rows
    ]
