"""The case lifecycle: opening, first activity, closing, reopening, and refused transitions."""

from datetime import datetime, timedelta

import pytest

from caseloop.cases import services
from caseloop.cases.models import Case, CaseEvent, EventKind, Status, WatcherAccess
from caseloop.cases.tests.factories import make_case
from caseloop.conftest import Cast
from caseloop.customers.models import Interaction
from caseloop.customers.tests.factories import make_customer
from caseloop.errors import IllegalTransition, InvalidInput
from caseloop.org.tests.factories import make_unit, make_user
from caseloop.programs.models import CaseType

pytestmark = pytest.mark.django_db


def kinds(case: Case) -> list[str]:
    return list(CaseEvent.objects.filter(case=case).values_list("kind", flat=True))


def resolved(cast: Cast) -> int:
    return cast.program.closing_statuses.get(code="resolved").pk


def test_new_case_goes_to_the_units_designated_owner(cast: Cast) -> None:
    assert cast.case.owner == cast.owner
    assert cast.case.status == Status.NEW
    assert kinds(cast.case)[0] == EventKind.CREATED


def test_designated_owner_is_found_up_the_tree(cast: Cast, now: datetime) -> None:
    regional_owner = make_user()
    cast.region.owner = regional_owner
    cast.region.save()
    shop = make_unit(parent=cast.region)
    case = make_case(program=cast.program, unit=shop, now=now)
    assert case.owner == regional_owner


def test_manager_chain_watches_nearest_full_higher_limited(cast: Cast, now: datetime) -> None:
    top = make_user()
    cast.corporate.manager = top
    cast.corporate.save()
    case = make_case(program=cast.program, unit=cast.store, now=now)
    access = dict(case.watchers.values_list("user__username", "access"))
    assert access == {
        cast.manager.username: WatcherAccess.FULL,
        top.username: WatcherAccess.LIMITED,
    }


def test_new_case_copies_the_playbook_as_tasks(cast: Cast) -> None:
    titles = list(cast.case.tasks.values_list("title", flat=True))
    assert titles == ["Call the customer", "Offer a remedy"]


def test_new_case_gets_start_and_resolve_deadlines(cast: Cast, now: datetime) -> None:
    # Monday 09:00 with 1 and 3 business days on a Monday–Friday calendar.
    assert cast.case.start_due_at == now + timedelta(days=1)
    assert cast.case.resolve_due_at == now + timedelta(days=3)


def test_first_note_moves_new_to_in_progress_and_records_when(cast: Cast, now: datetime) -> None:
    later = now + timedelta(hours=2)
    services.add_note(cast.case, actor=cast.owner, body="Called, no answer", now=later)
    case = Case.objects.get(pk=cast.case.pk)
    assert case.status == Status.IN_PROGRESS
    assert case.first_activity_at == later
    assert kinds(case)[-2:] == [EventKind.STARTED, EventKind.NOTE_ADDED]


def test_second_activity_keeps_first_activity_time(cast: Cast, now: datetime) -> None:
    services.add_note(cast.case, actor=cast.owner, body="one", now=now)
    services.add_note(cast.case, actor=cast.owner, body="two", now=now + timedelta(hours=1))
    case = Case.objects.get(pk=cast.case.pk)
    assert case.first_activity_at == now
    assert kinds(case).count(EventKind.STARTED) == 1


def test_assigning_is_not_a_first_activity(cast: Cast, now: datetime) -> None:
    services.assign_case(cast.case, actor=cast.manager, owner=cast.member, now=now)
    case = Case.objects.get(pk=cast.case.pk)
    assert case.status == Status.NEW
    assert case.owner == cast.member


def test_note_appears_on_the_customers_timeline(cast: Cast, now: datetime) -> None:
    services.add_note(cast.case, actor=cast.owner, body="Apologised", now=now)
    interaction = Interaction.objects.get(customer=cast.case.customer)
    assert (interaction.case_id, interaction.summary) == (cast.case.pk, "Apologised")


