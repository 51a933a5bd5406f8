import pytest
from django.core.management import CommandError, call_command

from programs.models import Membership


def test_reconcile_reports_clean_ledger(membership, buy, capsys):
    buy(membership, "42.00")
    call_command("reconcile_ledger")
    assert "Every cached balance equals its ledger" in capsys.readouterr().out


def test_reconcile_reports_drift_and_fails(membership, buy, capsys):
    buy(membership, "42.00")
    # Simulate a cache written behind the ledger's back.
    Membership.objects.filter(pk=membership.pk).update(balance=99)
    with pytest.raises(CommandError, match="1 membership"):
        call_command("reconcile_ledger")
    assert f"membership {membership.pk}: cached 99/0" in capsys.readouterr().out
