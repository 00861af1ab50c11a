"""The one intake service every path uses (API, webhook, file import).

``ingest_responses`` takes a batch of raw responses of one program and, in one transaction:
skips the ones already stored (same source + external id), matches each respondent to a customer
or creates one, runs the program's alert rules in memory, opens the alert cases exactly as
``open_case`` would, and stores the responses linked to their customer and case. Every step is
set-based, so a batch of thousands costs a few dozen queries. ``ingest_batches`` does the same
for a stream of batches (an import file).

Idempotency: the unique (source, external id) of responses, the unique external reference of
cases and the skip of what is already stored make a second delivery, a retry or a re-run after a
crash store nothing twice. Each batch commits whole or not at all. Intake transactions store
one after the other: SQLite's write lock, taken at ``BEGIN IMMEDIATE``, makes them, and on
PostgreSQL the intake's advisory lock does (``_take_intake_lock``), so that customers are
matched against every customer committed before.
"""

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from caseloop.bulkrows import Table, batch_garbage_collection, select_in
from caseloop.cases.models import Case
from caseloop.errors import InvalidInput
from caseloop.intake.alerts import Alert, RememberedAlerts, load_rules, unit_path
from caseloop.intake.bulk import import_connection
from caseloop.intake.matching import (
    CustomerRef,
    plan_customers,
    save_customer_plan_unsafe_outside_transaction,
)
from caseloop.intake.models import ProgramIntake, SurveyResponse
from caseloop.intake.opening import (
    CaseTexts,
    PlannedCase,
    UnitCache,
    assign_unsafe_outside_transaction,
    case_texts,
    open_cases_unsafe_outside_transaction,
)
from caseloop.intake.records import (
    Checked,
    IncomingRecord,
    Respondent,
    ResponseInput,
    RowProblem,
    Shaper,
    check_mapping,
    check_record,
)
from caseloop.intake.services.permissions import require
from caseloop.intake.textrows import TextRowChecker
from caseloop.org.models import Unit, User
from caseloop.programs.models import Program
from caseloop.programs.rules import RuleError

# A unique-constraint race with a concurrent delivery of the same response (PostgreSQL) makes
# the batch fail; re-running it finds the other delivery's rows and skips them.
_ATTEMPTS = 3
# The key of the intake's PostgreSQL advisory lock (``_take_intake_lock``): any constant no
# other lock of the project uses.
INTAKE_LOCK_KEY = 0x63_61_73_65_69_6E_74_6B  # "caseintk"


class BadRecords(InvalidInput):
    """Some responses of an all-or-nothing batch are not valid; nothing was stored."""

    def __init__(self, problems: Sequence[RowProblem], total: int) -> None:
        rows = len({p.row for p in problems})
        super().__init__(f"{rows} of {total} responses are not valid; nothing was stored.")
        self.problems = list(problems)


@dataclass(frozen=True)
class ResponseOutcome:
    """What became of one response: stored now, or already there (``duplicate``)."""

    row: int
    source: str
    external_id: str
    response_id: int
    case_id: int | None
    alert_rule: str | None
    duplicate: bool


@dataclass
class IntakeResult:
    """How many responses were stored, were there already, and opened a case; what became of
    each (when asked for), and the problems of the responses that were refused."""

    records: int = 0
    created: int = 0
    duplicates: int = 0
    cases_opened: int = 0
    outcomes: list[ResponseOutcome] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


