"""Row locks taken in one order (primary key), so two writers can never deadlock."""

from collections.abc import Iterable

from programs.models import Membership


def lock_memberships(ids: Iterable[int]) -> dict[int, Membership]:
    """Lock the memberships with these ids, in id order, and return them by id.

    Must run inside a transaction. On SQLite (development) the whole database is locked by
    the IMMEDIATE transaction instead, and ``select_for_update`` is a no-op.
    """
    ordered = sorted(set(ids))
    rows = (
        Membership.objects.select_for_update(of=("self",))
        .select_related("program")
        .filter(pk__in=ordered)
    )
    return {row.pk: row for row in rows.order_by("pk")}


def lock_membership(membership_id: int) -> Membership:
    return lock_memberships([membership_id])[membership_id]
