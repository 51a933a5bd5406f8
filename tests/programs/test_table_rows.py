"""The batch paths' building blocks: the ``__any`` lookup, reserved ids, rows written from
values, and membership updates that stay HOT on PostgreSQL."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from programs.models import (
    LedgerEntry,
    Membership,
    Purchase,
    PurchaseLine,
    PurchaseStatus,
)
from programs.services.memberships import membership_enroll
from programs.services.purchases import LineData, purchase_record, purchases_award
from programs.services.table_rows import ids_reserve, rows_insert_values, rows_update_values
from tests.factories import CustomerFactory


@pytest.fixture
def members(program, tiers):
    return [membership_enroll(customer=CustomerFactory(), program=program)[0] for _ in range(4)]


@pytest.mark.django_db
def test_any_finds_what_in_finds(members):
    wanted = [members[0].pk, members[2].pk, 10**9]  # one id that does not exist

    by_any = set(Membership.objects.filter(pk__any=wanted).values_list("pk", flat=True))
    by_in = set(Membership.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    by_fk = set(Membership.objects.filter(customer_id__any=[members[1].customer_id]))

    assert by_any == by_in == {members[0].pk, members[2].pk}
    assert by_fk == {members[1]}
    assert not Membership.objects.filter(pk__any=[]).exists()
    assert Membership.objects.exclude(pk__any=wanted).count() == 2


@pytest.mark.django_db
def test_any_is_registered_only_where_the_batch_paths_use_it(members):
    from django.core.exceptions import FieldError

    from programs.models import Program, Reward

    assert Membership.objects.filter(pk__any=[members[0].pk]).count() == 1
    with pytest.raises(FieldError, match="Unsupported lookup 'any'"):
        list(Program.objects.filter(pk__any=[members[0].program_id]))
    with pytest.raises(FieldError, match="Unsupported lookup 'any'"):
        list(Reward.objects.filter(program_id__any=[members[0].program_id]))


@pytest.mark.django_db
def test_any_sends_one_array_parameter_whatever_the_number_of_ids(members):
    with CaptureQueriesContext(connection) as few:
        list(Membership.objects.filter(pk__any=[members[0].pk]))
    with CaptureQueriesContext(connection) as many:
        list(Membership.objects.filter(pk__any=[m.pk for m in members] + list(range(-500, 0))))

    assert "= ANY(" in few[0]["sql"]
    # the statement's text ends with the array literal; the query before it is the same
    assert few[0]["sql"].split("= ANY(")[0] == many[0]["sql"].split("= ANY(")[0]


@pytest.mark.django_db
def test_reserved_ids_are_free_and_later_inserts_continue_after_them(members):
    membership = members[0]
    now = timezone.now()
    with transaction.atomic():
        ids = ids_reserve(LedgerEntry, 3)
        assert len(set(ids)) == 3
        assert not LedgerEntry.objects.filter(pk__in=ids).exists()
        fields = ["id", "membership_id", "kind", "points", "pending_points", "balance_after"]
        fields += ["pending_after", "source", "actor_type", "reason", "idempotency_key"]
        fields += ["created_at", "effective_at", "held_points"]
        kind, source, actor, reason, at = "adjust", "staff", "system", "bulk", now
        rows = [
            [ids[0], membership.pk, kind, 5, 0, 5, 0, source, actor, reason, "test:1", at, at, 0],
            [ids[2], membership.pk, kind, 7, 0, 12, 0, source, actor, reason, "test:2", at, at, 0],
        ]
        rows_insert_values(LedgerEntry, fields, rows)
    written = LedgerEntry.objects.filter(pk__in=ids).order_by("pk")
    assert [(e.pk, e.points, e.balance_after, e.created_at) for e in written] == [
        (ids[0], 5, 5, now),
        (ids[2], 7, 12, now),
    ]
    # ids are never handed out twice, used or not
    with transaction.atomic():
        (later,) = ids_reserve(LedgerEntry, 1)
    assert later > max(ids)


@pytest.mark.django_db
def test_rows_update_values_writes_only_the_named_fields(members):
    first, second = members[0], members[1]
    code = first.referral_code
    stamp = timezone.now() - timedelta(days=3)
    rows_update_values(
        Membership, ["last_activity_at", "tier"], [(first.pk, stamp, None), (second.pk, None, None)]
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.last_activity_at, first.tier_id) == (stamp, None)
    assert (second.last_activity_at, second.tier_id) == (None, None)
    assert (first.referral_code, first.balance) == (code, 0)  # the rest untouched


@pytest.mark.django_db
def test_awards_update_memberships_in_place(program, partner, members):
    """Every award rewrites its members' balances: no index may cover a column it changes
    (``updated_at`` was one), or no update is HOT and each one writes a dozen index
    entries."""
    for n, membership in enumerate(members):
        purchase_record(
            partner=partner,
            membership=membership,
            order_id=f"hot-{n}",
            amount=Decimal("20.00"),
            currency="EUR",
            occurred_at=timezone.now() - timedelta(minutes=5),
            lines=[LineData(sku="", category="food", quantity=1, unit_price=Decimal("20.00"))],
        )
    ids = list(Purchase.objects.values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
            "WHERE relname = 'programs_membership'"
        )
        before = cursor.fetchone()
        assert purchases_award(ids) == len(members)
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
            "WHERE relname = 'programs_membership'"
        )
        after = cursor.fetchone()
    updated, hot = after[0] - before[0], after[1] - before[1]
    assert updated == len(members)
    assert hot == updated
    assert set(Purchase.objects.values_list("status", flat=True)) == {PurchaseStatus.AWARDED}
    assert PurchaseLine.objects.filter(points__gt=0).count() == len(members)


@pytest.mark.django_db
def test_a_copy_that_breaks_a_constraint_raises_djangos_integrity_error(members):
    """The batch writers COPY past Django's cursor: its errors still come in Django's terms,
    so callers (savepoints, the conflict retry, the batch splitter) see what they expect."""
    from django.db import IntegrityError

    entry_id = ids_reserve(LedgerEntry, 1)[0]
    row = [
        entry_id,
        members[0].pk,
        "earn",
        0,
        0,
        0,
        0,
        "purchase",
        "x",
        "system",
        "k",
        timezone.now(),
        timezone.now(),
        0,
    ]
    fields = [
        "id", "membership_id", "kind", "points", "pending_points", "balance_after",
        "pending_after", "source", "reason", "actor_type", "idempotency_key", "created_at",
        "effective_at", "held_points",
    ]  # fmt: skip
    with pytest.raises(IntegrityError, match="ledgerentry_moves_points"), transaction.atomic():
        rows_insert_values(LedgerEntry, fields, [row])