class IntakeSession:
    """What stays the same over the batches of one intake: the program's rules, mapping and
    default source, and units looked up so far. An import keeps one for the whole file; a
    setting changed meanwhile applies from the next import."""

    def __init__(
        self,
        program: Program,
        *,
        mapping: object | None = None,
        default_source: str | None = None,
    ) -> None:
        intake = ProgramIntake.objects.filter(program=program).first()
        self.program = program
        self.mapping = check_mapping(mapping if mapping is not None else _stored_mapping(intake))
        self.default_source = (default_source or "").strip() or (
            intake.default_source if intake else "survey"
        )
        self.rules = load_rules(program)
        self.alerts = RememberedAlerts(self.rules)
        self._shaper = Shaper(self.mapping)
        self.units: dict[str, Unit] = {}
        self._absent_codes: set[str] = set()
        self._codes_by_id: dict[int, str] = {}
        self._paths: dict[int, str] = {}
        self._sources_with_cases: dict[str, bool] = {}
        self.cache = UnitCache()
        self._text_rows: dict[str, TextRowChecker] = {}
        # Held around each batch's transaction. The workers of one import share a lock here,
        # which wakes the next one the moment a batch commits; waiting on SQLite's busy
        # timeout instead polls, up to 100 ms apart (``importing``).
        self.turn_to_store: AbstractContextManager[object] = nullcontext()

    def _load_units(self, codes: Iterable[str]) -> None:
        wanted = {c for c in codes if c not in self.units and c not in self._absent_codes}
        if not wanted:
            return
        for unit in Unit.objects.filter(code__in=wanted, is_active=True):
            self.units[unit.code] = unit
        self._absent_codes |= wanted - set(self.units)
        ancestors = {a for c in wanted if c in self.units for a in self.units[c].ancestor_ids}
        missing = ancestors - set(self._codes_by_id)
        self._codes_by_id.update(Unit.objects.filter(pk__in=missing).values_list("pk", "code"))

    def cases_may_exist(self, source: str) -> bool:
        """Whether cases with external references of ``source`` may exist that no response of
        ours links: asked once per source, since a survey source is rarely another channel's.
        Forgotten when a batch is retried, in case such a case appeared meanwhile."""
        if source not in self._sources_with_cases:
            cases = Case.objects.filter(external_source=source).exclude(external_id="")
            self._sources_with_cases[source] = cases.exists()
        return self._sources_with_cases[source]

    def forget_case_sources(self) -> None:
        self._sources_with_cases.clear()

    def path_of(self, unit: Unit) -> str:
        if unit.pk not in self._paths:
            self._paths[unit.pk] = unit_path(unit, self._codes_by_id)
        return self._paths[unit.pk]

    def prepare(
        self, records: Sequence[IncomingRecord], now: datetime, region: str
    ) -> list[Checked]:
        """Every record shaped and checked on its own; reads no database (see ``resolve``).
        CSV rows go through the quick check first, and the full one only when it gives up."""
        shape, source = self._shaper.shape, self.default_source
        text_rows = self._text_rows.get(region)
        if text_rows is None:
            text_rows = self._text_rows[region] = TextRowChecker(
                self._shaper, default_source=source, region=region
            )
        quick = text_rows.check
        checked = []
        for r in records:
            item = quick(r, now) if r.from_text else None
            if item is None:
                item = check_record(r, shape(r), default_source=source, now=now, region=region)
            checked.append(item)
        return checked

    def resolve(self, checked: Sequence[Checked]) -> tuple[list[ResponseInput], list[RowProblem]]:
        """The checked records with their units looked up: the good responses, and every
        problem of the bad ones (a row with an unknown unit and a bad email has both)."""
        self._load_units({c.unit_code for c in checked if c.unit_code})
        inputs: list[ResponseInput] = []
        problems: list[RowProblem] = []
        for item in checked:
            unit = self.units.get(item.unit_code)
            row_problems = item.problems
            if item.unit_code and unit is None:
                message = f"there is no active unit with the code {item.unit_code!r}"
                row_problems = [*row_problems, RowProblem(item.row, "unit", message)]
            if row_problems:
                problems += row_problems
                continue
            assert item.response is not None and unit is not None
            item.response.unit = unit
            inputs.append(item.response)
        return inputs, problems

    def check(
        self, records: Sequence[IncomingRecord], now: datetime
    ) -> tuple[list[ResponseInput], list[RowProblem]]:
        """Every record checked: the good ones, and every problem of the bad ones."""
        region = settings.CASELOOP_DEFAULT_REGION
        return self.resolve(self.prepare(records, now, region))


