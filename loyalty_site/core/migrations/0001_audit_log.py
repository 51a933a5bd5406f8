"""The staff audit log, append-only in the database itself (as the ledger, programs 0002).

A trigger refuses DELETE, and UPDATE except the one redaction an erasure makes: it may
rewrite the personal values (``object_repr``, ``changes``, ``note``) and must stamp
``redacted_at``, once; who, when, what and which record stay as written.
"""

import django.core.serializers.json
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


GUARD = """
CREATE OR REPLACE FUNCTION core_auditentry_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL
        AND NEW.id = OLD.id AND NEW.at = OLD.at
        AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
        AND NEW.actor_name = OLD.actor_name AND NEW.action = OLD.action
        AND NEW.model = OLD.model AND NEW.object_id = OLD.object_id
        AND NEW.customer_id IS NOT DISTINCT FROM OLD.customer_id
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'table %% is append-only: %% is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""


def append_only(apps, schema_editor):
    schema_editor.execute(GUARD)
    schema_editor.execute(
        "CREATE TRIGGER core_auditentry_append_only BEFORE UPDATE OR DELETE ON core_auditentry "
        "FOR EACH ROW EXECUTE FUNCTION core_auditentry_guard()"
    )


def append_only_undo(apps, schema_editor):
    schema_editor.execute("DROP TRIGGER IF EXISTS core_auditentry_append_only ON core_auditentry")
    schema_editor.execute("DROP FUNCTION IF EXISTS core_auditentry_guard()")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField(db_index=True, default=django.utils.timezone.now, verbose_name='when')),
                ('actor_name', models.CharField(max_length=150, verbose_name='staff member (name)')),
                ('action', models.CharField(db_index=True, max_length=100, verbose_name='action')),
                ('model', models.CharField(max_length=100, verbose_name='kind of record')),
                ('object_id', models.CharField(max_length=64, verbose_name='record id')),
                ('object_repr', models.CharField(blank=True, max_length=200, verbose_name='record')),
                ('changes', models.JSONField(default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder, help_text='Each changed field with its value before and after.', verbose_name='before and after')),
                ('note', models.TextField(blank=True, verbose_name='note')),
                ('customer_id', models.BigIntegerField(db_index=True, help_text='The customer the record belongs to; their erasure redacts this row.', null=True, verbose_name='customer id')),
                ('redacted_at', models.DateTimeField(null=True, verbose_name='personal values redacted')),
                ('actor', models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='staff member')),
            ],
            options={
                'verbose_name': 'audit log entry',
                'verbose_name_plural': 'audit log',
                'ordering': ['-at', '-id'],
                'indexes': [models.Index(fields=['model', 'object_id'], name='core_audit_object')],
            },
        ),
        migrations.RunPython(append_only, append_only_undo, elidable=False),
    ]
