"""GET /cases: the inbox's tabs and filters, cursor pages, and a query count that stays flat."""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from caseloop.api.pagination import encode_cursor
from caseloop.api.tests.conftest import Api, error_of
from caseloop.cases.models import Case
from caseloop.cases.services import close_case
from caseloop.cases.tests.factories import make_case
from caseloop.conftest import Cast
from caseloop.programs.tests.factories import make_program

pytestmark = pytest.mark.django_db


def _ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


@pytest.fixture
def late_case(cast: Cast, now: datetime) -> Case:
    """Opened two weeks ago in the same store, so it is past its resolve deadline."""
    return make_case(program=cast.program, unit=cast.store, now=now - timedelta(days=14))


@pytest.fixture
def closed_case(cast: Cast, now: datetime) -> Case:
    case = make_case(program=cast.program, unit=cast.store, now=now)
    close_case(
        case,
        actor=cast.owner,
        closing_status_id=cast.program.closing_statuses.get(code="resolved").pk,
        root_cause_ids=[cast.program.root_causes.first().pk],
        final_note="Refunded",
        now=now,
    )
    return case


# ---- tabs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tab", "role", "sees"),
    [
        ("mine", "owner", True),
        ("mine", "manager", False),
        ("watching", "full_watcher", True),
        ("watching", "owner", False),
        ("units", "member", True),
        ("units", "full_watcher", False),
        ("all", "viewer", True),
        ("all", "outsider", False),
    ],
)
def test_tab_selects_the_cases_of_that_relation(
    api: Api, cast: Cast, tab: str, role: str, sees: bool
) -> None:
    ids = _ids(api.get("/cases", cast.user(role), tab=tab))
    assert (cast.case.pk in ids) is sees


def test_default_tab_is_my_cases(api: Api, cast: Cast) -> None:
    assert _ids(api.get("/cases", cast.owner)) == [cast.case.pk]
    assert _ids(api.get("/cases", cast.manager)) == []


def test_overdue_tab_lists_only_late_open_cases(api: Api, cast: Cast, late_case: Case) -> None:
    assert _ids(api.get("/cases", cast.member, tab="overdue")) == [late_case.pk]


def test_late_open_case_shows_as_overdue(api: Api, cast: Cast, late_case: Case) -> None:
    items = api.get("/cases", cast.owner).json()["items"]
    shown = {item["id"]: item["display_status"] for item in items}
    assert shown == {late_case.pk: "overdue", cast.case.pk: "new"}


def test_unknown_tab_is_422(api: Api, cast: Cast) -> None:
    response = api.get("/cases", cast.owner, tab="everything")
    assert response.status_code == 422
    assert error_of(response)["field"] == "tab"


# ---- filters ----------------------------------------------------------------------------------


def test_closed_cases_are_hidden_unless_asked_for(api: Api, cast: Cast, closed_case: Case) -> None:
    assert closed_case.pk not in _ids(api.get("/cases", cast.owner))
    assert _ids(api.get("/cases", cast.owner, status="closed")) == [closed_case.pk]


def test_status_new_excludes_late_cases(api: Api, cast: Cast, late_case: Case) -> None:
    assert _ids(api.get("/cases", cast.owner, status="new")) == [cast.case.pk]


def test_program_and_case_type_filters(api: Api, cast: Cast, now: datetime) -> None:
    other = make_case(program=make_program(), unit=cast.store, now=now)
    by_program = _ids(api.get("/cases", cast.owner, program=other.program_id))
    by_type = _ids(api.get("/cases", cast.owner, case_type=cast.case.case_type_id))
    assert (by_program, by_type) == ([other.pk], [cast.case.pk])


def test_unit_filter_takes_the_whole_subtree(api: Api, cast: Cast) -> None:
    assert _ids(api.get("/cases", cast.admin, tab="all", unit=cast.region.pk)) == [cast.case.pk]
    assert _ids(api.get("/cases", cast.admin, tab="all", unit=cast.other_store.pk)) == []


def test_due_window_filters_on_the_resolve_deadline(api: Api, cast: Cast, late_case: Case) -> None:
    cut = (cast.case.resolve_due_at - timedelta(days=1)).isoformat()
    assert _ids(api.get("/cases", cast.owner, due_before=cut)) == [late_case.pk]
    assert _ids(api.get("/cases", cast.owner, due_after=cut)) == [cast.case.pk]


