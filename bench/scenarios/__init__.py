"""The benchmark scenarios. Adding one: write ``bench/scenarios/<name>.py`` with a
``run(context: Context) -> Report`` function and register it here."""

from bench.harness import Scenario
from bench.scenarios import import_responses, inbox, sweep

SCENARIOS: dict[str, Scenario] = {
    "inbox": inbox.run,
    "import_responses": import_responses.run,
    "sweep": sweep.run,
}
# Scenarios that build and keep a database of their own: run alone, they need no case data set.
OWN_DATABASE = frozenset({"sweep"})