def _stored_mapping(intake: ProgramIntake | None) -> object:
    return intake.field_mapping if intake is not None and intake.field_mapping else {}


def ingest_responses(
    program: Program,
    records: Sequence[IncomingRecord],
    *,
    actor: User | None,
    now: datetime | None = None,
    session: IntakeSession | None = None,
    all_or_nothing: bool = False,
    with_outcomes: bool = True,
) -> IntakeResult:
    """Store a batch of survey responses of ``program`` and open a case for each that fires an
    alert rule; see the module docstring for what happens in which order.

    With ``all_or_nothing`` (API, webhook) one bad response refuses the whole batch with
    ``BadRecords``; otherwise (imports) the good ones are stored and the bad ones returned as
    problems, each with its row, field and reason. ``with_outcomes`` lists what became of each
    response (an import only needs the counts). ``actor`` needs the permission
    ``intake.add_surveyresponse``; ``None`` is the system (a verified webhook, the import).
    """
    require(actor, "intake.add_surveyresponse")
    require_active(program)
    at = now or timezone.now()
    session = session or IntakeSession(program)
    inputs, problems = session.check(records, at)
    if all_or_nothing and problems:
        raise BadRecords(problems, len(records))
    result = _store_with_retries(session, inputs, at, all_or_nothing, with_outcomes)
    result.problems = sorted(problems + result.problems, key=lambda p: p.row)
    result.records = len(records)
    return result


def ingest_batches(
    program: Program,
    batches: Iterable[Sequence[IncomingRecord | RowProblem]],
    *,
    actor: User | None,
    session: IntakeSession | None = None,
) -> Iterator[IntakeResult]:
    """``ingest_responses`` for a stream of batches (a file), one result per batch, in order,
    each batch in a transaction of its own.

    A batch item is a record or the reader's problem with a row (a line that is not JSON),
    passed on among the result's problems. Reading and checking the next batch in a thread
    while the database writes the current one was tried and measured: with the GIL it made an
    import slower, not faster. While the batches run, the automatic garbage collector is off
    (young generations are collected after each batch) and SQLite gets a larger page cache
    and checkpoints its log less often; all are restored when the stream ends or is abandoned
    (``intake.bulk``).
    """
    require(actor, "intake.add_surveyresponse")
    require_active(program)
    session = session or IntakeSession(program)
    region = settings.CASELOOP_DEFAULT_REGION
    with import_connection(), batch_garbage_collection() as collect_garbage:
        for batch in batches:
            result = _ingest_batch(session, batch, region)
            collect_garbage()
            yield result


def _ingest_batch(
    session: IntakeSession, batch: Sequence[IncomingRecord | RowProblem], region: str
) -> IntakeResult:
    at = timezone.now()
    records = [item for item in batch if isinstance(item, IncomingRecord)]
    read_problems = [item for item in batch if isinstance(item, RowProblem)]
    inputs, problems = session.resolve(session.prepare(records, at, region))
    result = _store_with_retries(session, inputs, at, False, False)
    result.problems = sorted(read_problems + problems + result.problems, key=_by_row)
    result.records = len(batch)
    return result


def _by_row(problem: RowProblem) -> int:
    return problem.row


def require_active(program: Program) -> None:
    """Refuse intake for a program that no longer accepts responses."""
    if not program.is_active:
        raise InvalidInput(f"{program} is not accepting new responses.", field="program")


