"""The deadline sweep started on a signal, for the tests that run it in two processes at once
(``caseloop manage shell -c``): both processes get ready first, then sweep together."""

import time
from datetime import datetime
from pathlib import Path

from caseloop.sla.services import sweep_deadlines

WAIT_LIMIT_SECONDS = 120.0


def sweep_when_told(go: str, now: str, batch_size: int) -> None:
    """Say ``ready``, wait for the file ``go`` to appear, then sweep as of ``now`` in batches
    of ``batch_size`` (small ones make two sweeps take turns, not one take all)."""
    print("ready", flush=True)
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while not Path(go).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("never told to go")
        time.sleep(0.002)
    result = sweep_deadlines(now=datetime.fromisoformat(now), batch_size=batch_size)
    print(f"swept: {result}", flush=True)
