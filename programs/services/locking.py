"""Row locks taken in one order (primary key), so two writers can never deadlock."""

from collections.abc import Iterable

from programs.models import Membership, Program


def lock_memberships(ids: Iterable[int]) -> dict[int, Membership]:
    """Lock the memberships with these ids, in id order, and return them by id, each
    with its program loaded.

    Must run inside a transaction.
    """
    rows = list(
        Membership.objects.select_for_update(of=("self",))
        .filter(pk__any=sorted(set(ids)))
        .order_by("pk")
    )
    # The few programs once, shared, rather than a copy joined onto every row.
    programs = Program.objects.in_bulk({row.program_id for row in rows})
    for row in rows:
        Membership.program.field.set_cached_value(row, programs[row.program_id])
    return {row.pk: row for row in rows}


def lock_membership(membership_id: int) -> Membership:
    return lock_memberships([membership_id])[membership_id]
