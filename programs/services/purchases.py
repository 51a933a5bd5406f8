"""Recording purchases, awarding their points (in the worker) and reversing them on returns."""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from loyalty_site.core.cache import cache_delete, cache_get, cache_set
from loyalty_site.core.commit import enqueue_after_commit
from programs.campaign_rules import CampaignTerms, reaches, terms_of
from programs.earning import LineInput, purchase_points
from programs.errors import (
    AmountOutOfRange,
    BeforeHistoryStart,
    CurrencyMismatch,
    IdempotencyConflict,
    InvalidAmount,
    MembershipInactive,
    PartnerInactive,
    PointsOutOfRange,
    ProgramMismatch,
)
from programs.limits import MAX_AMOUNT, MAX_FUTURE_SKEW, MAX_POINTS
from programs.models import (
    Campaign,
    EarnRule,
    Membership,
    MembershipStatus,
    Partner,
    Program,
    Purchase,
    PurchaseLine,
)
from programs.services.account_spending import account_purchase_check, purchase_membership
from programs.services.awarding import AWARD_TASK
from programs.services.purchase_failures import purchases_award_isolated


@dataclass(frozen=True)
class LineData:
    sku: str
    category: str
    quantity: int
    unit_price: Decimal

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity


def money_check(amount: Decimal, currency: str, *, field: str = "amount", allow_zero=False) -> None:
    decimals = settings.CURRENCY_DECIMALS.get(currency, 2)
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise InvalidAmount(f"{field} must be a decimal number.", field=field)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidAmount(f"{field} must be greater than zero.", field=field)
    if -amount.as_tuple().exponent > decimals and amount != amount.quantize(
        Decimal(1).scaleb(-decimals)
    ):
        raise InvalidAmount(
            f"{field} has more than {decimals} decimal places for {currency}.", field=field
        )


def _same_purchase(p: Purchase, member: Membership, amount: Decimal, currency: str) -> bool:
    """The stored purchase is this one again: same member (on their own membership, or on
    a shared account's as ``placed_by``, whether or not they pool now), amount, currency."""
    return member.pk in (p.membership_id, p.placed_by_id) and (p.amount, p.currency) == (
        amount,
        currency,
    )


# Earn rules and campaigns per program, for the points a purchase is *expected* to earn
# when it is received (the worker computes the points it awards from fresh rows). Cached
# for EARNING_CACHE_SECONDS: a rule or campaign changed in the admin shows in
# ``points_expected`` within that time, or at once after ``program_earning_forget``.
EARNING_CACHE_SECONDS = 10


def _earning_key(program: Program) -> str:
    # created_at too: a test database may give a new program the id of a rolled-back one
    stamp = program.created_at.timestamp() if program.created_at else ""
    return f"program_earning:{program.pk}:{stamp}"


def program_earning(program: Program) -> tuple[list[EarnRule], list[CampaignTerms]]:
    """The program's active earn rules and campaigns' terms (cached, see above)."""
    key = _earning_key(program)
    found = cache_get(key)
    if found is None:
        campaigns = Campaign.objects.filter(program_id=program.pk, is_active=True)
        found = (
            list(EarnRule.objects.filter(program_id=program.pk, is_active=True)),
            [terms_of(c) for c in campaigns.prefetch_related("tiers").order_by("pk")],
        )
        cache_set(key, found, EARNING_CACHE_SECONDS)
    return found


def program_earning_forget(program: Program) -> None:
    """Drop the cached earn rules and campaigns of ``program`` (after an edit)."""
    cache_delete(_earning_key(program))


def partner_program_ids(partner: Partner) -> set[int]:
    return set(partner.programs.values_list("pk", flat=True))


def purchase_check(
    *,
    membership: Membership,
    program_ids: Collection[int],
    amount: Decimal,
    currency: str,
    occurred_at: datetime,
    lines: Sequence[LineData],
    now: datetime,
) -> None:
    """Everything a purchase must satisfy before it is stored, in a fixed order, so one
    purchase gets the same error alone (``purchase_record``) or in a batch
    (``purchases_batch``). ``program_ids``: the recording partner's programs."""
    program = membership.program
    if membership.status != MembershipStatus.ACTIVE:
        raise MembershipInactive()
    if program.pk not in program_ids:
        raise ProgramMismatch()
    if currency != program.currency:
        raise CurrencyMismatch(
            f"This program counts in {program.currency}; the purchase is in {currency}.",
            field="currency",
        )
    money_check(amount, currency)
    if occurred_at > now + MAX_FUTURE_SKEW:
        raise InvalidAmount("occurred_at lies in the future.", field="occurred_at")
    history_check(program, occurred_at)
    for number, line in enumerate(lines):
        money_check(line.unit_price, currency, field="unit_price", allow_zero=True)
        if line.quantity <= 0:
            raise InvalidAmount("quantity must be at least 1.", field="quantity")
        if line.amount > MAX_AMOUNT:
            raise AmountOutOfRange(
                f"Line {number + 1} comes to {line.amount} (unit price x quantity); "
                f"a line may come to at most {MAX_AMOUNT}.",
                field="lines",
            )
    if lines:
        total = sum((line.amount for line in lines), Decimal(0))
        if total != amount:
            raise InvalidAmount(
                f"The lines add up to {total} but the amount is {amount}; they must match.",
                field="lines",
            )


