"""Two-phase debits (paying with points): points holds, the membership's ``held`` cache,
the ledger's ``held_points`` column (with its link to the hold and the new entry kinds)
and the ``hold.captured`` / ``hold.voided`` webhook events.

Adding the columns with a default rewrites no ledger row (PostgreSQL stores the default),
so the append-only trigger is not involved.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0004_notifications_engagement_moved'),
        ('programs', '0009_entry_effective_at'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='webhookevent',
            name='type',
            field=models.CharField(choices=[('points.awarded', 'Points awarded'), ('tier.changed', 'Tier changed'), ('reward.redeemed', 'Reward redeemed'), ('referral.rewarded', 'Referral rewarded'), ('survey.responded', 'Survey answered'), ('purchase.failed', 'Purchase failed'), ('hold.captured', 'Points hold captured'), ('hold.voided', 'Points hold voided or expired')], max_length=40, verbose_name='type'),
        ),
        migrations.CreateModel(
            name='PointsHold',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('held', 'Held'), ('captured', 'Captured'), ('voided', 'Voided'), ('expired', 'Expired')], default='held', max_length=10, verbose_name='status')),
                ('points', models.IntegerField(verbose_name='points held')),
                ('points_captured', models.IntegerField(default=0, verbose_name='points captured')),
                ('points_refunded', models.IntegerField(default=0, help_text='Captured points refunds gave back.', verbose_name='points given back')),
                ('amount', models.DecimalField(decimal_places=2, help_text='What the held points pay for.', max_digits=14, verbose_name='amount')),
                ('captured_amount', models.DecimalField(decimal_places=2, default=0, max_digits=14, verbose_name='amount captured')),
                ('currency', models.CharField(default='EUR', max_length=3, verbose_name='currency')),
                ('point_value', models.DecimalField(decimal_places=4, max_digits=10, verbose_name='value of one point')),
                ('order_reference', models.CharField(blank=True, max_length=100, verbose_name='order id')),
                ('idempotency_key', models.CharField(max_length=255, verbose_name='idempotency key')),
                ('expires_at', models.DateTimeField(verbose_name='expires')),
                ('created_at', models.DateTimeField(verbose_name='created')),
                ('captured_at', models.DateTimeField(blank=True, null=True, verbose_name='captured')),
                ('voided_at', models.DateTimeField(blank=True, null=True, verbose_name='voided')),
                ('expired_at', models.DateTimeField(blank=True, null=True, verbose_name='expired')),
            ],
            options={
                'verbose_name': 'points hold',
                'verbose_name_plural': 'points holds',
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.RemoveConstraint(
            model_name='ledgerentry',
            name='ledgerentry_moves_points',
        ),
        migrations.AddField(
            model_name='ledgerentry',
            name='held_points',
            field=models.IntegerField(default=0, verbose_name='held points'),
        ),
        migrations.AddField(
            model_name='membership',
            name='held',
            field=models.BigIntegerField(default=0, editable=False, help_text='Reserved by a partner to pay an order; not available until released.', verbose_name='points held'),
        ),
        migrations.AlterField(
            model_name='ledgerentry',
            name='kind',
            field=models.CharField(choices=[('earn', 'Earned'), ('release', 'Became available'), ('redeem', 'Redeemed'), ('redeem_cancel', 'Redemption cancelled'), ('expire', 'Expired'), ('reverse', 'Reversed (return)'), ('adjust', 'Adjusted by staff'), ('hold', 'Held for a payment'), ('hold_release', 'Hold released'), ('capture', 'Paid with points'), ('capture_refund', 'Payment with points refunded')], max_length=20, verbose_name='kind'),
        ),
        migrations.AlterField(
            model_name='ledgerentry',
            name='source',
            field=models.CharField(choices=[('purchase', 'Purchase'), ('action', 'Action'), ('referral', 'Referral'), ('redemption', 'Redemption'), ('staff', 'Staff adjustment'), ('payment', 'Payment with points'), ('system', 'System')], max_length=20, verbose_name='source'),
        ),
        migrations.AddConstraint(
            model_name='membership',
            constraint=models.CheckConstraint(condition=models.Q(('held__gte', 0)), name='membership_held_gte_0'),
        ),
        migrations.AddField(
            model_name='pointshold',
            name='membership',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='holds', to='programs.membership', verbose_name='membership'),
        ),
        migrations.AddField(
            model_name='pointshold',
            name='partner',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='holds', to='programs.partner', verbose_name='partner'),
        ),
        migrations.AddField(
            model_name='ledgerentry',
            name='hold',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='entries', to='programs.pointshold'),
        ),
        migrations.AddIndex(
            model_name='ledgerentry',
            index=models.Index(condition=models.Q(('hold__isnull', False)), fields=['hold'], name='ledger_hold'),
        ),
        migrations.AddConstraint(
            model_name='ledgerentry',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('points', 0), _negated=True), models.Q(('pending_points', 0), _negated=True), models.Q(('held_points', 0), _negated=True), _connector='OR'), name='ledgerentry_moves_points'),
        ),
        migrations.AddIndex(
            model_name='pointshold',
            index=models.Index(condition=models.Q(('status', 'held')), fields=['expires_at'], name='hold_to_expire'),
        ),
        migrations.AddIndex(
            model_name='pointshold',
            index=models.Index(condition=models.Q(('order_reference', ''), _negated=True), fields=['partner', 'order_reference'], name='hold_order'),
        ),
        migrations.AddConstraint(
            model_name='pointshold',
            constraint=models.UniqueConstraint(fields=('partner', 'idempotency_key'), name='hold_unique_key'),
        ),
        migrations.AddConstraint(
            model_name='pointshold',
            constraint=models.CheckConstraint(condition=models.Q(('points__gt', 0)), name='hold_points_gt_0'),
        ),
        migrations.AddConstraint(
            model_name='pointshold',
            constraint=models.CheckConstraint(condition=models.Q(('points_captured__gte', 0), ('points_captured__lte', models.F('points'))), name='hold_captured_within_held'),
        ),
        migrations.AddConstraint(
            model_name='pointshold',
            constraint=models.CheckConstraint(condition=models.Q(('points_refunded__gte', 0), ('points_refunded__lte', models.F('points_captured'))), name='hold_refunded_within_captured'),
        ),
        migrations.AddConstraint(
            model_name='pointshold',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gt', 0), ('captured_amount__gte', 0), ('captured_amount__lte', models.F('amount'))), name='hold_amounts'),
        ),
        migrations.AddConstraint(
            model_name='pointshold',
            constraint=models.CheckConstraint(condition=models.Q(('point_value__gt', 0)), name='hold_point_value_gt_0'),
        ),
        migrations.AddConstraint(
            model_name='pointshold',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('captured_at__isnull', True), ('expired_at__isnull', True), ('points_captured', 0), ('status', 'held'), ('voided_at__isnull', True)), models.Q(('captured_at__isnull', False), ('expired_at__isnull', True), ('points_captured__gt', 0), ('status', 'captured'), ('voided_at__isnull', True)), models.Q(('captured_at__isnull', True), ('expired_at__isnull', True), ('points_captured', 0), ('status', 'voided'), ('voided_at__isnull', False)), models.Q(('captured_at__isnull', True), ('expired_at__isnull', False), ('points_captured', 0), ('status', 'expired'), ('voided_at__isnull', True)), _connector='OR'), name='hold_status_consistent'),
        ),
    ]
