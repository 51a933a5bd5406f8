"""Row locks taken in one order (primary key), so two writers can never deadlock.

Memberships are locked ``FOR NO KEY UPDATE``: writers still exclude each other, but a
transaction inserting rows that refer to a membership (a purchase, a ledger entry) does
not wait for them. Its foreign-key check takes ``FOR KEY SHARE`` on the membership at
COMMIT, in the order of its rows, which under ``FOR UPDATE`` could deadlock with a writer
locking in id order (a batch ingest against the award worker). No writer changes a
membership's id, the only key other rows refer to."""

from collections.abc import Iterable, Sequence

from programs.models import Membership, Program


def lock_memberships(
    ids: Iterable[int], *, fields: Sequence[str] | None = None
) -> dict[int, Membership]:
    """Lock the memberships with these ids, in id order, and return them by id, each
    with its program loaded. ``fields``: load only these (and the id and program), for a
    batch that reads nothing else (the others would be read one query per instance).

    Must run inside a transaction.
    """
    locked = Membership.objects.select_for_update(of=("self",), no_key=True)
    if fields is not None:
        locked = locked.only("program", *fields)
    rows = list(locked.filter(pk__any=sorted(set(ids))).order_by("pk"))
    # The few programs once, shared, rather than a copy joined onto every row.
    programs = Program.objects.in_bulk({row.program_id for row in rows})
    for row in rows:
        Membership.program.field.set_cached_value(row, programs[row.program_id])
    return {row.pk: row for row in rows}


def lock_membership(membership_id: int) -> Membership:
    return lock_memberships([membership_id])[membership_id]
