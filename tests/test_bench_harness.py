"""The benchmark harness: targets, the results file, reuse of a generated data set, and the
generator's reproducibility. Nothing here is timed."""

import json
import sys
from pathlib import Path

import pytest
from django.db import transaction

# bench/ sits beside src/ and is not part of the installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.generate import (
    fingerprint,
    generate,
    needs_generation,
    read_marker,
    write_marker,
)
from bench.harness import Figure, Report, merge_results, time_calls
from bench.rows import TableWriter
from caseloop.cases.models import Case
from caseloop.customers.models import Customer

META = {"size": 100, "date": "2026-11-23T09:00:00+00:00", "database": "sqlite"}


def _report(**figures: Figure) -> Report:
    return Report(figures=dict(figures))


def test_merging_results_keeps_the_scenarios_that_did_not_run(tmp_path: Path) -> None:
    path = tmp_path / "latest.json"
    merge_results(path, {"sweep": _report(due_ms=Figure(80.0, "ms", "< 200"))}, META)
    merge_results(path, {"inbox": _report(mine_p95=Figure(12.3, "ms", "< 30"))}, META)
    data = json.loads(path.read_text())
    assert data["sweep"] == {"due_ms": {"value": 80.0, "unit": "ms", "target": "< 200"}}
    assert data["inbox"] == {"mine_p95": {"value": 12.3, "unit": "ms", "target": "< 30"}}


def test_merging_results_replaces_every_figure_of_a_scenario_that_ran(tmp_path: Path) -> None:
    path = tmp_path / "latest.json"
    merge_results(path, {"inbox": _report(old=Figure(1.0, "ms"))}, META)
    merge_results(path, {"inbox": _report(mine_p95=Figure(9.0, "ms", "< 30"))}, META)
    assert set(json.loads(path.read_text())["inbox"]) == {"mine_p95"}


def test_merging_results_records_size_and_date_of_each_scenario_in_meta(tmp_path: Path) -> None:
    path = tmp_path / "latest.json"
    merge_results(path, {"sweep": _report()}, {**META, "size": 1_000_000})
    report = Report(notes={"plan_mine": "SEARCH cases_case USING INDEX x"})
    merge_results(path, {"inbox": report}, META)
    meta = json.loads(path.read_text())["_meta"]
    assert meta["sweep"]["size"] == 1_000_000
    assert meta["inbox"]["size"] == 100
    assert meta["inbox"]["date"] == META["date"]
    assert meta["inbox"]["plan_mine"] == "SEARCH cases_case USING INDEX x"


def test_a_damaged_results_file_is_replaced_rather_than_failing_the_run(tmp_path: Path) -> None:
    path = tmp_path / "latest.json"
    path.write_text("{not json")
    merge_results(path, {"inbox": _report(mine_p95=Figure(9.0, "ms", "< 30"))}, META)
    assert json.loads(path.read_text())["inbox"]["mine_p95"]["value"] == 9.0


@pytest.mark.parametrize(
    ("value", "target", "verdict"),
    [
        (12.3, "< 30", True),
        (30.0, "< 30", False),
        (25_000, ">= 20000", True),
        (2.9, "<= 3", True),
        (True, "true", True),
        (False, "true", False),
        (4.2, "", None),
    ],
)
def test_a_figure_is_judged_against_its_target(value: float, target: str, verdict: bool) -> None:
    assert Figure(value, "ms", target).verdict() is verdict


def test_a_verdict_set_by_the_scenario_overrides_the_target_text() -> None:
    assert Figure(1, "queries", "constant", passed=False).verdict() is False


def test_timing_warms_up_once_then_times_each_call_in_every_round() -> None:
    calls: list[str] = []
    timings = time_calls([lambda: calls.append("a"), lambda: calls.append("b")], rounds=3)
    assert calls == ["a", "b"] * 4
    assert [len(times) for times in timings] == [3, 3]


def test_a_stored_data_set_is_reused_only_when_made_the_same_way() -> None:
    expected = fingerprint(1000, seed=1)
    assert not needs_generation(dict(expected), expected)
    assert needs_generation(None, expected)
    assert needs_generation(dict(expected), expected, regenerate=True)
    assert needs_generation(dict(expected), fingerprint(2000, seed=1))
    assert needs_generation(dict(expected), fingerprint(1000, seed=2))
    assert needs_generation({**expected, "schema": "older"}, expected)


@pytest.mark.django_db
def test_the_marker_round_trips_through_the_database() -> None:
    write_marker({**fingerprint(1000, seed=1), "seconds": "12.0"})
    marker = read_marker()
    assert marker is not None
    assert not needs_generation(marker, fingerprint(1000, seed=1))
    assert marker["seconds"] == "12.0"


@pytest.mark.django_db
def test_a_writer_refuses_a_table_with_a_required_column_it_would_leave_empty() -> None:
    with pytest.raises(ValueError, match="created_at"):
        TableWriter(Customer, ["id", "name"])


def _digest() -> list[tuple[object, ...]]:
    """The generated cases by what identifies them, not by database ids (PostgreSQL does not
    roll its sequences back, so ids may differ between two generations in one test)."""
    return list(
        Case.objects.order_by("created_at", "id").values_list(
            "unit__code",
            "owner__username",
            "program__code",
            "case_type__code",
            "customer__name",
            "status",
            "subject",
            "created_at",
            "resolve_due_at",
            "closed_at",
            "closing_status__code",
        )
    )


@pytest.mark.django_db
def test_the_same_seed_generates_the_same_cases() -> None:
    with transaction.atomic():
        generate(400, seed=7)
        first = _digest()
        transaction.set_rollback(True)
    generate(400, seed=7)
    assert _digest() == first


@pytest.mark.django_db
def test_another_seed_generates_other_cases() -> None:
    with transaction.atomic():
        generate(400, seed=7)
        first = _digest()
        transaction.set_rollback(True)
    generate(400, seed=8)
    assert _digest() != first
