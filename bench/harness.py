"""What every scenario shares: figures with targets, timing, percentiles, and the results file.

``bench/results/latest.json`` keeps one entry per scenario,
``{"scenario": {"figure": {"value": 12.3, "unit": "ms", "target": "< 30"}}}``, plus ``_meta``
(per scenario: data set size, date, database, and notes such as query plans). A run replaces the
entries of the scenarios it ran and keeps the others, so scenarios can be run one at a time.
"""

import json
import operator
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.generate import Dataset

_COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class Figure:
    """One measured number. ``target`` is what DESIGN.md asks for ("< 30", ">= 20000", "true",
    "constant"); ``passed`` is set by the scenario when the target is not a plain comparison."""

    value: float | int | bool | str
    unit: str
    target: str = ""
    passed: bool | None = None

    def verdict(self) -> bool | None:
        """Whether the target is met; None when the figure has no target."""
        if self.passed is not None or not self.target:
            return self.passed
        if isinstance(self.value, bool):
            return str(self.value).lower() == self.target.lower()
        sign, _, limit = self.target.partition(" ")
        compare = _COMPARATORS.get(sign)
        if compare is None or not isinstance(self.value, int | float):
            return None
        return compare(self.value, float(limit))

    def as_json(self) -> dict[str, object]:
        return {"value": self.value, "unit": self.unit, "target": self.target}


@dataclass
class Report:
    """A scenario's figures, in the order they should be shown, and notes for ``_meta``."""

    figures: dict[str, Figure] = field(default_factory=dict)
    notes: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    dataset: Dataset
    console: Console
    database: str  # "sqlite" or "postgresql"
    # One timed round instead of hundreds: for tests of the scenarios, whose numbers mean nothing.
    quick: bool = False

    def rounds(self, wanted: int) -> int:
        return 1 if self.quick else wanted


Scenario = Callable[[Context], Report]


def time_calls(calls: Sequence[Callable[[], object]], rounds: int) -> list[list[float]]:
    """Milliseconds of each call in each round, per call: one untimed warm-up pass over all
    calls, then ``rounds`` passes.

    Passes go round the calls in turn, so that each call sees the same cache conditions.
    """
    for call in calls:
        call()
    timings: list[list[float]] = [[] for _ in calls]
    for _ in range(rounds):
        for call, times in zip(calls, timings, strict=True):
            started = time.perf_counter_ns()
            call()
            times.append((time.perf_counter_ns() - started) / 1e6)
    return timings


def flatten(timings: Sequence[Sequence[float]]) -> list[float]:
    return [value for times in timings for value in times]


def percentile(timings: Sequence[float], pct: int) -> float:
    if len(timings) == 1:
        return timings[0]
    return statistics.quantiles(timings, n=100, method="inclusive")[pct - 1]


def latency_figures(
    prefix: str, timings: Sequence[float], target_p95: str = ""
) -> dict[str, Figure]:
    return {
        f"{prefix}_p50": Figure(round(percentile(timings, 50), 2), "ms"),
        f"{prefix}_p95": Figure(round(percentile(timings, 95), 2), "ms", target_p95),
    }


def merge_results(path: Path, reports: dict[str, Report], meta: dict[str, object]) -> None:
    """Write the scenarios that ran into the results file, keeping every other entry."""
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        data = {}
    all_meta = data.pop("_meta", {})
    for name, report in reports.items():
        data[name] = {figure: value.as_json() for figure, value in report.figures.items()}
        all_meta[name] = {**meta, **report.notes}
    ordered = {"_meta": dict(sorted(all_meta.items()))} | dict(sorted(data.items()))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(ordered, indent=2) + "\n")
    partial.replace(path)


def run_meta(dataset: Dataset, database: str, load_before: float) -> dict[str, object]:
    """What a reader needs to compare two runs; a load average above ~1 on this 2-core machine
    means other work shared the CPU and the latencies are inflated."""
    return {
        "size": dataset.size,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": database,
        "generation_seconds": round(dataset.seconds, 1),
        "db_megabytes": round(dataset.db_bytes / 2**20, 1),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
    }


def results_table(reports: dict[str, Report]) -> Table:
    table = Table(title="caseloop benchmarks")
    for column in ("scenario", "figure", "value", "unit", "target", "result"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for name, report in reports.items():
        for figure_name, figure in report.figures.items():
            verdict = figure.verdict()
            result = {True: "[green]pass", False: "[red]FAIL", None: "—"}[verdict]
            table.add_row(
                name, figure_name, str(figure.value), figure.unit, figure.target or "—", result
            )
    return table
