"""Make the points ledger append-only in the database itself.

UPDATE and DELETE on ledger entries and lot allocations raise an error, whoever issues
them: the admin, a shell, a buggy service.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION loyalty_forbid_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'table %% is append-only: %% is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""
TABLES = ["programs_ledgerentry", "programs_lotallocation"]


def forwards(apps, schema_editor):
    schema_editor.execute(FUNCTION)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION loyalty_forbid_change()"
        )


def backwards(apps, schema_editor):
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS loyalty_forbid_change()")


class Migration(migrations.Migration):
    dependencies = [("programs", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