def test_due_filter_without_time_zone_is_422(api: Api, cast: Cast) -> None:
    response = api.get("/cases", cast.owner, due_after="2026-11-01T00:00:00")
    assert response.status_code == 422
    assert error_of(response)["field"] == "due_after"


# ---- pages ------------------------------------------------------------------------------------


@pytest.fixture
def many_cases(cast: Cast, now: datetime) -> list[int]:
    """23 more of the owner's cases: several opened at the same instant (equal deadlines, so the
    id breaks the tie) and others spread over the past weeks."""
    for index in range(23):
        opened = now - timedelta(days=index % 5, hours=index % 3)
        make_case(program=cast.program, unit=cast.store, now=opened)
    cases = Case.objects.filter(owner=cast.owner)
    return [c.pk for c in sorted(cases, key=lambda c: (c.resolve_due_at, c.pk))]


def _walk(fetch: Callable[[str | None], Any]) -> list[int]:
    seen: list[int] = []
    cursor: str | None = None
    for _page in range(100):
        body = fetch(cursor).json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("limit", [1, 7, 24, 50])
def test_cursor_walk_returns_every_case_once_in_inbox_order(
    api: Api, cast: Cast, many_cases: list[int], limit: int
) -> None:
    def fetch(cursor: str | None) -> Any:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        return api.get("/cases", cast.owner, **params)

    assert _walk(fetch) == many_cases


def test_case_without_a_deadline_is_walked_exactly_once(
    api: Api, cast: Cast, many_cases: list[int]
) -> None:
    # Arrange directly: no service leaves a case without a deadline, but the column allows it
    # and the databases sort NULL at opposite ends.
    Case.objects.filter(pk=many_cases[5]).update(resolve_due_at=None)

    def fetch(cursor: str | None) -> Any:
        return api.get("/cases", cast.owner, limit=4, **({"cursor": cursor} if cursor else {}))

    walked = _walk(fetch)
    assert sorted(walked) == sorted(many_cases)


def test_last_page_has_no_next_cursor(api: Api, cast: Cast) -> None:
    body = api.get("/cases", cast.owner, limit=1).json()
    assert (len(body["items"]), body["next_cursor"]) == (1, None)


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "bm90IGpzb24",  # not json
        "WyJ4IiwxXQ",  # ["x",1]
        "WzEsMl0",  # [1,2]
        "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwiMSJd",  # ["2026-01-01T00:00:00+00:00","1"]
        "WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwxXQ",  # ["2026-01-01T00:00:00",1]: no time zone
        "W251bGwsLTFd",  # [null,-1]
    ],
)
def test_cursor_we_did_not_issue_is_422(api: Api, cast: Cast, cursor: str) -> None:
    response = api.get("/cases", cast.owner, cursor=cursor)
    assert response.status_code == 422
    assert error_of(response)["field"] == "cursor"


def test_issued_cursor_is_opaque_base64(cast: Cast) -> None:
    cursor = encode_cursor(cast.case)
    assert cursor.replace("-", "").replace("_", "").isalnum()


@pytest.mark.parametrize("limit", [0, 201])
def test_limit_outside_its_range_is_422(api: Api, cast: Cast, limit: int) -> None:
    response = api.get("/cases", cast.owner, limit=limit)
    assert response.status_code == 422
    assert error_of(response)["field"] == "limit"


def test_limit_maximum_follows_the_setting(api: Api, cast: Cast, settings: Any) -> None:
    settings.CASELOOP_API_PAGE_SIZE_MAX = 5
    assert api.get("/cases", cast.owner, limit=6).status_code == 422


@pytest.fixture
def hundred_cases(cast: Cast, now: datetime) -> None:
    for index in range(105):
        make_case(program=cast.program, unit=cast.store, now=now - timedelta(minutes=index))


@pytest.mark.parametrize("limit", [10, 100])
def test_page_costs_the_same_queries_whatever_its_size(
    api: Api, cast: Cast, hundred_cases: None, django_assert_num_queries: Any, limit: int
) -> None:
    api.get("/cases", cast.owner)  # the token's first use is recorded; later ones are not
    cursor = api.get("/cases", cast.owner, tab="all", limit=limit).json()["next_cursor"]
    # The token and the page itself (the caller's units are a subquery of the page).
    with django_assert_num_queries(2):
        response = api.get("/cases", cast.owner, tab="all", limit=limit, cursor=cursor)
    assert len(response.json()["items"]) == min(limit, 106 - limit)
