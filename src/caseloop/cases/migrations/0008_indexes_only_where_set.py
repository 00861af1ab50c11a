"""The actor of events and the person who ticked a task are indexed only where set: the
events of the sweep and the import have no actor, and new cases' tasks are undone. The old
indexes are dropped by ``DROP INDEX`` only (SQLite would otherwise rebuild the tables)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0007_covered_foreign_key_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS cases_caseevent_actor_id_3b42ca2c",
                    reverse_sql='CREATE INDEX "cases_caseevent_actor_id_3b42ca2c" ON "cases_caseevent" ("actor_id")',
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS cases_casetask_done_by_id_fa54bdfb",
                    reverse_sql='CREATE INDEX "cases_casetask_done_by_id_fa54bdfb" ON "cases_casetask" ("done_by_id")',
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="caseevent",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="casetask",
                    name="done_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="caseevent",
            index=models.Index(
                condition=models.Q(("actor__isnull", False)),
                fields=["actor"],
                name="event_by_actor",
            ),
        ),
        migrations.AddIndex(
            model_name="casetask",
            index=models.Index(
                condition=models.Q(("done_by__isnull", False)),
                fields=["done_by"],
                name="task_done_by",
            ),
        ),
    ]
