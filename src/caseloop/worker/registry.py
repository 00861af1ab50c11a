"""The registry of periodic duties the worker runs.

An app adds a duty in its ``duties.py`` module, which the worker imports at start::

    register_duty("deadline_sweep", timedelta(minutes=1), sweep_deadlines)

A duty is a function of the current time. It runs at most once per ``every`` across all
workers, and must be idempotent: a worker killed mid-run leaves work that the next run repeats.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils.module_loading import autodiscover_modules

DutyFunc = Callable[[datetime], object]

DEFAULT_LEASE = timedelta(minutes=5)
NAME_MAX_LENGTH = 100


@dataclass(frozen=True)
class Duty:
    """A duty to run every ``every``. ``lease`` is how long a claim lasts: longer than one run
    ever takes, and as short as possible, because a killed worker's duty waits that long."""

    name: str
    every: timedelta
    func: DutyFunc
    lease: timedelta = DEFAULT_LEASE


class DutyRegistry:
    """The duties one worker runs, in registration order."""

    def __init__(self) -> None:
        self._duties: dict[str, Duty] = {}

    def register(
        self, name: str, every: timedelta, func: DutyFunc, *, lease: timedelta = DEFAULT_LEASE
    ) -> Duty:
        """Add a duty; a name may be registered only once."""
        if not name or len(name) > NAME_MAX_LENGTH:
            raise ValueError(f"A duty name must have 1 to {NAME_MAX_LENGTH} characters: {name!r}")
        if every <= timedelta(0) or lease <= timedelta(0):
            raise ValueError(f"Duty {name!r}: 'every' and 'lease' must be positive.")
        if name in self._duties:
            raise ValueError(f"A duty named {name!r} is already registered.")
        duty = Duty(name=name, every=every, func=func, lease=lease)
        self._duties[name] = duty
        return duty

    def unregister(self, name: str) -> None:
        self._duties.pop(name, None)

    def duties(self) -> list[Duty]:
        return list(self._duties.values())


registry = DutyRegistry()


def register_duty(
    name: str, every: timedelta, func: DutyFunc, *, lease: timedelta = DEFAULT_LEASE
) -> Duty:
    """Add a duty to the registry that ``caseloop worker`` runs."""
    return registry.register(name, every, func, lease=lease)


def autodiscover_duties() -> None:
    """Import every installed app's ``duties`` module so that its duties register themselves."""
    autodiscover_modules("duties")
