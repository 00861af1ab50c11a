"""The background worker, ``caseloop worker``: periodic duties claimed with a lease, then the
one-off tasks of the Django Tasks queue (django-tasks-db), in a loop. Apps add their duties in
a ``duties.py`` module with ``register_duty`` and their tasks in ``tasks.py``; workers beat so
that the tasks of a worker that died are run again (``worker.recover_lost_tasks``)."""
