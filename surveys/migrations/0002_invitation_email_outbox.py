# The invitation e-mails become an outbox: state, attempts, last error, next attempt.
# Existing rows: unsent ones are due at once (the due query leaves out closed ones, as
# before), sent ones wait for their reminder, reminded ones are done.

import django.utils.timezone
from django.db import migrations, models

BACKFILL = """
UPDATE surveys_invitation SET
    email_state = CASE
        WHEN reminded_at IS NOT NULL THEN 'reminded'
        WHEN sent_at IS NOT NULL THEN 'sent'
        ELSE 'pending'
    END,
    email_next_attempt_at = CASE
        WHEN reminded_at IS NOT NULL THEN NULL
        ELSE COALESCE(sent_at, created_at)
    END
"""


class Migration(migrations.Migration):

    dependencies = [
        ('surveys', '0001_initial'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='invitation',
            name='invitation_unsent',
        ),
        migrations.AddField(
            model_name='invitation',
            name='email_attempts',
            field=models.PositiveSmallIntegerField(default=0, verbose_name='e-mail attempts'),
        ),
        migrations.AddField(
            model_name='invitation',
            name='email_last_error',
            field=models.CharField(blank=True, max_length=500, verbose_name='last e-mail error'),
        ),
        migrations.AddField(
            model_name='invitation',
            name='email_next_attempt_at',
            field=models.DateTimeField(blank=True, default=django.utils.timezone.now, null=True, verbose_name='next e-mail attempt'),
        ),
        migrations.AddField(
            model_name='invitation',
            name='email_state',
            field=models.CharField(choices=[('pending', 'Waiting to be sent'), ('sent', 'Sent'), ('reminded', 'Reminder sent'), ('failed', 'Failed')], default='pending', max_length=10, verbose_name='e-mail'),
        ),
        migrations.AddIndex(
            model_name='invitation',
            index=models.Index(condition=models.Q(('email_state', 'pending')), fields=['email_next_attempt_at'], name='invitation_email_due'),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