def _store_with_retries(
    session: IntakeSession,
    inputs: Sequence[ResponseInput],
    at: datetime,
    strict: bool,
    with_outcomes: bool,
) -> IntakeResult:
    """One transaction for the batch; a unique-key race with a concurrent delivery of the same
    response rolls it back, and the retry finds the other delivery's rows and skips them.

    What needs no database is worked out before (``_Ready``): the transaction holds the write
    lock that other intakes, and the other workers of an import, wait for."""
    ready = _ready(session, inputs, at)
    for attempt in range(_ATTEMPTS):
        try:
            with session.turn_to_store, transaction.atomic(durable=True):
                _take_intake_lock()
                return _store_unsafe_outside_transaction(
                    session, ready, at, strict=strict, with_outcomes=with_outcomes
                )
        except IntegrityError:
            if attempt == _ATTEMPTS - 1:
                raise
            session.forget_case_sources()
    raise AssertionError("unreachable")


def _take_intake_lock() -> None:
    """On PostgreSQL, hold the intake's advisory lock until the transaction ends, so that
    intake transactions store one after the other, as SQLite's write lock makes them do there.
    Two of them at once (two webhooks, two import workers) would otherwise each miss the
    other's uncommitted new customer and create the same person twice."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [INTAKE_LOCK_KEY])


Key = tuple[str, str]


def _by_source(keys: Iterable[Key]) -> dict[str, set[str]]:
    by_source: dict[str, set[str]] = {}
    for source, external_id in keys:
        by_source.setdefault(source, set()).add(external_id)
    return by_source


def _existing(
    session: IntakeSession, ids_by_source: dict[str, set[str]]
) -> tuple[dict[Key, tuple[int, int | None]], dict[Key, int]]:
    """Stored responses ``{key: (id, case id)}`` and cases of other channels ``{key: id}`` with
    these external references; indexed queries, one or two per source."""
    responses: dict[Key, tuple[int, int | None]] = {}
    cases: dict[Key, int] = {}
    for source, ids in ids_by_source.items():
        columns = ("external_id", "id", "case_id")
        for external_id, pk, case_id in select_in(
            SurveyResponse, columns, "external_id", ids, equal={"source": source}
        ):
            responses[(source, external_id)] = (pk, case_id)  # type: ignore[index,assignment]
        rest = ids - {e for (s, e) in responses if s == source}
        if rest and session.cases_may_exist(source):
            # The exclusion matches the partial unique index, which is then used.
            found = Case.objects.filter(external_source=source, external_id__in=rest).exclude(
                external_id=""
            )
            for external_id, pk in found.values_list("external_id", "pk"):
                cases[(source, external_id)] = pk
    return responses, cases


def _split_repeats(inputs: Sequence[ResponseInput]) -> tuple[dict[Key, ResponseInput], list]:
    first: dict[Key, ResponseInput] = {}
    repeats: list[ResponseInput] = []
    for response in inputs:
        if response.key in first:
            repeats.append(response)
        else:
            first[response.key] = response
    return first, repeats


@dataclass
class _Ready:
    """A batch's work that needs no database, done before its transaction: its responses less
    the repeats of a key within the batch, their external ids by source, the responses that
    fire an alert (with it) and those whose rules could not be checked (with the problem),
    the respondents who can be recognised, each row's values converted for the database,
    and the texts of each case to open, by id of the response."""

    first: dict[Key, ResponseInput]
    repeats: list[ResponseInput]
    ids_by_source: dict[str, set[str]]
    alerting: list[tuple[ResponseInput, Alert]]
    unchecked: list[tuple[ResponseInput, RowProblem]]
    identified: list[tuple[int, Respondent]]
    values: dict[int, tuple[object, ...]]
    texts: dict[int, CaseTexts]


def _ready(session: IntakeSession, inputs: Sequence[ResponseInput], at: datetime) -> _Ready:
    first, repeats = _split_repeats(inputs)
    responses = list(first.values())
    alerting, unchecked = _evaluate(session, responses)
    return _Ready(
        first=first,
        repeats=repeats,
        ids_by_source=_by_source(first),
        alerting=alerting,
        unchecked=unchecked,
        identified=[(id(r), r.respondent) for r in responses if r.respondent.is_identified],
        values=_response_values(session.program, responses, at),
        texts=case_texts(alerting),
    )


def _store_unsafe_outside_transaction(
    session: IntakeSession,
    ready: _Ready,
    at: datetime,
    *,
    strict: bool,
    with_outcomes: bool,
) -> IntakeResult:
    # Most batches hold only new responses and no row is refused: then every list worked out
    # before the transaction is taken as it is, not filtered again under the write lock.
    first = ready.first
    stored, other_cases = _existing(session, ready.ids_by_source)
    fresh = [r for r in first.values() if r.key not in stored] if stored else list(first.values())
    taken = stored.keys() | other_cases.keys()
    alerting = ready.alerting
    if taken:
        alerting = [(r, alert) for r, alert in alerting if r.key not in taken]
    problems = [p for r, p in ready.unchecked if r.key not in taken]
    planned, assign_problems = assign_unsafe_outside_transaction(
        session.program, alerting, session.cache
    )
    problems += assign_problems
    if strict and problems:
        raise BadRecords(problems, len(first) + len(ready.repeats))
    rejected = {p.row for p in problems}
    if rejected:
        fresh = [r for r in fresh if r.row not in rejected]
    by_response = {id(p.response): p for p in planned}
    customers = _save_customers(ready, fresh, planned)
    open_cases_unsafe_outside_transaction(
        session.program, planned, texts=ready.texts, at=at, cache=session.cache
    )
    _response_table().insert(_response_rows(ready, fresh, customers, by_response, other_cases))
    result = IntakeResult(problems=problems, created=len(fresh), cases_opened=len(planned))
    result.duplicates = sum(1 for r in first.values() if r.key in stored) if stored else 0
    result.duplicates += sum(
        1 for r in ready.repeats if r.key in stored or first[r.key].row not in rejected
    )
    if with_outcomes:
        result.outcomes = _outcomes(first, ready.repeats, fresh)
    return result


def _response_rows(
    ready: _Ready,
    fresh: Sequence[ResponseInput],
    customers: dict[int, CustomerRef],
    cases: dict[int, PlannedCase],
    other_cases: dict[Key, int],
) -> list[tuple[object, ...]]:
    """The rows of ``fresh``: the values converted before the transaction, and the customer,
    rule and case each links to."""
    rows = []
    values = ready.values
    for response in fresh:
        key = id(response)
        customer, case = customers.get(key), cases.get(key)
        if case is not None:
            assert customer is not None
            links = (customer.pk, case.alert.rule.pk, case.case_id)
        else:
            other = other_cases.get(response.key) if other_cases else None
            links = (customer.pk if customer else None, None, other)
        rows.append(values[key] + links)
    return rows


def _outcomes(
    first: dict[Key, ResponseInput],
    repeats: Sequence[ResponseInput],
    fresh: Sequence[ResponseInput],
) -> list[ResponseOutcome]:
    """What became of each response: its row's id, case and rule, read back in one query per
    source; a response refused has no outcome."""
    found: dict[Key, tuple[int, int | None, str | None]] = {}
    for source, ids in _by_source(first).items():
        rows = SurveyResponse.objects.filter(source=source, external_id__in=ids)
        for external_id, *stored in rows.values_list(
            "external_id", "pk", "case_id", "alert_rule__name"
        ):
            found[(source, external_id)] = tuple(stored)  # type: ignore[assignment]
    fresh_ids = {id(r) for r in fresh}
    outcomes = []
    for response in [*first.values(), *repeats]:
        if response.key not in found:
            continue
        pk, case_id, rule = found[response.key]
        duplicate = id(response) not in fresh_ids
        outcomes.append(ResponseOutcome(response.row, *response.key, pk, case_id, rule, duplicate))
    outcomes.sort(key=lambda o: o.row)
    return outcomes


def _evaluate(
    session: IntakeSession, responses: Sequence[ResponseInput]
) -> tuple[list[tuple[ResponseInput, Alert]], list[tuple[ResponseInput, RowProblem]]]:
    """The responses that fire a rule, each with its alert, in order; and those whose rules
    cannot be checked on their values, each with the problem of its row."""
    alerting: list[tuple[ResponseInput, Alert]] = []
    unchecked: list[tuple[ResponseInput, RowProblem]] = []
    if not session.rules:
        return alerting, unchecked
    remembered, path_of = session.alerts, session.path_of
    for response in responses:
        try:
            alert = remembered.first_alert(response, path_of)
        except RuleError as exc:
            unchecked.append((response, RowProblem(response.row, "answers", exc.message)))
            continue
        if alert is not None:
            alerting.append((response, alert))
    return alerting, unchecked


def _save_customers(
    ready: _Ready, fresh: Sequence[ResponseInput], planned: Sequence[PlannedCase]
) -> dict[int, CustomerRef]:
    """Customers for identified respondents, and for anonymous ones whose response alerts
    (a case needs a customer; it is then marked as lacking contact details)."""
    identified = ready.identified
    if len(fresh) < len(ready.first):
        kept = {id(r) for r in fresh}
        identified = [(key, respondent) for key, respondent in identified if key in kept]
    anonymous = [
        (id(p.response), p.response.respondent)
        for p in planned
        if not p.response.respondent.is_identified
    ]
    plan = plan_customers(identified, anonymous=anonymous)
    save_customer_plan_unsafe_outside_transaction(plan)
    for p in planned:
        p.customer = plan.by_key[id(p.response)]
    return plan.by_key


# Known before the batch's transaction, converted then (``_response_values``) …
_CONVERTED_RESPONSE_COLUMNS = (
    "program_id",
    "source",
    "external_id",
    "unit_id",
    "received_at",
    "ingested_at",
    "respondent",
    "transaction_details",
    "answers",
    "verbatims",
)
# … and known in it, once customers and cases are stored.
_RESPONSE_COLUMNS = (*_CONVERTED_RESPONSE_COLUMNS, "customer_id", "alert_rule_id", "case_id")


def _response_table() -> Table:
    return Table(SurveyResponse, _RESPONSE_COLUMNS, converted=_CONVERTED_RESPONSE_COLUMNS)


def _response_values(
    program: Program, responses: Sequence[ResponseInput], at: datetime
) -> dict[int, tuple[object, ...]]:
    """By id of each response, the values of its row that are known before its transaction,
    converted for the database (``_CONVERTED_RESPONSE_COLUMNS``)."""
    table = _response_table()
    (ingested_at,) = table.adapt("ingested_at", [at])
    received_at = table.adapt("received_at", (r.received_at for r in responses))
    respondents = table.adapt("respondent", (r.respondent.as_json() for r in responses))
    details = table.adapt(
        "transaction_details", (r.transaction.as_json() if r.transaction else {} for r in responses)
    )
    answers = table.adapt("answers", (r.answers for r in responses))
    verbatims = table.adapt("verbatims", (r.verbatims for r in responses))
    return {
        id(response): (
            program.pk,
            response.source,
            response.external_id,
            response.unit.pk,
            *converted,
        )
        for response, *converted in zip(
            responses,
            received_at,
            repeat(ingested_at),
            respondents,
            details,
            answers,
            verbatims,
            strict=False,
        )
    }


def records_from_json(payload: object) -> list[IncomingRecord]:
    """The responses in a JSON body: one object, a list of objects, or ``{"responses": [...]}``.
    Rows are numbered from 1 in the order given."""
    if isinstance(payload, dict) and isinstance(payload.get("responses"), list):
        payload = payload["responses"]
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise InvalidInput("The body holds no response.", field="responses")
    records = []
    for row, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise InvalidInput(f"Response {row} is not a JSON object.", field="responses")
        records.append(IncomingRecord(row=row, data=item))
    return records
