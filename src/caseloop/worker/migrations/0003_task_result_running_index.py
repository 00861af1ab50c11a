"""A partial index on the running task results, for the recovery of tasks whose worker died.

The task results table keeps every finished task; the recovery duty looks only at the few
running ones, every half minute. django-tasks-db indexes only the ready ones (on PostgreSQL), so
this index is ours, made in SQL because the model belongs to django-tasks-db. SQLite and
PostgreSQL both accept this statement.
"""

from django.db import migrations

TABLE = "django_tasks_database_dbtaskresult"


class Migration(migrations.Migration):
    dependencies = [
        ("worker", "0002_worker_heartbeat"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [
        migrations.RunSQL(
            sql=(
                f"CREATE INDEX worker_task_running ON {TABLE} (started_at) WHERE status = 'RUNNING'"
            ),
            reverse_sql="DROP INDEX worker_task_running",
        ),
    ]
