"""Reading one response: the field mapping, CSV values as numbers and booleans, and contact
details checked exactly as the customer services check them."""

import pytest

from caseloop.customers.services import normalize_email
from caseloop.errors import InvalidInput
from caseloop.intake.records import IncomingRecord, Shaper, _email, check_mapping

ADDRESSES = [
    "anna@example.com",
    "Anna.Berg+survey@Example.COM",
    "a_b-c@sub.domain.example.org",
    "x@localhost",
    "a..b@example.com",
    ".a@example.com",
    "a.@example.com",
    "a@-example.com",
    "a@example-.com",
    "a@example.c",
    "a@example.123",
    '"quoted local"@example.com',
    "user@[127.0.0.1]",
    "üser@example.com",
    "user@exämple.com",
    "no-at-sign.example.com",
    "a@b@example.com",
    f"{'a' * 64}@{'b' * 63}.com",
    f"{'a' * 250}@example.com",
]


@pytest.mark.parametrize("address", ADDRESSES)
def test_an_address_is_judged_as_the_customer_services_judge_it(address: str) -> None:
    try:
        expected = (normalize_email(address), "")
    except InvalidInput as exc:
        expected = ("", exc.message)
    _email.cache_clear()
    assert _email(address) == expected


def shape(data: dict[str, object], mapping: dict[str, str | None] | None = None, **kw: bool):
    return Shaper(mapping or {}).shape(IncomingRecord(row=2, data=data, **kw))


def test_keys_that_are_not_fields_become_answers() -> None:
    assert shape({"external_id": "r1", "q_overall": 3}) == {
        "external_id": "r1",
        "answers": {"q_overall": 3},
    }


def test_mapping_renames_and_groups_fields() -> None:
    mapping = {"Id": "external_id", "Mail": "respondent.email", "Comment": "verbatim"}
    assert shape({"Id": "r1", "Mail": "a@example.com", "Comment": "Bad"}, mapping) == {
        "external_id": "r1",
        "respondent": {"email": "a@example.com"},
        "verbatims": {"verbatim": "Bad"},
    }


def test_a_key_mapped_to_null_is_dropped() -> None:
    assert shape({"external_id": "r1", "Panel": "B"}, {"Panel": None}) == {"external_id": "r1"}


def test_empty_csv_cells_are_missing_values() -> None:
    assert shape({"external_id": " r1 ", "q_overall": "", "unit": None}, from_text=True) == {
        "external_id": "r1"
    }


def test_a_mapping_to_a_field_we_do_not_have_is_refused() -> None:
    with pytest.raises(InvalidInput, match="names no field"):
        check_mapping({"Mail": "respondent.mail"})
