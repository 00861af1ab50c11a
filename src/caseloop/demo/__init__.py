"""Demo data: Brightmart, a retail chain with two programs and a 90-day history of cases.

``caseloop demo`` loads it with ``caseloop.demo.loader.load_demo``. The fixed part (people,
units, programs) is in ``catalogue``; the generated part (customers, cases and their history,
from a fixed seed) in ``plan``.
"""