def test_empty_note_is_refused_and_changes_nothing(cast: Cast, now: datetime) -> None:
    with pytest.raises(InvalidInput):
        services.add_note(cast.case, actor=cast.owner, body="   ", now=now)
    case = Case.objects.get(pk=cast.case.pk)
    assert case.status == Status.NEW
    assert kinds(case) == [EventKind.CREATED, EventKind.WATCHER_ADDED, EventKind.WATCHER_ADDED]


def test_close_records_status_root_causes_and_note(cast: Cast, now: datetime) -> None:
    cause = cast.program.root_causes.get(code="staff")
    services.close_case(
        cast.case,
        actor=cast.owner,
        closing_status_id=resolved(cast),
        root_cause_ids=[cause.pk],
        final_note="Apologised and refunded",
        now=now,
    )
    case = Case.objects.get(pk=cast.case.pk)
    assert case.status == Status.CLOSED
    assert case.closed_at == now
    assert case.closing_status.code == "resolved"
    assert list(case.root_causes.values_list("code", flat=True)) == ["staff"]
    closed = CaseEvent.objects.get(case=case, kind=EventKind.CLOSED)
    assert closed.data["resolved"] is True
    assert closed.data["root_causes"] == ["staff"]


def test_closing_a_new_case_counts_as_its_first_activity(cast: Cast, now: datetime) -> None:
    services.close_case(
        cast.case,
        actor=cast.owner,
        closing_status_id=resolved(cast),
        root_cause_ids=[cast.program.root_causes.first().pk],
        final_note="Done",
        now=now,
    )
    assert Case.objects.get(pk=cast.case.pk).first_activity_at == now


def test_close_without_root_cause_is_refused_when_program_requires_one(
    cast: Cast, now: datetime
) -> None:
    with pytest.raises(InvalidInput) as error:
        services.close_case(
            cast.case, actor=cast.owner, closing_status_id=resolved(cast), final_note="x", now=now
        )
    assert error.value.field == "root_causes"
    assert Case.objects.get(pk=cast.case.pk).status == Status.NEW


def test_close_without_root_cause_is_allowed_when_program_does_not_require(
    cast: Cast, now: datetime
) -> None:
    cast.program.root_causes_required = False
    cast.program.save()
    services.close_case(
        cast.case, actor=cast.owner, closing_status_id=resolved(cast), final_note="x", now=now
    )
    assert Case.objects.get(pk=cast.case.pk).status == Status.CLOSED


def test_close_with_another_programs_status_is_refused(cast: Cast, now: datetime) -> None:
    from caseloop.programs.tests.factories import make_program

    foreign = make_program().closing_statuses.first()
    with pytest.raises(InvalidInput) as error:
        services.close_case(
            cast.case,
            actor=cast.owner,
            closing_status_id=foreign.pk,
            root_cause_ids=[cast.program.root_causes.first().pk],
            final_note="x",
            now=now,
        )
    assert error.value.field == "closing_status"


def test_close_with_another_programs_root_cause_is_refused(cast: Cast, now: datetime) -> None:
    from caseloop.programs.tests.factories import make_program

    foreign = make_program().root_causes.first()
    with pytest.raises(InvalidInput) as error:
        services.close_case(
            cast.case,
            actor=cast.owner,
            closing_status_id=resolved(cast),
            root_cause_ids=[foreign.pk],
            final_note="x",
            now=now,
        )
    assert error.value.field == "root_causes"


def test_close_without_final_note_is_refused(cast: Cast, now: datetime) -> None:
    with pytest.raises(InvalidInput) as error:
        services.close_case(
            cast.case,
            actor=cast.owner,
            closing_status_id=resolved(cast),
            root_cause_ids=[cast.program.root_causes.first().pk],
            final_note=" ",
            now=now,
        )
    assert error.value.field == "final_note"


def _close(cast: Cast, now: datetime) -> None:
    services.close_case(
        cast.case,
        actor=cast.owner,
        closing_status_id=resolved(cast),
        root_cause_ids=[cast.program.root_causes.first().pk],
        final_note="Done",
        now=now,
    )


def test_closing_a_closed_case_is_an_illegal_transition(cast: Cast, now: datetime) -> None:
    _close(cast, now)
    with pytest.raises(IllegalTransition):
        _close(cast, now)