def history_check(program: Program, occurred_at: datetime) -> None:
    """Refuse a date before the program's history starts (``Program.history_starts_on``)."""
    starts = datetime.combine(
        program.history_starts_on, time.min, tzinfo=timezone.get_default_timezone()
    )
    if occurred_at < starts:
        raise BeforeHistoryStart(
            f"occurred_at lies before {program.history_starts_on.isoformat()}, the day "
            f"{program.name}'s history starts; staff can move that day earlier to import "
            "older purchases.",
            field="occurred_at",
        )


def purchase_expected_points(
    *,
    membership: Membership,
    amount: Decimal,
    occurred_at: datetime,
    lines: Sequence[LineData],
    earning: tuple[list[EarnRule], list[CampaignTerms]] | None = None,
    partner_id: int | None = None,
) -> int:
    """The points a purchase is expected to earn, as it is received. ``earning``: the
    program's ``program_earning`` if the caller has it already. An estimate: campaigns
    count as if the member were in their audience and had not bought before, and caps
    and budgets are not read (the worker computes the points it awards)."""
    program = membership.program
    rules, campaigns = earning or program_earning(program)
    tier_id = membership.tier_id
    campaigns = [
        c
        for c in campaigns
        if reaches(c, tier_id=tier_id, partner_id=partner_id, first_purchase=True, reached=True)
    ]
    points = purchase_points(
        program=program,
        amount=amount,
        lines=[LineInput(amount=li.amount, category=li.category, sku=li.sku) for li in lines],
        occurred_at=occurred_at,
        tier_multiplier=membership.tier.earn_multiplier if membership.tier else Decimal(1),
        rules=rules,
        campaigns=campaigns,
    ).total
    if points > MAX_POINTS:
        raise PointsOutOfRange(
            f"This purchase would earn {points} points; one purchase may earn at most "
            f"{MAX_POINTS}. Report it in smaller parts.",
            field="amount",
        )
    return points


def purchase_record(
    *,
    partner: Partner,
    membership: Membership,
    order_id: str,
    amount: Decimal,
    currency: str,
    occurred_at: datetime,
    lines: Sequence[LineData] = (),
    payment_fingerprint: str = "",
    device_id: str = "",
    ip_address: str | None = None,
    award_now: bool = False,
    known_program_ids: Collection[int] | None = None,
    po_reference: str = "",
) -> tuple[Purchase, bool]:
    """Store a purchase as received and enqueue its award after commit.

    Idempotent on (partner, order_id): the same order again returns the stored purchase
    (``created`` False); the same order id with another member or amount is a conflict.
    The unique constraint answers whether the order is new: the insert is tried first and
    the stored purchase read only when it refuses. A new purchase is returned with its
    lines (``purchase.line_list`` needs no query). ``known_program_ids``: programs the
    caller has just read as the partner's (e.g. with the member's memberships), which
    saves reading them again.

    A member who pools into a shared account buys for the account: the purchase is
    recorded on the account's holder with the member as ``placed_by``
    (``accounts.purchase_membership``); ``po_reference`` is the business's purchase order
    number, required where the account asks for one.
    """
    membership, placed_by = purchase_membership(membership)
    if placed_by is not None:
        account_purchase_check(membership, po_reference)
    program = membership.program
    if not partner.is_active:
        raise PartnerInactive(f"Partner {partner.name} is deactivated; it cannot record purchases.")
    purchase_check(
        membership=membership,
        program_ids=(
            partner_program_ids(partner) if known_program_ids is None else known_program_ids
        ),
        amount=amount,
        currency=currency,
        occurred_at=occurred_at,
        lines=lines,
        now=timezone.now(),
    )
    expected = purchase_expected_points(
        membership=membership,
        amount=amount,
        occurred_at=occurred_at,
        lines=lines,
        partner_id=partner.pk,
    )
    try:
        with transaction.atomic():
            purchase = Purchase.objects.create(
                program=program,
                membership=membership,
                partner=partner,
                order_id=order_id,
                amount=amount,
                currency=currency,
                occurred_at=occurred_at,
                points_expected=expected,
                payment_fingerprint=payment_fingerprint,
                device_id=device_id,
                ip_address=ip_address,
                placed_by=placed_by,
                po_reference=po_reference,
            )
            stored_lines = PurchaseLine.objects.bulk_create(
                PurchaseLine(
                    purchase=purchase,
                    line_no=number,
                    sku=line.sku,
                    category=line.category,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    amount=line.amount,
                )
                for number, line in enumerate(lines, start=1)
            )
    except IntegrityError:
        existing = Purchase.objects.filter(partner=partner, order_id=order_id).first()
        if existing is None:
            raise
        if not _same_purchase(existing, placed_by or membership, amount, currency):
            raise IdempotencyConflict(
                f"Order {order_id} was already recorded with other data.", field="order_id"
            ) from None
        return existing, False
    purchase.written_with(stored_lines)

    if award_now:
        purchases_award([purchase.pk])
        purchase.refresh_from_db()
    else:
        # a broker outage leaves the purchase received, for the sweeper
        enqueue_after_commit(AWARD_TASK, [purchase.pk])
    return purchase, True


def purchases_award(purchase_ids: Sequence[int]) -> int:
    """Award the points of received purchases, each exactly once. Returns how many were
    processed. Safe to run twice and concurrently: purchases are claimed under the
    membership locks and only those still ``received`` are processed. The work is done in
    bulk, a batch per transaction (``programs.services.awarding``); a purchase that fails
    its batch is split out and parked as failed (``programs.services.purchase_failures``)."""
    return purchases_award_isolated(purchase_ids)
