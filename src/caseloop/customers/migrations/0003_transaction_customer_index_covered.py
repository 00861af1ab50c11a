"""A transaction's customer loses its own index: ``transaction_timeline`` leads with it. Dropped
by ``DROP INDEX`` only (SQLite would otherwise rebuild the table)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0002_interaction_links"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS customers_transaction_customer_id_40a7dbb7",
                    reverse_sql='CREATE INDEX "customers_transaction_customer_id_40a7dbb7" ON "customers_transaction" ("customer_id")',
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="transaction",
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="transactions",
                        to="customers.customer",
                    ),
                ),
            ],
        ),
    ]
