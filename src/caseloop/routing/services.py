"""Choosing the owner of a new case by the program's assignment rules.

Rules run in order; the first whose condition holds and that finds an available person wins.
Nobody marked away is chosen. When the person a rule would have chosen is away, the rule takes
the next candidate (round-robin, least-loaded, skill) or that person's cover (unit owner), and
the away person's cover, when set, watches the case with full access.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db.models import Count, Q

from caseloop.cases.models import OPEN_STATUSES
from caseloop.org.models import Role, Unit, User
from caseloop.org.queries import cover_standing_in, designated_owner
from caseloop.programs.models import Program
from caseloop.programs.rules import RuleError, compile_rule, evaluate
from caseloop.routing.models import AssignmentRule, Strategy

TEAM_ROLES = (Role.AGENT, Role.MANAGER)


@dataclass
class Assignment:
    """The outcome of routing: the owner (None when no rule and no unit owner applies), the rule
    that decided, and covers of skipped away users who watch with full access."""

    owner: User | None
    rule: AssignmentRule | None = None
    full_watchers: list[User] = field(default_factory=list)


def check_rule(rule: AssignmentRule) -> None:
    """Raise ``RuleError`` with a message pointing at the mistake in the rule's condition."""
    if rule.condition.strip():
        compile_rule(rule.condition)


def _team_members(team: Unit) -> list[User]:
    return list(
        User.objects.filter(
            is_active=True, memberships__unit=team, memberships__role__in=TEAM_ROLES
        )
        .select_related("cover")
        .distinct()
        .order_by("pk")
    )


def _covers_of(users: list[User]) -> list[User]:
    return [cover for user in users if user.is_away and (cover := cover_standing_in(user))]


def _first_present(in_turn: list[User]) -> tuple[User | None, list[User]]:
    """The first member in ``in_turn`` who is not away, and the away members passed over
    before them: their covers watch the case."""
    for position, member in enumerate(in_turn):
        if not member.is_away:
            return member, in_turn[:position]
    return None, []


def _round_robin(rule: AssignmentRule, members: list[User]) -> tuple[User | None, list[User]]:
    if all(member.is_away for member in members):
        return None, []
    # The rule row is locked, so two cases opened at once never get the same turn.
    locked = AssignmentRule.objects.select_for_update().get(pk=rule.pk)
    after = locked.last_assignee_id or 0
    in_turn = [m for m in members if m.pk > after] + [m for m in members if m.pk <= after]
    chosen, passed_over = _first_present(in_turn)
    AssignmentRule.objects.filter(pk=rule.pk).update(last_assignee=chosen)
    return chosen, passed_over


def _least_loaded(members: list[User]) -> tuple[User | None, list[User]]:
    if all(member.is_away for member in members):
        return None, []
    loads = dict(
        User.objects.filter(pk__in=[member.pk for member in members])
        .annotate(open_cases=Count("owned_cases", filter=Q(owned_cases__status__in=OPEN_STATUSES)))
        .values_list("pk", "open_cases")
    )
    return _first_present(sorted(members, key=lambda member: (loads[member.pk], member.pk)))


def unit_owner_assignment(owner: User | None, rule: AssignmentRule) -> Assignment | None:
    """The unit's designated owner takes the case, or while they are away the cover standing
    in for them; None when neither can."""
    if owner is None:
        return None
    taker = cover_standing_in(owner) if owner.is_away else owner
    return Assignment(taker, rule) if taker else None


def _apply(rule: AssignmentRule, unit: Unit) -> Assignment | None:
    if rule.strategy == Strategy.UNIT_OWNER:
        return unit_owner_assignment(designated_owner(unit), rule)
    assert rule.team is not None
    members = _team_members(rule.team)
    if rule.strategy == Strategy.SKILL:
        members = [m for m in members if rule.skill in (m.skills or [])]
    chosen, passed_over = (
        _round_robin(rule, members)
        if rule.strategy == Strategy.ROUND_ROBIN
        else _least_loaded(members)
    )
    if chosen is None:
        return None
    watchers = [cover for cover in _covers_of(passed_over) if cover.pk != chosen.pk]
    return Assignment(chosen, rule, watchers)


def choose_owner(program: Program, unit: Unit, context: Mapping[str, object]) -> Assignment:
    """Run ``program``'s assignment rules for a new case at ``unit``; without a matching rule
    the unit's designated owner (looked up the tree) takes the case, or their cover when away.

    Must run inside the transaction that opens the case (round-robin locks its rule row).
    """
    rules = AssignmentRule.objects.filter(program=program, is_active=True).select_related("team")
    for rule in rules:
        if rule.condition.strip():
            try:
                matched = evaluate(compile_rule(rule.condition), dict(context))
            except RuleError:
                # A rule that cannot be evaluated on this case does not match it.
                continue
            if not matched:
                continue
        assignment = _apply(rule, unit)
        if assignment is not None:
            return assignment
    fallback = _apply(AssignmentRule(strategy=Strategy.UNIT_OWNER), unit)
    return fallback or Assignment(None)
