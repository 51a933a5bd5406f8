"""Many action reports at once (the demo's history, imports): ``action_record`` for each, in
order and with the same outcome, in one transaction and a number of queries that does not
grow with the reports. Points go through ``Postings`` as everywhere; the tier upgrade
follows ``membership_tier_upgrade`` with the figures kept in memory, as the award batches
do (``programs.services.awarding``). ``tests/programs/test_actions_many.py`` checks that
one by one and in bulk give the same result."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from programs.errors import ActionLimitReached, MembershipInactive, UnknownAction
from programs.models import (
    ActionEvent,
    ActionRule,
    EntryKind,
    EntrySource,
    LotAllocation,
    MembershipStatus,
    PointLot,
    Tier,
    TierChange,
    TierChangeReason,
    TierKind,
    TierMetric,
)
from programs.services import events
from programs.services.actions import LIMIT_PERIOD_LENGTH, limit_period_start
from programs.services.awarding import LOT_FIELDS
from programs.services.events import events_record
from programs.services.expiry_rules import lot_expiry
from programs.services.ledger import Actor
from programs.services.locking import lock_memberships
from programs.services.postings import Postings
from programs.services.table_rows import ids_reserve, rows_insert_values
from programs.services.tier_figures import (
    ZERO,
    Qualification,
    qualification_window,
    qualifying_values,
)
from programs.services.tiers import (
    effective_tier,
    qualified_tier_raise,
    tier_change_data,
    tier_change_new,
)


@dataclass(frozen=True)
class ActionItem:
    """One report for ``actions_record_many``: ``action_record``'s arguments."""

    membership_id: int
    code: str
    reference: str
    actor: Actor
    occurred_at: datetime


# What an action changes on a membership besides its balances (``Postings``).
_MEMBERSHIP_FIELDS = [
    "last_activity_at",
    "tier",
    "qualified_tier",
    "qualified_tier_since",
    "tier_review_at",
]


@transaction.atomic
def actions_record_many(items: Sequence[ActionItem]) -> list[ActionEvent | Exception]:
    """``action_record`` for each item, in order, with the same outcome (events, entries,
    lots, debt settled, last activity, tier upgrades, ``points.awarded`` and
    ``tier.changed`` events) in one transaction and a number of queries that does not
    grow with the items (the demo's history). Per item the event (the first one for a
    report made before), or the error ``action_record`` raises for it (inactive
    membership, unknown action, limit reached), which leaves the other items alone."""
    if not items:
        return []
    now = timezone.now()
    memberships = lock_memberships(item.membership_id for item in items)
    program_ids = {m.program_id for m in memberships.values()}
    rules = {
        (rule.program_id, rule.code): rule
        for rule in ActionRule.objects.filter(program_id__in=program_ids, is_active=True)
    }
    found = ActionEvent.objects.filter(
        membership_id__in=list(memberships), reference__in={item.reference for item in items}
    )
    known = {(e.membership_id, e.rule_id, e.reference): e for e in found}
    limited = [rule.pk for rule in rules.values() if rule.limit_count is not None]
    done = defaultdict(list)  # (membership, rule) -> moments of its events
    rows = ActionEvent.objects.filter(membership_id__in=list(memberships), rule_id__in=limited)
    for membership_id, rule_id, at in rows.values_list("membership_id", "rule_id", "occurred_at"):
        done[membership_id, rule_id].append(at)

    outcomes: list[ActionEvent | Exception] = []
    new: list[ActionEvent] = []
    actors: dict[int, Actor] = {}  # by id(event)
    for item in items:
        membership = memberships[item.membership_id]
        rule = rules.get((membership.program_id, item.code))
        if membership.status != MembershipStatus.ACTIVE:
            outcomes.append(MembershipInactive())
        elif rule is None:
            outcomes.append(
                UnknownAction(f"No active action '{item.code}' in this program.", field="code")
            )
        elif (event := known.get((membership.pk, rule.pk, item.reference))) is not None:
            outcomes.append(event)
        elif _limit_reached(rule, done[membership.pk, rule.pk], item.occurred_at):
            outcomes.append(
                ActionLimitReached(
                    f"'{rule.name}' earns points {rule.limit_count}x "
                    f"{rule.get_limit_period_display()}; that is used up."
                )
            )
        else:
            event = ActionEvent(
                membership=membership,
                rule=rule,
                reference=item.reference,
                occurred_at=item.occurred_at,
                points=rule.points,
            )
            known[membership.pk, rule.pk, item.reference] = event
            done[membership.pk, rule.pk].append(item.occurred_at)
            new.append(event)
            actors[id(event)] = item.actor
            outcomes.append(event)
    if new:
        for event, pk in zip(new, ids_reserve(ActionEvent, len(new)), strict=True):
            event.pk = pk
        ActionEvent.objects.bulk_create(new)
        _actions_credit(new, actors, memberships, now)
    return outcomes


