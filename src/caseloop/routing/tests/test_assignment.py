"""Assignment rules: ordered, first match wins; each strategy; away users and their covers."""

from datetime import datetime

import pytest

from caseloop.cases.models import CaseEvent, EventKind, WatcherAccess
from caseloop.cases.tests.factories import make_case
from caseloop.org.models import Role
from caseloop.org.tests.factories import make_membership, make_unit, make_user
from caseloop.programs.rules import RuleError
from caseloop.programs.tests.factories import make_program
from caseloop.routing.models import AssignmentRule, Strategy
from caseloop.routing.services import check_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def team() -> object:
    unit = make_unit(kind="team")
    for name in ("ann", "ben", "cat"):
        make_membership(make_user(username=name), unit, Role.AGENT)
    return unit


@pytest.fixture
def store() -> object:
    return make_unit(owner=make_user(username="store-owner"))


def rule(program: object, strategy: str, **fields: object) -> AssignmentRule:
    return AssignmentRule.objects.create(
        program=program, name=f"{strategy} rule", strategy=strategy, **fields
    )


def test_without_rules_the_unit_owner_takes_the_case(store, now: datetime) -> None:
    case = make_case(unit=store, now=now)
    assert case.owner.username == "store-owner"


def test_round_robin_takes_turns_fairly(team, store, now: datetime) -> None:
    program = make_program()
    rule(program, Strategy.ROUND_ROBIN, team=team)
    owners = [make_case(program=program, unit=store, now=now).owner.username for _ in range(7)]
    assert owners == ["ann", "ben", "cat", "ann", "ben", "cat", "ann"]


def test_least_loaded_picks_the_member_with_fewest_open_cases(team, store, now) -> None:
    program = make_program()
    ann = team.memberships.get(user__username="ann").user
    ben = team.memberships.get(user__username="ben").user
    for owner in (ann, ann, ben):
        make_case(program=program, unit=store, owner=owner, now=now)
    rule(program, Strategy.LEAST_LOADED, team=team)
    owners = [make_case(program=program, unit=store, now=now).owner.username for _ in range(4)]
    # Loads start at ann 2, ben 1, cat 0; ties go to the longest-standing member.
    assert owners == ["cat", "ben", "cat", "ann"]


def test_closed_cases_do_not_count_as_load(team, store, now: datetime) -> None:
    from caseloop.cases.services import close_case

    program = make_program(root_causes_required=False)
    ann = team.memberships.get(user__username="ann").user
    for _ in range(3):
        case = make_case(program=program, unit=store, owner=ann, now=now)
        close_case(
            case,
            actor=ann,
            closing_status_id=program.closing_statuses.first().pk,
            final_note="Done",
            now=now,
        )
    rule(program, Strategy.LEAST_LOADED, team=team)
    assert make_case(program=program, unit=store, now=now).owner.username == "ann"


def test_skill_strategy_chooses_only_members_with_the_skill(team, store, now) -> None:
    program = make_program()
    speaker = team.memberships.get(user__username="ben").user
    speaker.skills = ["german"]
    speaker.save()
    rule(program, Strategy.SKILL, team=team, skill="german")
    owners = {make_case(program=program, unit=store, now=now).owner.username for _ in range(3)}
    assert owners == {"ben"}


def test_first_matching_rule_wins(team, store, now: datetime) -> None:
    program = make_program()
    vip = make_unit(kind="team")
    make_membership(make_user(username="vip-agent"), vip, Role.AGENT)
    rule(program, Strategy.ROUND_ROBIN, team=vip, position=1, condition="priority == 'urgent'")
    rule(program, Strategy.ROUND_ROBIN, team=team, position=2)
    urgent = make_case(program=program, unit=store, priority="urgent", now=now)
    normal = make_case(program=program, unit=store, now=now)
    assert (urgent.owner.username, normal.owner.username) == ("vip-agent", "ann")
    created = CaseEvent.objects.get(case=urgent, kind=EventKind.CREATED)
    assert created.data["assignment_rule"] == "round_robin rule"


def test_condition_sees_the_routing_context(team, store, now: datetime) -> None:
    program = make_program()
    rule(program, Strategy.ROUND_ROBIN, team=team, condition="region == 'EU'")
    eu = make_case(program=program, unit=store, routing_context={"region": "EU"}, now=now)
    us = make_case(program=program, unit=store, routing_context={"region": "US"}, now=now)
    assert (eu.owner.username, us.owner.username) == ("ann", "store-owner")


