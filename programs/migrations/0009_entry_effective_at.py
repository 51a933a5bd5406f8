"""Ledger entries get a business time, ``effective_at``, beside the time recorded.

Backfill, as the services write it from now on: an earn entry is effective when its lot
was earned (``PointLot.earned_at``: the purchase's ``occurred_at``, an action's date); a
return (reverse entry) when the points it takes back were earned (the lot of the same
purchase or referral; else the purchase's date); every other entry (releases,
redemptions, expiry, adjustments) when it was recorded. These are the dates the tier
figures and the snapshots already read through the lots, so no figure moves.

The ledger is append-only (a trigger from 0002 refuses UPDATE): the trigger is disabled
for the one backfill statement only, inside this migration's transaction.

A redemption's date is set by the service (default now) instead of auto_now_add, so a
loaded history (the demo) dates redemptions as its story says.

The membership's history index now follows the business time: the portal and the API
read a membership's entries newest first by ``effective_at``.
"""

import django.utils.timezone
from django.db import migrations, models

TRIGGER = "programs_ledgerentry_append_only"

BACKFILL = """
UPDATE programs_ledgerentry AS entry
SET effective_at = COALESCE(
    CASE entry.kind
        WHEN 'earn' THEN (
            SELECT lot.earned_at FROM programs_pointlot AS lot WHERE lot.earn_entry_id = entry.id
        )
        WHEN 'reverse' THEN COALESCE(
            (
                SELECT lot.earned_at
                FROM programs_pointlot AS lot
                JOIN programs_ledgerentry AS earn ON earn.id = lot.earn_entry_id
                WHERE earn.membership_id = entry.membership_id
                    AND earn.kind = 'earn'
                    AND (
                        earn.purchase_id = entry.purchase_id
                        OR earn.referral_id = entry.referral_id
                    )
                ORDER BY earn.id
                LIMIT 1
            ),
            (SELECT p.occurred_at FROM programs_purchase AS p WHERE p.id = entry.purchase_id)
        )
    END,
    entry.created_at
)
"""


def backfill(apps, schema_editor):
    schema_editor.execute(f"ALTER TABLE programs_ledgerentry DISABLE TRIGGER {TRIGGER}")
    schema_editor.execute(BACKFILL)
    schema_editor.execute(f"ALTER TABLE programs_ledgerentry ENABLE TRIGGER {TRIGGER}")


class Migration(migrations.Migration):
    dependencies = [("programs", "0008_membership_figures")]

    operations = [
        migrations.AddField(
            model_name="ledgerentry",
            name="effective_at",
            field=models.DateTimeField(null=True, verbose_name="effective"),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="ledgerentry",
            name="effective_at",
            field=models.DateTimeField(
                help_text=(
                    "When the entry counts in business terms (the purchase's date for its "
                    "points); the time recorded is its creation time."
                ),
                verbose_name="effective",
            ),
        ),
        # A redemption is dated by the service (a loaded history dates it in the past), not
        # by auto_now_add: no change in the database.
        migrations.AlterField(
            model_name="redemption",
            name="created_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now, editable=False, verbose_name="redeemed"
            ),
        ),
        migrations.RemoveIndex(model_name="ledgerentry", name="ledger_membership_recent"),
        migrations.AddIndex(
            model_name="ledgerentry",
            index=models.Index(
                fields=["membership", "-effective_at", "-id"], name="ledger_membership_recent"
            ),
        ),
    ]