def _limit_reached(rule: ActionRule, moments: list[datetime], occurred_at: datetime) -> bool:
    if rule.limit_count is None:
        return False
    start = limit_period_start(rule.limit_period, occurred_at)
    if start is not None:
        end = start + LIMIT_PERIOD_LENGTH[str(rule.limit_period)]
        moments = [at for at in moments if start <= at < end]
    return len(moments) >= rule.limit_count


def _actions_credit(new: list[ActionEvent], actors: dict, memberships, now: datetime) -> None:
    """``points_earn``, the last activity and ``membership_tier_upgrade`` of each new event,
    in order: the entries posted, lots and debt settling, the tier figures kept in memory
    (as the award batches do), then one write per table and the events."""
    tiers = {
        t.pk: t
        for t in Tier.objects.filter(program_id__in={m.program_id for m in memberships.values()})
    }
    qualified = defaultdict(list)
    for tier in sorted(tiers.values(), key=lambda t: t.rank):
        if tier.kind == TierKind.QUALIFIED:
            qualified[tier.program_id].append(tier)
    for membership in memberships.values():
        for name in (
            "tier",
            "qualified_tier",
            "override_tier",
            "subscription_tier",
            "account_tier",
        ):
            setattr(membership, name, tiers.get(getattr(membership, f"{name}_id")))
    windows, figures = {}, {}
    by_program = defaultdict(list)
    for membership in {
        event.membership_id: memberships[event.membership_id] for event in new
    }.values():
        by_program[membership.program_id].append(membership.pk)
    for program_id, ids in by_program.items():
        program = memberships[ids[0]].program
        windows[program_id] = start, end = qualification_window(program, now)
        values = qualifying_values(program.tier_metric, ids, start, end)
        figures.update({pk: values.get(pk, ZERO) for pk in ids})

    postings = Postings(expected=len(new))
    lot_ids = iter(ids_reserve(PointLot, len(new)))
    lots, allocations, changes, happened = [], [], [], []
    for event in new:
        membership = memberships[event.membership_id]
        program = membership.program
        rule = event.rule
        posted = postings.post(
            membership,
            kind=EntryKind.EARN,
            source=EntrySource.ACTION,
            idempotency_key=f"action:{event.pk}:earn",
            actor=actors[id(event)],
            points=rule.points,
            reason=rule.name,
            at=now,
            effective_at=event.occurred_at,
            action_event_id=event.pk,
        )
        lot_id, remaining = next(lot_ids), rule.points
        draw = min(max(0, rule.points - posted.balance_after), rule.points)  # _settle_debt
        if draw:
            remaining -= draw
            allocations.append(LotAllocation(entry_id=posted.id, lot_id=lot_id, points=draw))
        lots.append(
            [
                lot_id,
                membership.pk,
                posted.id,
                rule.points,
                remaining,
                event.occurred_at,
                now,
                now,
                lot_expiry(program, event.occurred_at),
            ]
        )
        data = {
            "entry_id": posted.id,
            "points": rule.points,
            "pending": False,
            "available_at": now,
            "source": EntrySource.ACTION,
            "reason": rule.name,
        }
        happened.append((events.POINTS_AWARDED, membership, data))
        membership.last_activity_at = max(
            filter(None, [membership.last_activity_at, event.occurred_at])
        )
        # membership_tier_upgrade, with the figures kept up to date in memory
        start, end = windows[program.pk]
        if program.tier_metric == TierMetric.POINTS and start <= event.occurred_at <= end:
            figures[membership.pk] += rule.points
        value = figures[membership.pk]
        value = max(value, ZERO) if program.tier_metric == TierMetric.POINTS else value
        if not qualified_tier_raise(membership, qualified[program.pk], value, now):
            continue
        old, membership.tier = membership.tier, effective_tier(membership, now)
        if (membership.tier.pk if membership.tier else None) == (old.pk if old else None):
            continue
        change = tier_change_new(
            membership,
            old_id=old.pk if old else None,
            new=membership.tier,
            reason=TierChangeReason.UPGRADE,
            figures=Qualification(value=value, window_start=start, window_end=end),
        )
        change.from_tier = old
        changes.append(change)
        happened.append((events.TIER_CHANGED, membership, change))
    postings.write(also=_MEMBERSHIP_FIELDS)
    rows_insert_values(PointLot, LOT_FIELDS, lots)
    LotAllocation.objects.bulk_create(allocations)
    TierChange.objects.bulk_create(changes)
    events_record(
        [
            (type, membership, tier_change_data(data) if type == events.TIER_CHANGED else data)
            for type, membership, data in happened
        ],
        at=now,
    )