def test_away_members_are_skipped_and_their_cover_watches(team, store, now) -> None:
    program = make_program()
    ann = team.memberships.get(user__username="ann").user
    cover = make_user(username="cover")
    ann.is_away, ann.cover = True, cover
    ann.save()
    rule(program, Strategy.ROUND_ROBIN, team=team)
    case = make_case(program=program, unit=store, now=now)
    assert case.owner.username == "ben"
    assert case.watchers.get(user=cover).access == WatcherAccess.FULL


def test_only_the_cover_of_an_away_member_passed_over_watches(team, store, now) -> None:
    program = make_program()
    cat = team.memberships.get(user__username="cat").user
    cover = make_user(username="cover")
    cat.is_away, cat.cover = True, cover
    cat.save()
    rule(program, Strategy.ROUND_ROBIN, team=team)
    first = make_case(program=program, unit=store, now=now)
    second = make_case(program=program, unit=store, now=now)
    third = make_case(program=program, unit=store, now=now)
    # Ann's and Ben's turns pass over nobody; the third turn passes over Cat to Ann again.
    assert [c.owner.username for c in (first, second, third)] == ["ann", "ben", "ann"]
    assert [c.watchers.filter(user=cover).exists() for c in (first, second, third)] == [
        False,
        False,
        True,
    ]


def test_least_loaded_cover_watches_only_when_the_away_member_had_fewer_cases(
    team, store, now
) -> None:
    program = make_program()
    ann = team.memberships.get(user__username="ann").user
    cover = make_user(username="cover")
    ann.is_away, ann.cover = True, cover
    ann.save()
    make_case(
        program=make_program(),
        unit=store,
        owner=team.memberships.get(user__username="ben").user,
        now=now,
    )
    rule(program, Strategy.LEAST_LOADED, team=team)
    case = make_case(program=program, unit=store, now=now)
    assert case.owner.username == "cat"
    assert case.watchers.filter(user=cover).exists()
    make_case(program=make_program(), unit=store, owner=ann, now=now)
    make_case(program=make_program(), unit=store, owner=ann, now=now)
    later = make_case(program=program, unit=store, now=now)
    assert later.owner.username == "ben"
    assert not later.watchers.filter(user=cover).exists()


def test_away_unit_owner_hands_the_case_to_their_cover(now: datetime) -> None:
    owner, cover = make_user(), make_user(username="stand-in")
    owner.is_away, owner.cover = True, cover
    owner.save()
    case = make_case(unit=make_unit(owner=owner), now=now)
    assert case.owner == cover


def test_away_unit_owner_whose_cover_is_away_too_leaves_the_case_unassigned(
    now: datetime,
) -> None:
    owner, cover = make_user(), make_user(username="stand-in", is_away=True)
    owner.is_away, owner.cover = True, cover
    owner.save()
    case = make_case(unit=make_unit(owner=owner), now=now)
    assert case.owner is None


def test_away_members_cover_who_is_away_too_does_not_watch(team, store, now) -> None:
    program = make_program()
    ann = team.memberships.get(user__username="ann").user
    cover = make_user(username="cover", is_away=True)
    ann.is_away, ann.cover = True, cover
    ann.save()
    rule(program, Strategy.ROUND_ROBIN, team=team)
    case = make_case(program=program, unit=store, now=now)
    assert case.owner.username == "ben"
    assert not case.watchers.filter(user=cover).exists()


def test_rule_whose_team_is_all_away_falls_through(team, store, now) -> None:
    program = make_program()
    for membership in team.memberships.all():
        membership.user.is_away = True
        membership.user.save()
    rule(program, Strategy.LEAST_LOADED, team=team)
    assert make_case(program=program, unit=store, now=now).owner.username == "store-owner"


def test_broken_condition_is_refused_when_checked() -> None:
    with pytest.raises(RuleError, match="Syntax error"):
        check_rule(AssignmentRule(condition="priority == "))


def test_admin_shows_the_error_of_a_broken_condition(client, cast) -> None:
    from django.urls import reverse

    client.force_login(cast.admin)
    response = client.post(
        reverse("admin:routing_assignmentrule_add"),
        {
            "program": cast.program.pk,
            "position": 1,
            "name": "Broken",
            "condition": "score <=",
            "strategy": "unit_owner",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert "Syntax error" in response.text
    assert not AssignmentRule.objects.exists()
