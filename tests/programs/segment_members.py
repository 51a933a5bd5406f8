"""Hand-built members for the segment tests: a member of the program with the tier,
figures, purchases, balance and join date a test names, written straight to the rows the
segment conditions read (segments only read them, so no service is needed to set them)."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from programs.models import (
    Membership,
    MembershipFigures,
    Purchase,
    PurchaseStatus,
    SegmentCondition,
    SegmentOperator,
)
from programs.segments import conditions_members
from programs.services.memberships import membership_enroll
from tests.factories import CustomerFactory


def make_member(program, tiers, *, tier="Bronze", balance=None, joined_days=None, **customer):
    """A member of ``program`` in ``tier`` (None: no tier), with ``balance`` points and
    joined ``joined_days`` ago if given; ``customer`` fields go to the customer."""
    membership, _ = membership_enroll(customer=CustomerFactory(**customer), program=program)
    changes = {"tier": tiers[tier] if tier else None}
    if balance is not None:
        changes["balance"] = balance
    if joined_days is not None:
        changes["joined_at"] = timezone.now() - timedelta(days=joined_days)
    Membership.objects.filter(pk=membership.pk).update(**changes)
    membership.refresh_from_db()
    return membership


def figures(membership, **values) -> MembershipFigures:
    return MembershipFigures.objects.create(membership=membership, **values)


def make_purchase(
    membership, partner, amount, *, at, status=PurchaseStatus.AWARDED, refunded="0"
) -> Purchase:
    return Purchase.objects.create(
        program=membership.program,
        membership=membership,
        partner=partner,
        order_id=f"seg-{Purchase.objects.count() + 1}",
        amount=Decimal(amount),
        refunded_amount=Decimal(refunded),
        currency="EUR",
        occurred_at=at,
        status=status,
    )


def cond(field, operator=SegmentOperator.IS, value="", *, group=1, tier=None, partner=None):
    return SegmentCondition(
        field=field, operator=operator, value=str(value), group=group, tier=tier, partner=partner
    )


def matching(program, now, *conditions) -> set[int]:
    return set(conditions_members(program, conditions, now=now).values_list("pk", flat=True))


def pks(members: dict, *names) -> set[int]:
    return {members[name].pk for name in names}