def test_closing_after_the_deadline_marks_the_case_as_having_been_overdue(
    cast: Cast, now: datetime
) -> None:
    _close(cast, now + timedelta(days=10))
    assert Case.objects.get(pk=cast.case.pk).was_overdue is True


def test_closing_in_time_does_not_mark_overdue(cast: Cast, now: datetime) -> None:
    _close(cast, now + timedelta(hours=1))
    assert Case.objects.get(pk=cast.case.pk).was_overdue is False


@pytest.mark.parametrize(
    "action",
    [
        lambda c, n: services.log_contact_attempt(c.case, actor=c.owner, outcome="reached", now=n),
        lambda c, n: services.complete_task(
            c.case, actor=c.owner, task_id=c.case.tasks.first().pk, now=n
        ),
        lambda c, n: services.assign_case(c.case, actor=c.owner, owner=c.member, now=n),
    ],
    ids=["contact_attempt", "complete_task", "assign"],
)
def test_closed_case_refuses_work_until_reopened(cast: Cast, now: datetime, action) -> None:
    _close(cast, now)
    with pytest.raises(IllegalTransition):
        action(cast, now)


def test_note_on_closed_case_is_allowed_and_keeps_it_closed(cast: Cast, now: datetime) -> None:
    _close(cast, now)
    services.add_note(cast.case, actor=cast.owner, body="Customer thanked us", now=now)
    assert Case.objects.get(pk=cast.case.pk).status == Status.CLOSED


def test_reopen_returns_to_in_progress_and_keeps_history(cast: Cast, now: datetime) -> None:
    _close(cast, now)
    services.reopen_case(cast.case, actor=cast.owner, reason="Still broken", now=now)
    case = Case.objects.get(pk=cast.case.pk)
    assert (case.status, case.closing_status, case.closed_at) == (Status.IN_PROGRESS, None, None)
    assert case.reopen_count == 1
    assert not case.root_causes.exists()
    event = CaseEvent.objects.get(case=case, kind=EventKind.REOPENED)
    assert event.data["reason"] == "Still broken"
    assert event.data["previous_closing_status"] == "resolved"


def test_reopen_restarts_the_resolve_deadline_from_now(cast: Cast, now: datetime) -> None:
    _close(cast, now)
    wednesday = now + timedelta(days=2)
    services.reopen_case(cast.case, actor=cast.owner, reason="Still broken", now=wednesday)
    case = Case.objects.get(pk=cast.case.pk)
    # Three business days from Wednesday 09:00 is Monday 09:00.
    assert case.resolve_due_at == now + timedelta(days=7)
    assert case.next_deadline_at == case.resolve_due_at


def test_reopening_an_open_case_is_illegal(cast: Cast, now: datetime) -> None:
    with pytest.raises(IllegalTransition):
        services.reopen_case(cast.case, actor=cast.owner, reason="x", now=now)


def test_reopen_requires_a_reason(cast: Cast, now: datetime) -> None:
    _close(cast, now)
    with pytest.raises(InvalidInput):
        services.reopen_case(cast.case, actor=cast.owner, reason="", now=now)
    assert Case.objects.get(pk=cast.case.pk).status == Status.CLOSED


def test_completing_a_done_task_is_illegal(cast: Cast, now: datetime) -> None:
    task = cast.case.tasks.first()
    services.complete_task(cast.case, actor=cast.owner, task_id=task.pk, now=now)
    with pytest.raises(IllegalTransition):
        services.complete_task(cast.case, actor=cast.owner, task_id=task.pk, now=now)
    task.refresh_from_db()
    assert (task.done_at, task.done_by) == (now, cast.owner)


def test_undo_task_clears_it(cast: Cast, now: datetime) -> None:
    task = cast.case.tasks.first()
    services.complete_task(cast.case, actor=cast.owner, task_id=task.pk, now=now)
    services.undo_task(cast.case, actor=cast.owner, task_id=task.pk, now=now)
    task.refresh_from_db()
    assert task.done_at is None


