"""Foreign keys that a composite index already leads with lose their own index.

Only the indexes are dropped (SQLite would otherwise rebuild each table); the fields' new
``db_index=False`` goes into the state."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0007_covered_foreign_key_indexes"),
        ("sla", "0001_unit_calendars_and_escalations"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS sla_escalation_case_id_494ca3dc",
                    reverse_sql='CREATE INDEX "sla_escalation_case_id_494ca3dc" ON "sla_escalation" ("case_id")',
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="escalation",
                    name="case",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="escalations",
                        to="cases.case",
                    ),
                ),
            ],
        ),
    ]
