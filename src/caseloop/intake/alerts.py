"""Which alert rule a survey response fires, and why: the names a rule sees, evaluated in memory.

A rule sees every answer by its question id (``q_overall``, ``concern``) and these names:

- ``answers``: all answers as a map (for ids that are not plain names: ``answers["q-1"]``);
- ``verbatim``: every verbatim of the response, one after the other;
- ``unit`` (the unit's code), ``unit_kind`` and ``unit_path`` (the codes from the top of the
  organisation down, ``/corp/north/store-1/``: ``unit_path.contains("/north/")``);
- ``transaction_kind``, ``transaction_reference``, ``transaction_amount``,
  ``transaction_currency``;
- ``source``: where the response came from.

These names win over a question with the same id, which is then reachable as ``answers["unit"]``.
``unit`` and ``unit_kind`` mean the same as in assignment rules.
"""

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from caseloop.intake.models import AlertRule, ProgramIntake
from caseloop.intake.records import ResponseInput
from caseloop.org.models import Unit
from caseloop.programs.models import Program
from caseloop.programs.rules import (
    CompiledRule,
    RuleError,
    evaluate,
    referenced_values,
    validate_rule,
)

RESERVED_NAMES = frozenset(
    {
        "answers",
        "verbatim",
        "unit",
        "unit_kind",
        "unit_path",
        "transaction_kind",
        "transaction_reference",
        "transaction_amount",
        "transaction_currency",
        "source",
    }
)


def known_fields(intake: ProgramIntake | None) -> Collection[str] | None:
    """The names a program's rules may use, or None (any) when it lists no question ids."""
    if intake is None or not intake.question_ids:
        return None
    return RESERVED_NAMES | {str(question) for question in intake.question_ids}


def unit_path(unit: Unit, codes_by_id: Mapping[int, str]) -> str:
    codes = [codes_by_id.get(ancestor, str(ancestor)) for ancestor in unit.ancestor_ids]
    return "/" + "".join(f"{code}/" for code in codes)


class RuleContext(Mapping[str, object]):
    """The names of one response, computed only when a rule asks for them."""

    __slots__ = ("_path", "_response")

    def __init__(self, response: ResponseInput, path: str) -> None:
        self._response = response
        self._path = path

    def get(self, name: str, default: object = None) -> object:  # type: ignore[override]
        response = self._response
        if name not in RESERVED_NAMES:
            return response.answers.get(name, default)
        if name == "answers":
            return response.answers
        if name == "verbatim":
            return response.verbatim
        if name == "unit":
            return response.unit.code
        if name == "unit_kind":
            return response.unit.kind
        if name == "unit_path":
            return self._path
        if name == "source":
            return response.source
        details = response.transaction
        if details is None:
            return default
        value = getattr(details, name.removeprefix("transaction_"))
        if isinstance(value, Decimal):
            return float(value)
        return value if value != "" else default

    def __getitem__(self, name: str) -> object:
        value = self.get(name, _MISSING)
        if value is _MISSING:
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        yield from RESERVED_NAMES
        yield from (q for q in self._response.answers if q not in RESERVED_NAMES)

    def __len__(self) -> int:
        return sum(1 for _ in self)


_MISSING = object()


@dataclass(frozen=True)
class LoadedRule:
    rule: AlertRule
    compiled: CompiledRule


@dataclass(frozen=True)
class Alert:
    """The rule a response fired and the values that made it fire."""

    rule: AlertRule
    values: dict[str, object]

    def reason(self, response: ResponseInput) -> dict[str, object]:
        """What the case keeps in ``alert_reason``, shown to its owner."""
        return {
            "rule": self.rule.name,
            "rule_id": self.rule.pk,
            "expression": self.rule.expression,
            "values": self.values,
            "response": {"source": response.source, "external_id": response.external_id},
        }


def load_rules(program: Program) -> list[LoadedRule]:
    """The program's active rules in order, compiled. A rule whose case type was deactivated
    does not fire: nothing could be opened with it."""
    rules = AlertRule.objects.filter(
        program=program, is_active=True, case_type__is_active=True
    ).select_related("case_type")
    return [LoadedRule(rule, _compiled(rule)) for rule in rules]


def _compiled(rule: AlertRule) -> CompiledRule:
    # A rule saved before the language refused what it uses (a loop, say) is never run: the
    # intake stops with a message that names it, for an administrator to fix or deactivate.
    try:
        return validate_rule(rule.expression)
    except RuleError as exc:
        raise RuleError(
            f"Alert rule {rule.name!r} can no longer be used; fix or deactivate it: {exc.message}",
            field="rules",
        ) from None


def _json_safe(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    return value


def first_alert(rules: Sequence[LoadedRule], context: RuleContext) -> Alert | None:
    """The first rule, in order, that holds for the response; None when none does.

    Raises ``RuleError`` naming the rule when it cannot be checked on the response's values.
    """
    for loaded in rules:
        try:
            fired = evaluate(loaded.compiled, context)
        except RuleError as exc:
            reason = exc.message[:1].lower() + exc.message[1:]
            raise RuleError(f"Alert rule {loaded.rule.name!r}: {reason}", field="answers") from None
        if fired:
            values = referenced_values(loaded.compiled, context)
            return Alert(loaded.rule, {k: _json_safe(v) for k, v in values.items()})
    return None


# Enough for every combination of a survey's scores and flags; past it, rules are evaluated.
_MAX_REMEMBERED = 10_000


class RememberedAlerts:
    """``first_alert`` remembered by the values the rules read: responses repeat the same few
    scores and flags, so an import of 100,000 responses has a few hundred combinations to
    evaluate instead of 200,000 rule runs (issue #4). Rules are pure functions of the names
    they mention (the rule language has no clock, no I/O), so the same values give the same
    alert. Values that cannot be a dictionary key (``answers``, a list answer) are evaluated
    every time."""

    def __init__(self, rules: Sequence[LoadedRule]) -> None:
        self.rules = rules
        self._names = sorted({name for loaded in rules for name in loaded.compiled.variables})
        # Rules that read answers only (the usual kind) are keyed without a RuleContext.
        self._answers_only = not RESERVED_NAMES.intersection(self._names)
        self._outcomes: dict[tuple[object, ...], Alert | RuleError | None] = {}

    def first_alert(self, response: ResponseInput, path_of: Callable[[Unit], str]) -> Alert | None:
        """``first_alert`` of the rules for ``response``, whose unit's path ``path_of`` gives."""
        context = None
        if self._answers_only:
            values = map(response.answers.get, self._names)
        else:
            context = RuleContext(response, path_of(response.unit))
            values = map(context.get, self._names)
        # The type is part of the key: True == 1 and 6 == 6.0 must not share an outcome.
        key = tuple((type(value), value) for value in values)
        try:
            outcome = self._outcomes.get(key, _MISSING)
        except TypeError:
            outcome = _MISSING
            key = None
        if outcome is _MISSING:
            context = context or RuleContext(response, path_of(response.unit))
            try:
                outcome = first_alert(self.rules, context)
            except RuleError as exc:
                outcome = exc
            if key is not None and len(self._outcomes) < _MAX_REMEMBERED:
                self._outcomes[key] = outcome
        if isinstance(outcome, RuleError):
            raise RuleError(outcome.message, field=outcome.field)
        return outcome  # type: ignore[return-value]
