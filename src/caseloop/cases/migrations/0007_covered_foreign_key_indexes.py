"""Foreign keys that a composite index already leads with lose their own index.

Only the indexes are dropped (SQLite would otherwise rebuild each table); the fields' new
``db_index=False`` goes into the state."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0006_case_unit_status_due_index"),
        ("customers", "0002_interaction_links"),
        ("org", "0001_initial"),
        ("programs", "0002_program_escalation_settings"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS cases_case_customer_id_3e0cf925",
                    reverse_sql='CREATE INDEX "cases_case_customer_id_3e0cf925" ON "cases_case" ("customer_id")',
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS cases_case_owner_id_352cf2f7",
                    reverse_sql='CREATE INDEX "cases_case_owner_id_352cf2f7" ON "cases_case" ("owner_id")',
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS cases_case_program_id_294d0807",
                    reverse_sql='CREATE INDEX "cases_case_program_id_294d0807" ON "cases_case" ("program_id")',
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS cases_case_unit_id_f34fc706",
                    reverse_sql='CREATE INDEX "cases_case_unit_id_f34fc706" ON "cases_case" ("unit_id")',
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS cases_caseevent_case_id_6c6031ac",
                    reverse_sql='CREATE INDEX "cases_caseevent_case_id_6c6031ac" ON "cases_caseevent" ("case_id")',
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS cases_casewatcher_case_id_1ae51812",
                    reverse_sql='CREATE INDEX "cases_casewatcher_case_id_1ae51812" ON "cases_casewatcher" ("case_id")',
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS cases_casewatcher_user_id_f211b0cb",
                    reverse_sql='CREATE INDEX "cases_casewatcher_user_id_f211b0cb" ON "cases_casewatcher" ("user_id")',
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="case",
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="cases",
                        to="customers.customer",
                    ),
                ),
                migrations.AlterField(
                    model_name="case",
                    name="owner",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="owned_cases",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="case",
                    name="program",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="programs.program",
                    ),
                ),
                migrations.AlterField(
                    model_name="case",
                    name="unit",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="cases",
                        to="org.unit",
                    ),
                ),
                migrations.AlterField(
                    model_name="caseevent",
                    name="case",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="cases.case",
                    ),
                ),
                migrations.AlterField(
                    model_name="casewatcher",
                    name="case",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="watchers",
                        to="cases.case",
                    ),
                ),
                migrations.AlterField(
                    model_name="casewatcher",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="watched_cases",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
    ]
