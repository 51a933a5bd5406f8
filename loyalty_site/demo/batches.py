"""The history's purchases, actions and returns, written in batches.

Drawing the story customer by customer and writing each purchase at once cost one award
transaction per purchase (about forty queries): the load took minutes. Here the story is
drawn as before, but what it does to a membership is queued in order (``Planned``
purchases, and actions and returns as calls) and written later:

* purchases are stored (as received) in one insert per ``store``, in the order drawn, so
  the ids keep each member's order; ``store`` runs before a referral is registered, whose
  risk check reads the referrer's purchases;
* ``flush`` then works in rounds: the leading purchases of every membership's queue are
  awarded in one batch (``purchases_award``, the worker's bulk path: per membership in id
  order, tier upgrades between purchases), then the leading actions of every queue are
  recorded in one batch (``actions_record_many``), then the leading other calls (returns)
  run one by one, in the order drawn; and again, until the queues are empty. The
  partners' customer links (which nothing in the story reads) are inserted with it.

Each membership sees exactly the sequence the story drew (its entries, tiers and balances
as if written one by one); only memberships' writes interleave differently, which nothing
in the story reads while it is drawn (no budget runs out, no referrer reaches the cap).
"""

from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import count

from django.utils import timezone

from programs.errors import ActionLimitReached, PartnerInactive
from programs.models import Membership, Partner, PartnerCustomer, Purchase, PurchaseLine
from programs.services.action_batches import ActionItem, actions_record_many
from programs.services.purchases import (
    LineData,
    partner_program_ids,
    program_earning,
    purchase_check,
    purchase_expected_points,
    purchases_award,
)


@dataclass(eq=False)
class Planned:
    """A purchase as the story drew it; ``pk`` once stored."""

    partner: Partner
    membership: Membership
    order_id: str
    amount: Decimal
    occurred_at: datetime
    lines: Sequence[LineData]
    currency: str = "EUR"
    payment_fingerprint: str = ""
    device_id: str = ""
    ip_address: str | None = None
    placed_by: Membership | None = None  # the member buying for a shared account
    po_reference: str = ""
    points_expected: int = 0
    pk: int | None = None

    def stored(self) -> Purchase:
        """The purchase as it is now (awarded, once its round has run)."""
        return Purchase.objects.select_related("partner").get(pk=self.pk)


class Batches:
    """Each membership's queue of purchases and calls, written by ``store`` and ``flush``."""

    def __init__(self):
        self._order = count()
        self._queues: dict[int, deque] = defaultdict(deque)
        self._unstored: list[Planned] = []
        self._program_ids: dict[int, set[int]] = {}
        self._earning: dict[int, tuple] = {}  # per program: its rules don't change meanwhile
        self._links: list[PartnerCustomer] = []
        self.actions_refused = 0  # by their limits

    def purchase(self, planned: Planned) -> Planned:
        """Queue a purchase, checked as ``purchase_record`` checks it."""
        partner, membership = planned.partner, planned.membership
        if not partner.is_active:
            raise PartnerInactive(f"Partner {partner.name} is deactivated.")
        if partner.pk not in self._program_ids:
            self._program_ids[partner.pk] = partner_program_ids(partner)
        purchase_check(
            membership=membership,
            program_ids=self._program_ids[partner.pk],
            amount=planned.amount,
            currency=planned.currency,
            occurred_at=planned.occurred_at,
            lines=planned.lines,
            now=timezone.now(),
        )
        program = membership.program
        if program.pk not in self._earning:
            self._earning[program.pk] = program_earning(program)
        planned.points_expected = purchase_expected_points(
            membership=membership,
            amount=planned.amount,
            occurred_at=planned.occurred_at,
            lines=planned.lines,
            earning=self._earning[program.pk],
            partner_id=partner.pk,
        )
        self._unstored.append(planned)
        self._queues[membership.pk].append((next(self._order), planned))
        return planned

    def link(self, *, partner: Partner, customer, external_id: str) -> None:
        """Queue ``partner_customer_link`` (nothing in the story reads the links)."""
        self._links.append(
            PartnerCustomer(partner=partner, customer=customer, external_id=external_id)
        )

    def action(self, item: ActionItem) -> None:
        """Queue an action (``action_record``'s arguments)."""
        self._queues[item.membership_id].append((next(self._order), item))

    def call(self, membership: Membership, call: Callable[[], object]) -> None:
        """Queue ``call`` (a return) after what is queued for ``membership``."""
        self._queues[membership.pk].append((next(self._order), call))

    def store(self) -> None:
        """Insert the purchases queued since the last ``store``, with their lines."""
        planned, self._unstored = self._unstored, []
        if not planned:
            return
        purchases = Purchase.objects.bulk_create(
            Purchase(
                program_id=p.membership.program_id,
                membership=p.membership,
                partner=p.partner,
                order_id=p.order_id,
                amount=p.amount,
                currency=p.currency,
                occurred_at=p.occurred_at,
                points_expected=p.points_expected,
                payment_fingerprint=p.payment_fingerprint,
                device_id=p.device_id,
                ip_address=p.ip_address,
                placed_by=p.placed_by,
                po_reference=p.po_reference,
            )
            for p in planned
        )
        for p, purchase in zip(planned, purchases, strict=True):
            p.pk = purchase.pk
        PurchaseLine.objects.bulk_create(
            PurchaseLine(
                purchase_id=p.pk,
                line_no=number,
                sku=line.sku,
                category=line.category,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
            )
            for p in planned
            for number, line in enumerate(p.lines, start=1)
        )

    def flush(self) -> None:
        """Write everything queued, in rounds (see the module docstring)."""
        self.store()
        PartnerCustomer.objects.bulk_create(self._links)  # each customer once per partner
        self._links = []
        queues = {pk: queue for pk, queue in self._queues.items() if queue}
        while queues:
            for kind, write in (
                (Planned, self._award),
                (ActionItem, self._act),
                (None, self._call),
            ):
                items = sorted(item for queue in queues.values() for item in _leading(queue, kind))
                if items:
                    write([payload for _, payload in items])
            queues = {pk: queue for pk, queue in queues.items() if queue}
        self._queues.clear()

    def _award(self, planned: list[Planned]) -> None:
        purchases_award([p.pk for p in planned])

    def _act(self, items: list[ActionItem]) -> None:
        for outcome in actions_record_many(items):
            if isinstance(outcome, ActionLimitReached):
                self.actions_refused += 1
            elif isinstance(outcome, Exception):
                raise outcome

    def _call(self, calls: list[Callable[[], object]]) -> None:
        for call in calls:
            call()


def _kind(payload) -> type | None:
    return type(payload) if isinstance(payload, Planned | ActionItem) else None


def _leading(queue: deque, kind: type | None) -> list:
    """Take the items of ``kind`` at the head of ``queue`` (None: calls)."""
    taken = []
    while queue and _kind(queue[0][1]) is kind:
        taken.append(queue.popleft())
    return taken
