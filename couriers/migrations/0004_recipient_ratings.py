# Recipients' ratings: the courier's mean is kept from a running count and total.

import decimal

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('couriers', '0003_live_positions'),
    ]

    operations = [
        migrations.AddField(
            model_name='courier',
            name='rating_count',
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name='courier',
            name='rating_stars_total',
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
        migrations.AlterField(
            model_name='courier',
            name='rating',
            field=models.DecimalField(decimal_places=2, default=decimal.Decimal('5.00'), help_text="Mean of the recipients' stars (5.00 until the first rating).", max_digits=3, validators=[django.core.validators.MinValueValidator(decimal.Decimal('1.00')), django.core.validators.MaxValueValidator(decimal.Decimal('5.00'))]),
        ),
    ]
