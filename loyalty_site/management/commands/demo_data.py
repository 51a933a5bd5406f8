"""Load the demo data set once: ``python manage.py demo_data [--customers N] [--seed S]``.

Idempotent: if the demo program exists the command says so and changes nothing. The load
is one transaction, so a failure leaves no half data set behind.
"""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from customers.models import Customer, CustomerKind
from loyalty_site.demo import DemoDrift, demo_load, demo_present
from loyalty_site.demo.accounts import ACCOUNT_PEOPLE, HEAD_EMAIL, OWNER_EMAIL
from loyalty_site.demo.programs import ANNA_EMAIL, DEMO_PASSWORD, STAFF_USERNAME
from programs.models import (
    Account,
    ActionEvent,
    LedgerEntry,
    Membership,
    Program,
    Purchase,
    Redemption,
    Referral,
    Refund,
    TierSubscription,
)

MIN_CUSTOMERS = 15  # below this not every referral scenario finds a place


class Command(BaseCommand):
    help = "Load believable German demo data (two programs, customers, 18 months of history)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--customers",
            type=int,
            default=300,
            help=f"how many (default 300; the {ACCOUNT_PEOPLE} people of the two shared "
            "accounts come on top)",
        )
        parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")

    def handle(self, *args, customers: int, seed: int, **options):
        if customers < MIN_CUSTOMERS:
            raise CommandError(f"--customers must be at least {MIN_CUSTOMERS}.")
        if demo_present():
            self.stdout.write("Demo data already present; nothing to do.")
            return
        self.stdout.write(
            f"Loading demo data: {customers} customers with 18 months of purchases, through "
            "the services' batch paths (about 20 seconds; only the first time)..."
        )
        self.stdout.flush()
        started = time.monotonic()
        try:
            history = demo_load(customers=customers, seed=seed)
        except DemoDrift as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Demo data loaded in {time.monotonic() - started:.1f} s (seed {seed}).")
        self.stdout.write(_summary(history))


def _counts(counts: dict) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items()) or "none"


def _by(queryset, field: str, order: str | None = None) -> str:
    rows = queryset.values_list(field).annotate(n=Count("pk")).order_by(order or field)
    return _counts(dict(rows))


def _summary(history) -> str:
    anna = Membership.objects.select_related("tier").get(pk=history.anna.membership.pk)
    lines = [
        f"  Customers        {Customer.objects.filter(kind=CustomerKind.PERSON).count()}",
        f"  Purchases        {Purchase.objects.count()} (returns: {Refund.objects.count()}, "
        f"subscription fees: {TierSubscription.objects.count()})",
        f"  Actions          {ActionEvent.objects.count()} "
        f"({history.stats['actions_refused']} refused by their limits)",
        f"  Redemptions      {_by(Redemption.objects, 'status')}",
        f"  Referrals        {_by(Referral.objects, 'status')}",
        f"  Ledger entries   {_by(LedgerEntry.objects, 'kind')}",
    ]
    for program in Program.objects.order_by("pk"):
        members = Membership.objects.filter(program=program)
        lines.append(f"  {program.name}: {members.count()} members")
        lines.append(f"    tiers: {_by(members, 'tier__name', 'tier__rank')}")
    for account in Account.objects.select_related("holder__tier").order_by("pk"):
        tier = account.holder.tier.name if account.holder.tier else "-"
        lines.append(
            f"  {account.name}: {account.members.filter(left_at__isnull=True).count()} members, "
            f"{account.holder.balance} points pooled, tier {tier}"
        )
    lines += [
        f"  Anna Schmidt: {anna.tier.name}, {anna.balance} points available, "
        f"{anna.pending} pending",
        "Logins:",
        f"  staff admin    : {STAFF_USERNAME} / {DEMO_PASSWORD}",
        f"  customer portal: {ANNA_EMAIL} / {DEMO_PASSWORD}",
        f"  account owners : {OWNER_EMAIL}, {HEAD_EMAIL} / {DEMO_PASSWORD}",
    ]
    return "\n".join(lines)
