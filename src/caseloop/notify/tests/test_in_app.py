"""In-app notifications: the unread count and list each user sees, and marking them read."""

from datetime import datetime, timedelta

from caseloop.cases.services import assign_case
from caseloop.conftest import Cast
from caseloop.notify.queries import list_notifications_for, unread_count_for
from caseloop.notify.services import mark_notifications_read, set_watcher_mail
from caseloop.notify.tests.conftest import notify_events_of


def test_assignment_puts_a_line_in_the_new_owners_list(cast: Cast, now: datetime) -> None:
    assign_case(cast.case, actor=cast.manager, owner=cast.member, now=now)
    notify_events_of(cast.case)
    [line] = list_notifications_for(cast.member)
    assert cast.case.number in line.title
    assert line.case == cast.case
    assert unread_count_for(cast.member) == 1


def test_the_person_who_acted_gets_no_line(cast: Cast, now: datetime) -> None:
    before = unread_count_for(cast.manager)
    assign_case(cast.case, actor=cast.manager, owner=cast.member, now=now)
    notify_events_of(cast.case)
    assert unread_count_for(cast.manager) == before


def test_a_watcher_without_watcher_mail_is_still_told_in_the_app(cast: Cast, now: datetime) -> None:
    set_watcher_mail(cast.full_watcher, enabled=False)
    before = unread_count_for(cast.full_watcher)
    assign_case(cast.case, actor=cast.manager, owner=cast.member, now=now)
    notify_events_of(cast.case)
    assert unread_count_for(cast.full_watcher) == before + 1


def test_marking_all_read_clears_the_unread_count(cast: Cast, now: datetime) -> None:
    assign_case(cast.case, actor=cast.manager, owner=cast.member, now=now)
    notify_events_of(cast.case)
    changed = mark_notifications_read(cast.member, now=now + timedelta(minutes=1))
    assert changed == 1
    assert unread_count_for(cast.member) == 0
    assert list_notifications_for(cast.member)[0].read_at == now + timedelta(minutes=1)


def test_marking_read_never_touches_someone_elses_notifications(cast: Cast, now: datetime) -> None:
    assign_case(cast.case, actor=cast.manager, owner=cast.member, now=now)
    notify_events_of(cast.case)
    others = [n.pk for n in list_notifications_for(cast.limited_watcher)]
    assert others
    assert mark_notifications_read(cast.member, others, now=now) == 0
    assert unread_count_for(cast.limited_watcher) == len(others)


def test_the_unread_list_leaves_out_read_lines(cast: Cast, now: datetime) -> None:
    assign_case(cast.case, actor=cast.manager, owner=cast.member, now=now)
    notify_events_of(cast.case)
    mark_notifications_read(cast.member, now=now)
    assert list_notifications_for(cast.member, unread_only=True) == []