def test_task_of_another_case_is_not_found(cast: Cast, now: datetime) -> None:
    from caseloop.errors import NotFound

    other = make_case(program=cast.program, unit=cast.store, now=now)
    with pytest.raises(NotFound):
        services.complete_task(cast.case, actor=cast.owner, task_id=other.tasks.first().pk, now=now)


def test_assign_records_previous_and_new_owner(cast: Cast, now: datetime) -> None:
    services.assign_case(cast.case, actor=cast.manager, owner=cast.member, now=now)
    event = CaseEvent.objects.get(case=cast.case, kind=EventKind.ASSIGNED)
    assert event.data == {"previous_owner": cast.owner.pk, "owner": cast.member.pk}


def test_assign_to_current_owner_is_refused(cast: Cast, now: datetime) -> None:
    with pytest.raises(InvalidInput):
        services.assign_case(cast.case, actor=cast.manager, owner=cast.owner, now=now)


def test_assign_to_inactive_user_is_refused(cast: Cast, now: datetime) -> None:
    gone = make_user(is_active=False)
    with pytest.raises(InvalidInput):
        services.assign_case(cast.case, actor=cast.manager, owner=gone, now=now)
    assert Case.objects.get(pk=cast.case.pk).owner == cast.owner


def test_adding_existing_watcher_changes_access(cast: Cast, now: datetime) -> None:
    services.add_watcher(
        cast.case, actor=cast.owner, user=cast.limited_watcher, access="full", now=now
    )
    assert cast.case.watchers.get(user=cast.limited_watcher).access == WatcherAccess.FULL


def test_adding_watcher_twice_with_same_access_is_refused(cast: Cast, now: datetime) -> None:
    with pytest.raises(InvalidInput):
        services.add_watcher(
            cast.case, actor=cast.owner, user=cast.limited_watcher, access="limited", now=now
        )


def test_owner_cannot_watch_own_case(cast: Cast, now: datetime) -> None:
    with pytest.raises(InvalidInput):
        services.add_watcher(cast.case, actor=cast.manager, user=cast.owner, now=now)


def test_removing_a_non_watcher_is_refused(cast: Cast, now: datetime) -> None:
    with pytest.raises(InvalidInput):
        services.remove_watcher(cast.case, actor=cast.owner, user=cast.member, now=now)


def test_same_external_reference_opens_one_case(cast: Cast, now: datetime) -> None:
    customer = make_customer()
    first = make_case(
        program=cast.program,
        unit=cast.store,
        customer=customer,
        external_source="s",
        external_id="r-1",
        now=now,
    )
    second = make_case(
        program=cast.program,
        unit=cast.store,
        customer=customer,
        external_source="s",
        external_id="r-1",
        now=now,
    )
    assert first.pk == second.pk
    assert Case.objects.filter(external_id="r-1").count() == 1


def test_case_type_of_another_program_is_refused(cast: Cast, now: datetime) -> None:
    from caseloop.cases.services import open_case
    from caseloop.programs.tests.factories import make_program

    other_type = CaseType.objects.get(program=make_program())
    with pytest.raises(InvalidInput):
        open_case(
            actor=None,
            program=cast.program,
            case_type=other_type,
            customer=make_customer(),
            unit=cast.store,
            subject="x",
            now=now,
        )


def test_viewer_cannot_open_cases(cast: Cast, now: datetime) -> None:
    from caseloop.cases.services import open_case
    from caseloop.errors import Forbidden

    with pytest.raises(Forbidden):
        open_case(
            actor=cast.viewer,
            program=cast.program,
            case_type=cast.program.case_types.first(),
            customer=make_customer(),
            unit=cast.store,
            subject="x",
            now=now,
        )


def test_case_without_contact_details_is_flagged(cast: Cast, now: datetime) -> None:
    anonymous = make_customer(email="", phone="")
    case = make_case(program=cast.program, unit=cast.store, customer=anonymous, now=now)
    assert case.needs_contact_info is True


def test_case_number_is_readable(cast: Cast) -> None:
    assert cast.case.number == f"CL-{cast.case.pk:06d}"
