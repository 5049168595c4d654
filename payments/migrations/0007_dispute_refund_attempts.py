"""A dispute's refunds count per attempt, so a refund Stripe refused is not its one refund; the refund_failed action and the refund_failure entry."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0006_dispute_money'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='disputeaction',
            name='dispute_action_one_refund',
        ),
        migrations.AddField(
            model_name='disputeaction',
            name='attempt',
            field=models.PositiveSmallIntegerField(default=1),
        ),
        migrations.AlterField(
            model_name='disputeaction',
            name='kind',
            field=models.CharField(choices=[('open', 'Opened'), ('courier_reply', 'Courier replied'), ('full_refund', 'Full refund'), ('partial_refund', 'Partial refund'), ('courier_adjustment', 'Courier adjustment'), ('courier_compensation', 'Courier compensation'), ('reject', 'Rejected'), ('request_info', 'Asked for more information'), ('submit_evidence', 'Evidence submitted to Stripe'), ('review_due', "Moved to review (courier's reply time ran out)"), ('sla_breached', 'Review time exceeded'), ('chargeback_closed', 'Stripe closed the chargeback'), ('refund_failed', 'Stripe refused the refund')], max_length=32),
        ),
        migrations.AlterField(
            model_name='journalentry',
            name='kind',
            field=models.CharField(choices=[('capture', 'Job captured'), ('stripe_fee', 'Stripe fee'), ('transfer', 'Transfer to a courier'), ('cancellation_fee', 'Cancellation fee captured'), ('return_fee', 'Failed-and-returned fee captured'), ('tip', 'Tip charged'), ('refund', 'Refund'), ('refund_failure', 'Refund failed (its refund entry undone)'), ('reversal', 'Transfer reversal'), ('adjustment', 'Adjustment'), ('compensation', 'Dispute compensation'), ('chargeback', 'Chargeback withdrawn or reinstated')], max_length=32),
        ),
        migrations.AddConstraint(
            model_name='disputeaction',
            constraint=models.UniqueConstraint(condition=models.Q(('kind__in', ['full_refund', 'partial_refund'])), fields=('dispute', 'attempt'), name='dispute_action_one_refund_per_attempt'),
        ),
    ]
