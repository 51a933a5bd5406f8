# The dashboard's figures (issue 17): pending points and buyers per month, a partner per
# cohort, and the counts over quarters and the dashboard's windows (SpanSnapshot).
#
# The snapshots are a cache of the raw tables. The rows written before this migration
# count a partner's answers and points by attribution and repeat answers of a member as
# independent; they are removed, and the next snapshot run (nightly, or "Rebuild
# snapshots now") finds the tables empty and rebuilds all history.

import django.db.models.deletion
from django.db import migrations, models


CLEAR = """
DELETE FROM surveys_metricsnapshot;
DELETE FROM surveys_cohortsnapshot;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('programs', '0008_membership_figures'),
        ('surveys', '0003_member_value_fit'),
    ]

    operations = [
        migrations.AddField(
            model_name='cohortsnapshot',
            name='partner',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='programs.partner', verbose_name='partner'),
        ),
        migrations.AddField(
            model_name='metricsnapshot',
            name='buyers',
            field=models.BigIntegerField(default=0, verbose_name='buyers'),
        ),
        migrations.AddField(
            model_name='metricsnapshot',
            name='buyers_before',
            field=models.BigIntegerField(default=0, verbose_name='buyers of the span before'),
        ),
        migrations.AddField(
            model_name='metricsnapshot',
            name='buyers_retained',
            field=models.BigIntegerField(default=0, verbose_name='buyers of both spans'),
        ),
        migrations.AddField(
            model_name='metricsnapshot',
            name='points_pending',
            field=models.BigIntegerField(default=0, verbose_name='pending points'),
        ),
        migrations.CreateModel(
            name='SpanSnapshot',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('nps_promoters', models.BigIntegerField(default=0, verbose_name='NPS promoters (9-10)')),
                ('nps_passives', models.BigIntegerField(default=0, verbose_name='NPS passives (7-8)')),
                ('nps_detractors', models.BigIntegerField(default=0, verbose_name='NPS detractors (0-6)')),
                ('csat_n', models.BigIntegerField(default=0, verbose_name='CSAT answers')),
                ('csat_satisfied', models.BigIntegerField(default=0, verbose_name='CSAT answers 4-5')),
                ('ces_n', models.BigIntegerField(default=0, verbose_name='CES answers')),
                ('ces_sum', models.BigIntegerField(default=0, verbose_name='CES sum of answers')),
                ('ces_agree', models.BigIntegerField(default=0, verbose_name='CES answers 5-7')),
                ('cli_n', models.BigIntegerField(default=0, verbose_name='CLI answers')),
                ('cli_sum', models.BigIntegerField(default=0, verbose_name='CLI sum of the three answers')),
                ('buyers', models.BigIntegerField(default=0, verbose_name='buyers')),
                ('buyers_before', models.BigIntegerField(default=0, verbose_name='buyers of the span before')),
                ('buyers_retained', models.BigIntegerField(default=0, verbose_name='buyers of both spans')),
                ('span', models.CharField(choices=[('quarter', 'Calendar quarter'), ('window', "The last months (the dashboard's window)")], max_length=7, verbose_name='span')),
                ('start', models.DateField(help_text='First day of the first month.', verbose_name='first month')),
                ('months', models.PositiveSmallIntegerField(verbose_name='months')),
                ('repeat_buyers', models.BigIntegerField(default=0, verbose_name='buyers with more than one purchase')),
                ('purchases', models.BigIntegerField(default=0, verbose_name='purchases')),
                ('revenue', models.DecimalField(decimal_places=2, default=0, max_digits=18, verbose_name='revenue')),
                ('lifetime_days', models.DecimalField(decimal_places=6, default=0, help_text='Sum over the buyers of the days from their first to their last purchase.', max_digits=20, verbose_name='customer lifetimes (days, summed)')),
                ('single_product_buyers', models.BigIntegerField(default=0, verbose_name='buyers of one product')),
                ('multi_product_buyers', models.BigIntegerField(default=0, verbose_name='buyers of more than one product')),
                ('computed_at', models.DateTimeField(verbose_name='computed')),
                ('partner', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='programs.partner', verbose_name='partner')),
                ('program', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='programs.program', verbose_name='program')),
                ('tier', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='programs.tier', verbose_name='tier')),
            ],
            options={
                'verbose_name': 'span snapshot',
                'verbose_name_plural': 'span snapshots',
                'ordering': ['span', '-start', 'program', 'tier', 'partner'],
                'indexes': [models.Index(fields=['span', 'months', 'partner', 'start'], name='span_lookup')],
            },
        ),
        migrations.RunSQL(CLEAR, migrations.RunSQL.noop),
    ]
