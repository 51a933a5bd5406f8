"""What the portal's shared-account pages read: the account of the membership being looked
at, its members, open invitations, and who earned and spent what (``placed_by``) this month
and in total."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from customers.models import Customer
from programs.models import (
    Account,
    AccountInvitation,
    AccountMember,
    InvitationStatus,
    Membership,
    Purchase,
    PurchaseStatus,
    Redemption,
    RedemptionStatus,
)
from programs.services.account_spending import month_start


@dataclass
class Figures:
    """What one member bought and redeemed for the account, in a period."""

    purchases: int = 0
    amount: Decimal = Decimal(0)
    points: int = 0
    redemptions: int = 0
    redeemed: int = 0


@dataclass
class MemberActivity:
    """One (present or former) member of an account: who earned and spent what."""

    member: AccountMember
    month: Figures
    total: Figures

    @property
    def name(self) -> str:
        customer = self.member.membership.customer
        return f"{customer.first_name} {customer.last_name}".strip()


def portal_customer(*, user) -> Customer | None:
    """The signed-in user's customer, with ``shared_account_shown``: does the portal show
    the shared-account page (the customer belongs to an account, or an invitation to
    their address is open). One query, on every portal page."""
    member = AccountMember.objects.filter(membership__customer=OuterRef("pk"), left_at__isnull=True)
    invited = AccountInvitation.objects.filter(
        email__iexact=OuterRef("email"),
        status=InvitationStatus.OPEN,
        expires_at__gt=timezone.now(),
    )
    return (
        Customer.objects.filter(user=user)
        .annotate(shared_account_shown=Exists(member) | Exists(invited))
        .first()
    )


def account_holder(*, account: Account) -> Membership:
    """The account's own membership (its balance and tier), fresh from the database."""
    return Membership.objects.select_related("program", "tier", "qualified_tier").get(
        pk=account.holder_id
    )


def account_members(*, account: Account) -> list[AccountMember]:
    """The account's present members, managing ones first."""
    members = (
        AccountMember.objects.filter(account=account, left_at__isnull=True)
        .select_related("membership__customer")
        .order_by("joined_at", "pk")
    )
    return sorted(members, key=lambda m: not m.manages)


def account_invitations_open(*, account: Account) -> list[AccountInvitation]:
    return list(
        AccountInvitation.objects.filter(
            account=account, status=InvitationStatus.OPEN, expires_at__gt=timezone.now()
        ).order_by("-created_at")
    )


def account_activity(*, account: Account, now: datetime | None = None) -> list[MemberActivity]:
    """Purchases and redemptions per member, this calendar month and in total. Where the
    program pools, those recorded on the account's holder with the member as
    ``placed_by``; where it does not, each member's own since they joined."""
    start = month_start(now or timezone.now())
    rows = AccountMember.objects.filter(account=account).select_related("membership__customer")
    people: dict[int, AccountMember] = {}
    for row in rows.order_by("joined_at", "pk"):  # a member who rejoined: the latest row
        people[row.membership_id] = row
    if not people:
        return []
    purchases = Purchase.objects.exclude(
        status__in=[PurchaseStatus.REJECTED, PurchaseStatus.FAILED]
    )
    redemptions = Redemption.objects.exclude(status=RedemptionStatus.CANCELLED)
    if account.program.accounts_pool:
        who = "placed_by"
        purchases = purchases.filter(membership_id=account.holder_id, placed_by__in=people)
        redemptions = redemptions.filter(membership_id=account.holder_id, placed_by__in=people)
    else:
        who = "membership"
        purchases = purchases.filter(_since(people, "occurred_at"))
        redemptions = redemptions.filter(_since(people, "created_at"))
    points = Coalesce("points_awarded", "points_expected")
    month = Q(occurred_at__gte=start)
    bought = purchases.values(who).annotate(
        total_n=Count("pk"),
        total_amount=Sum("amount"),
        total_points=Sum(points),
        month_n=Count("pk", filter=month),
        month_amount=Sum("amount", filter=month),
        month_points=Sum(points, filter=month),
    )
    month = Q(created_at__gte=start)
    spent = redemptions.values(who).annotate(
        total_n=Count("pk"),
        total_points=Sum("points"),
        month_n=Count("pk", filter=month),
        month_points=Sum("points", filter=month),
    )
    figures = {pk: {"month": Figures(), "total": Figures()} for pk in people}
    for row in bought:
        for period in ("month", "total"):
            f = figures[row[who]][period]
            f.purchases = row[f"{period}_n"]
            f.amount = row[f"{period}_amount"] or Decimal(0)
            f.points = row[f"{period}_points"] or 0
    for row in spent:
        for period in ("month", "total"):
            f = figures[row[who]][period]
            f.redemptions = row[f"{period}_n"]
            f.redeemed = row[f"{period}_points"] or 0
    activity = [MemberActivity(people[pk], **figures[pk]) for pk in people]
    # present members first, then those who left
    return sorted(activity, key=lambda a: a.member.left_at is not None)


def _since(people: dict[int, AccountMember], field: str) -> Q:
    """Each member's own rows from when they joined (until they left)."""
    q = Q(pk__in=[])
    for membership_id, row in people.items():
        one = Q(membership_id=membership_id, **{f"{field}__gte": row.joined_at})
        if row.left_at is not None:
            one &= Q(**{f"{field}__lt": row.left_at})
        q |= one
    return q
