from decimal import Decimal

from programs.models import EntryKind, PurchaseStatus
from programs.services.due import ledger_drift
from programs.services.rewards import redemption_cancel, reward_redeem
from tests.factories import RewardFactory


def test_purchase_earns_redeem_and_cancel_restore(membership, buy, system):
    purchase = buy(membership, "123.45")
    membership.refresh_from_db()
    assert purchase.status == PurchaseStatus.AWARDED
    assert purchase.points_awarded == 123
    assert membership.balance == 123
    reward = RewardFactory(program=membership.program, points_cost=100, stock=1)
    redemption = reward_redeem(membership=membership, reward=reward, actor=system)
    membership.refresh_from_db()
    reward.refresh_from_db()
    assert membership.balance == 23
    assert reward.stock == 0
    redemption_cancel(redemption=redemption, actor=system)
    membership.refresh_from_db()
    reward.refresh_from_db()
    assert membership.balance == 123
    assert reward.stock == 1
    kinds = list(membership.entries.order_by("id").values_list("kind", flat=True))
    assert kinds == [EntryKind.EARN, EntryKind.REDEEM, EntryKind.REDEEM_CANCEL]
    assert ledger_drift() == []
    assert membership.tier.name == "Bronze"
    assert Decimal(purchase.breakdown["total"]) == 123
