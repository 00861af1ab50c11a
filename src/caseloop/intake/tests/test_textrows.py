"""The quick check of CSV rows takes a row only as the full check would take it, and leaves
every row with a problem (or anything it does not handle) to the full check."""

import dataclasses
from datetime import UTC, datetime

import pytest

from caseloop.intake.records import Checked, IncomingRecord, Shaper, check_record
from caseloop.intake.textrows import TextRowChecker

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
GOOD = {
    "external_id": " R-1 ",
    "unit": "store-1",
    "received_at": "2026-11-20T10:15:00+01:00",
    "respondent.external_id": "CUST-7",
    "respondent.email": "Anna.Berg@Example.COM",
    "respondent.phone": "030 1234567",
    "respondent.name": "Anna Berg",
    "transaction.reference": "T-9",
    "transaction.kind": "purchase",
    "transaction.occurred_at": "2026-11-19T08:00:00",
    "transaction.amount": "12.345",
    "transaction.currency": "eur",
    "q_overall": "4",
    "q_staff": "",
    "score": "7.5",
    "concern": "TRUE",
    "comment_text": "fine",
    "verbatim": " The staff ignored me. ",
}


def _full(data: dict[str, str], mapping: dict[str, str | None] | None = None):
    record = IncomingRecord(row=2, data=data, from_text=True)
    shaped = Shaper(mapping or {}).shape(record)
    return check_record(record, shaped, default_source="survey", now=NOW, region="DE")


def _values(checked: Checked | None) -> dict[str, object]:
    """Everything a check gives, but the unit, which only the intake session looks up."""
    assert checked is not None and checked.response is not None
    fields = dataclasses.fields(checked.response)
    return {
        "row": checked.row,
        "unit_code": checked.unit_code,
        "problems": checked.problems,
        **{f.name: getattr(checked.response, f.name) for f in fields if f.name != "unit"},
    }


def _quick(data: dict[str, str], mapping: dict[str, str | None] | None = None):
    checker = TextRowChecker(Shaper(mapping or {}), default_source="survey", region="DE")
    return checker.check(IncomingRecord(row=2, data=data, from_text=True), NOW)


def test_a_good_row_is_taken_with_the_values_of_the_full_check() -> None:
    quick, full = _quick(GOOD), _full(GOOD)
    assert _values(quick) == _values(full)
    assert quick.response.answers == {
        "q_overall": 4,
        "score": 7.5,
        "concern": True,
        "comment_text": "fine",
    }


def test_a_row_without_optional_groups_is_taken_as_the_full_check_takes_it() -> None:
    data = {"external_id": "R-2", "unit": "store-1", "received_at": "", "q_overall": "9"}
    quick = _quick(data)
    assert _values(quick) == _values(_full(data))
    assert quick.response.transaction is None
    assert quick.response.received_at == NOW


def test_a_mapped_file_is_taken_as_the_full_check_takes_it() -> None:
    mapping = {"Id": "external_id", "Store": "unit", "Mail": "respondent.email", "Why": "verbatim"}
    data = {"Id": "R-3", "Store": "store-1", "Mail": "a@example.com", "Why": "Late", "Q1": "2"}
    quick = _quick(data, mapping)
    assert _values(quick) == _values(_full(data, mapping))


@pytest.mark.parametrize(
    "change",
    [
        {"external_id": ""},
        {"unit": "  "},
        {"external_id": "x" * 129},
        {"received_at": "yesterday"},
        {"respondent.email": "not-an-address"},
        {"respondent.phone": "12"},
        {"respondent.name": "n" * 201},
        {"transaction.amount": "twelve"},
        {"transaction.amount": "99999999999"},
        {"transaction.currency": "EURO"},
        {"transaction.occurred_at": "2026-13-01"},
        {"transaction": "a whole group in one cell"},
        {"answers.": "3"},
    ],
)
def test_a_row_with_a_problem_is_left_to_the_full_check(change: dict[str, str]) -> None:
    data = {**GOOD, **change}
    assert _quick(data) is None
    assert _full(data).problems


def test_two_columns_for_one_field_are_left_to_the_full_check() -> None:
    mapping = {"Mail": "respondent.email", "Other mail": "respondent.email"}
    data = {**GOOD, "Mail": "a@example.com", "Other mail": "b@example.com"}
    assert _quick(data, mapping) is None
