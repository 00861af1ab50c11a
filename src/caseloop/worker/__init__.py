"""The background worker: periodic duties claimed with a lease, run in a loop by ``caseloop
worker``. Apps add their duties in a ``duties.py`` module with ``register_duty``."""
