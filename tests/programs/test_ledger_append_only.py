import pytest
from django.db import DatabaseError, transaction

from programs.models import LedgerEntry


@pytest.mark.django_db
def test_database_refuses_to_update_or_delete_ledger_entries(membership, buy):
    buy(membership, "10.00")
    entry = LedgerEntry.objects.get(membership=membership)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(points=1000)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        # Bypass Django's PROTECT collector: the database itself must refuse.
        LedgerEntry.objects.filter(pk=entry.pk)._raw_delete(using="default")
    entry.refresh_from_db()
    assert entry.points == 10
