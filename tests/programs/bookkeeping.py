"""Checks shared by the behaviour tests: the books of a membership must always balance."""

from django.db.models import Sum

from programs.models import Membership, PointLot, Program
from programs.services.due import ledger_drift


def program_set(program: Program, **fields) -> Program:
    """Change program settings the way staff would in the admin (then saved)."""
    for name, value in fields.items():
        setattr(program, name, value)
    program.save()
    return program


def lots_sum(membership: Membership, **filters) -> int:
    total = PointLot.objects.filter(membership=membership, **filters).aggregate(
        total=Sum("remaining")
    )["total"]
    return total or 0


def assert_books_balance(membership: Membership) -> None:
    """Cached balances = ledger sums; available lots = balance; pending lots = pending;
    no lot below zero."""
    membership.refresh_from_db()
    assert ledger_drift() == []
    assert not PointLot.objects.filter(membership=membership, remaining__lt=0).exists()
    assert (
        lots_sum(membership, released_at__isnull=False, expired_at__isnull=True)
        == membership.balance
    )
    assert lots_sum(membership, released_at__isnull=True) == membership.pending
