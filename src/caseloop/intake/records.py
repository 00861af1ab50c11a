"""Reading one survey response from whatever shape it arrives in, and checking every field.

A response arrives as a mapping: a JSON object (API, webhook, JSON Lines) or a CSV row. A field
mapping first renames the platform's keys to ours (``"ResponseId": "external_id"``, a dotted
target such as ``"respondent.email"`` goes into a group, ``null`` drops a key). Our fields are:

- ``external_id`` (required) and ``source``: together they identify the response;
- ``unit``: the unit's code (required); ``received_at``: ISO 8601, default the time of intake;
- ``respondent``: ``external_id``, ``email``, ``phone``, ``name``;
- ``transaction``: ``reference``, ``kind``, ``occurred_at``, ``amount``, ``currency``;
- ``answers``: question id → a number, true/false, a text, or a list of those;
- ``verbatims``: question id → the customer's own words (``verbatim`` is short for
  ``verbatims.verbatim``).

Any other key is an answer, so a CSV export with one column per question needs no mapping. In a
CSV every value is text: an empty cell is a missing value, and answers that read as numbers or
true/false become numbers and booleans, so that ``q_overall <= 6`` works on them.
"""

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.utils import timezone

from caseloop.customers.services import normalize_email, normalize_phone
from caseloop.errors import InvalidInput
from caseloop.org.models import Unit

Scalar = str | int | float | bool
Answer = Scalar | list[Scalar]

TOP_FIELDS = frozenset({"external_id", "source", "unit", "received_at"})
GROUPS = {
    "respondent": frozenset({"external_id", "email", "phone", "name"}),
    "transaction": frozenset({"reference", "kind", "occurred_at", "amount", "currency"}),
}
OPEN_GROUPS = frozenset({"answers", "verbatims"})
TARGETS_HELP = (
    "external_id, source, unit, received_at, verbatim, respondent.<external_id|email|phone|name>, "
    "transaction.<reference|kind|occurred_at|amount|currency>, answers.<question>, "
    "verbatims.<question>, or null to ignore the field"
)

_INT = re.compile(r"[+-]?\d{1,18}")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_MAX_AMOUNT = Decimal("9999999999.99")
_NO_LIMIT = 1_000_000
_SCALARS = frozenset({bool, int, float})
_LIMITS = {
    "external_id": 128,
    "source": 64,
    "unit": 64,
    "respondent.external_id": 128,
    "respondent.name": 200,
    "transaction.reference": 128,
    "transaction.kind": 64,
}


@dataclass(frozen=True)
class RowProblem:
    """Why one record was not taken in: its row (file line, or position in a batch), the field
    at fault and the reason, in words for the person who fixes the file."""

    row: int
    field: str
    message: str


@dataclass
class IncomingRecord:
    """One raw record and where it came from. ``from_text`` marks CSV rows, whose values are all
    text: empty cells are missing and answers are read as numbers or booleans where they can be."""

    row: int
    data: Mapping[str, object]
    from_text: bool = False


@dataclass
class Respondent:
    external_id: str = ""
    email: str = ""
    phone: str = ""
    name: str = ""

    @property
    def is_identified(self) -> bool:
        """Someone we can recognise again: by customer number, email or phone."""
        return bool(self.external_id or self.email or self.phone)

    def as_json(self) -> dict[str, str]:
        data = {}
        if self.external_id:
            data["external_id"] = self.external_id
        if self.email:
            data["email"] = self.email
        if self.phone:
            data["phone"] = self.phone
        if self.name:
            data["name"] = self.name
        return data


@dataclass
class TransactionDetails:
    reference: str = ""
    kind: str = ""
    occurred_at: datetime | None = None
    amount: Decimal | None = None
    currency: str = ""

    def as_json(self) -> dict[str, str]:
        data: dict[str, str] = {}
        if self.reference:
            data["reference"] = self.reference
        if self.kind:
            data["kind"] = self.kind
        if self.occurred_at is not None:
            data["occurred_at"] = self.occurred_at.isoformat()
        if self.amount is not None:
            data["amount"] = str(self.amount)
        if self.currency:
            data["currency"] = self.currency
        return data


@dataclass
class ResponseInput:
    """A checked response, ready to be stored."""

    row: int
    source: str
    external_id: str
    unit_code: str
    received_at: datetime
    respondent: Respondent
    transaction: TransactionDetails | None
    answers: dict[str, Answer]
    verbatims: dict[str, str] = field(default_factory=dict)
    key: tuple[str, str] = field(init=False)
    # Looked up by the intake session once the record itself has been checked.
    unit: Unit = field(init=False)

    def __post_init__(self) -> None:
        # What identifies the response everywhere; asked for many times per import row.
        self.key = (self.source, self.external_id)

    @functools.cached_property
    def verbatim(self) -> str:
        """Every verbatim, in the order given, one per paragraph."""
        return "\n\n".join(text for text in self.verbatims.values() if text)


def check_mapping(mapping: object) -> dict[str, str | None]:
    """A field mapping as given by an administrator or a mapping file, or ``InvalidInput``."""
    if not isinstance(mapping, Mapping):
        raise InvalidInput('A field mapping is a JSON object: {"their field": "our field"}.')
    checked: dict[str, str | None] = {}
    for key, target in mapping.items():
        if target is not None and (not isinstance(target, str) or not _is_target(target)):
            raise InvalidInput(
                f"The mapping of {key!r} to {target!r} names no field; use {TARGETS_HELP}.",
                field="mapping",
            )
        checked[str(key)] = target
    return checked


def _is_target(target: str) -> bool:
    head, dot, rest = target.partition(".")
    if not dot:
        return bool(target)
    if head in GROUPS:
        return rest in GROUPS[head]
    return head in OPEN_GROUPS and bool(rest)


_SKIP, _TOP, _WHOLE_GROUP, _IN_GROUP = range(4)
# (column, field) of top-level fields, then (group, [(column, key in the group)]).
_TextColumns = tuple[list[tuple[str, str]], list[tuple[str, list[tuple[str, str]]]]]
# A CSV file has one set of columns, two when some rows are short: enough to remember.
_MAX_COLUMN_SETS = 16


class Shaper:
    """Puts records into our nested shape: mapped keys renamed, groups gathered, other keys
    answers. What each key becomes is worked out once per key, not once per record."""

    def __init__(self, mapping: Mapping[str, str | None]) -> None:
        self.mapping = mapping
        self._plans: dict[object, tuple[int, str, str]] = {}
        self._columns: dict[tuple[str, ...], _TextColumns] = {}

    def _plan(self, key: object) -> tuple[int, str, str]:
        target = self.mapping.get(key, key) if isinstance(key, str) else None  # type: ignore[call-overload]
        if target is None:
            return (_SKIP, "", "")
        if target in TOP_FIELDS:
            return (_TOP, target, "")
        if target == "verbatim":
            return (_IN_GROUP, "verbatims", "verbatim")
        if target in GROUPS or target in OPEN_GROUPS:
            return (_WHOLE_GROUP, target, "")
        head, dot, rest = target.partition(".")
        if dot and (head in GROUPS or head in OPEN_GROUPS):
            return (_IN_GROUP, head, rest)
        return (_IN_GROUP, "answers", target)

    def _text_columns(self, keys: tuple[str, ...]) -> _TextColumns:
        """Where each column of a text row goes: top-level fields (and whole groups, which a
        text cannot fill and is reported for), then each group's columns, in column order."""
        top: list[tuple[str, str]] = []
        grouped: dict[str, list[tuple[str, str]]] = {}
        for key in keys:
            kind, name, inner = self._plan(key)
            if kind in (_TOP, _WHOLE_GROUP):
                top.append((key, name))
            elif kind == _IN_GROUP:
                grouped.setdefault(name, []).append((key, inner))
        return top, list(grouped.items())

    def _shape_text(self, data: Mapping[str, str | None]) -> dict[str, object]:
        # The rows of a CSV file all have the same columns: where each goes is worked out once
        # for the file, and each row is then a few comprehensions (issue #4).
        keys = tuple(data)
        columns = self._columns.get(keys)
        if columns is None:
            columns = self._text_columns(keys)
            if len(self._columns) < _MAX_COLUMN_SETS:
                self._columns[keys] = columns
        top, grouped = columns
        shaped: dict[str, object] = {
            name: value for key, name in top if (value := (data[key] or "").strip())
        }
        for name, members in grouped:
            group = {inner: value for key, inner in members if (value := (data[key] or "").strip())}
            if group:
                shaped.setdefault(name, group)
        return shaped

    def shape(self, record: IncomingRecord) -> dict[str, object]:
        if record.from_text:
            return self._shape_text(record.data)  # type: ignore[arg-type]
        shaped: dict[str, object] = {}
        groups: dict[str, dict[str, object]] = {}
        plans, from_text = self._plans, record.from_text
        for key, value in record.data.items():
            plan = plans.get(key)
            if plan is None:
                plan = plans[key] = self._plan(key)
            kind, name, inner = plan
            if kind == _SKIP:
                continue
            if from_text:
                if value is None:
                    continue
                value = value.strip()  # type: ignore[union-attr]
                if not value:
                    continue
            if kind == _TOP:
                shaped[name] = value
            elif kind == _IN_GROUP:
                group = groups.get(name)
                if group is None:
                    group = groups[name] = {}
                group[inner] = value
            elif isinstance(value, Mapping):
                groups.setdefault(name, {}).update(value)
            else:
                shaped[name] = value  # reported as the wrong type when checked
        for name, values in groups.items():
            shaped.setdefault(name, values)
        return shaped


def restructure(record: IncomingRecord, mapping: Mapping[str, str | None]) -> dict[str, object]:
    """Our nested shape of ``record`` (see ``Shaper``)."""
    return Shaper(mapping).shape(record)


class _Checker:
    """Collects every problem of one record instead of stopping at the first."""

    def __init__(self, row: int) -> None:
        self.row = row
        self.problems: list[RowProblem] = []

    def fail(self, field_name: str, message: str) -> None:
        self.problems.append(RowProblem(self.row, field_name, message))

    def text(self, data: Mapping[str, object], key: str, name: str, *, required: bool) -> str:
        value = data.get(key)
        # Run once per field of every response of an import: the common case comes first.
        if type(value) is str:
            text = value.strip()
        elif value is None:
            text = ""
        elif isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
        else:
            self.fail(name, f"must be a text, not {_kind(value)}")
            return ""
        if not text:
            if required:
                self.fail(name, "is required")
            return ""
        if len(text) > _LIMITS.get(name, _NO_LIMIT):
            self.fail(name, f"is longer than {_LIMITS[name]} characters")
            return ""
        return text

    def moment(self, data: Mapping[str, object], key: str, name: str) -> datetime | None:
        value = data.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            self.fail(name, f"must be an ISO 8601 date and time, not {_kind(value)}")
            return None
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            self.fail(name, f"{value!r} is not an ISO 8601 date and time (2026-11-23T09:30:00Z)")
            return None
        if parsed.tzinfo is None:
            parsed = timezone.make_aware(parsed)
        return parsed

    def group(self, data: Mapping[str, object], name: str) -> Mapping[str, object]:
        value = data.get(name)
        if value is None:
            return {}
        if type(value) is not dict and not isinstance(value, Mapping):
            self.fail(name, f"must be an object of fields, not {_kind(value)}")
            return {}
        return value


def _kind(value: object) -> str:
    names = {
        bool: "true/false",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "an object",
    }
    return names.get(type(value), type(value).__name__)


# A strict subset of what Django's email validator accepts (dot-atom local part, host names of
# letters, digits and hyphens, a letter TLD): such an address needs no full check.
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


@functools.lru_cache(maxsize=100_000)
def _email(raw: str) -> tuple[str, str]:
    """(normalised address, "") or ("", why not), as ``normalize_email`` says. People answer
    again and again, and most addresses are plain: both skip the full check, which costs more
    than the rest of reading a response."""
    if len(raw) <= 254 and _PLAIN_EMAIL.fullmatch(raw):
        local, _, domain = raw.rpartition("@")
        return f"{local}@{domain.lower()}", ""
    try:
        return normalize_email(raw), ""
    except InvalidInput as exc:
        return "", exc.message


@functools.lru_cache(maxsize=100_000)
def _phone(raw: str, region: str) -> tuple[str, str]:
    try:
        return normalize_phone(raw, region), ""
    except InvalidInput as exc:
        return "", exc.message


def _respondent(check: _Checker, data: Mapping[str, object], region: str) -> Respondent:
    group = check.group(data, "respondent")
    respondent = Respondent(
        external_id=check.text(group, "external_id", "respondent.external_id", required=False),
        name=check.text(group, "name", "respondent.name", required=False),
    )
    raw = check.text(group, "email", "respondent.email", required=False)
    if raw:
        respondent.email, problem = _email(raw)
        if problem:
            check.fail("respondent.email", problem)
    raw = check.text(group, "phone", "respondent.phone", required=False)
    if raw:
        respondent.phone, problem = _phone(raw, region)
        if problem:
            check.fail("respondent.phone", problem)
    return respondent


def _transaction(check: _Checker, data: Mapping[str, object]) -> TransactionDetails | None:
    group = check.group(data, "transaction")
    if not group:
        return None
    details = TransactionDetails(
        reference=check.text(group, "reference", "transaction.reference", required=False),
        kind=check.text(group, "kind", "transaction.kind", required=False),
        occurred_at=check.moment(group, "occurred_at", "transaction.occurred_at"),
        currency=check.text(group, "currency", "transaction.currency", required=False).upper(),
    )
    if details.currency and not _CURRENCY.fullmatch(details.currency):
        check.fail("transaction.currency", f"{details.currency!r} is not a currency code (EUR)")
    amount = group.get("amount")
    if amount is not None and amount != "":
        try:
            if isinstance(amount, bool):
                raise InvalidOperation
            value = Decimal(str(amount).strip()).quantize(Decimal("0.01"))
            if not value.is_finite() or abs(value) > _MAX_AMOUNT:
                raise InvalidOperation
            details.amount = value
        except InvalidOperation:
            check.fail("transaction.amount", f"{amount!r} is not an amount of money")
    return details


@functools.lru_cache(maxsize=4096)
def _typed(value: str) -> Scalar:
    """A CSV cell as the value it means: a number, true/false, or the text itself. Scores and
    flags repeat on every row, hence the cache."""
    lowered = value.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    return value


def _answers(check: _Checker, data: Mapping[str, object], from_text: bool) -> dict[str, Answer]:
    answers: dict[str, Answer] = {}
    for question, value in check.group(data, "answers").items():
        name = f"answers.{question}"
        if type(question) is not str or not question or len(question) > 100:
            check.fail("answers", f"{question!r} is not a question id (1-100 characters)")
        elif value is None:
            continue
        elif type(value) is str:
            answers[question] = _typed(value) if from_text else value
        elif type(value) in _SCALARS or isinstance(value, str | int | float):
            answers[question] = value
        elif isinstance(value, list) and all(
            isinstance(item, str | int | float | bool) for item in value
        ):
            answers[question] = list(value)
        else:
            check.fail(name, f"must be a number, true/false, a text or a list, not {_kind(value)}")
    return answers


def _verbatims(check: _Checker, data: Mapping[str, object]) -> dict[str, str]:
    verbatims: dict[str, str] = {}
    for question, value in check.group(data, "verbatims").items():
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            check.fail(f"verbatims.{question}", f"must be a text, not {_kind(value)}")
            continue
        verbatims[str(question)] = value.strip()
    return verbatims


@dataclass
class Checked:
    """A record after the checks that need nothing but the record itself: the response (its
    unit still to be looked up) or every problem found in it, and the unit code it names."""

    row: int
    unit_code: str
    response: ResponseInput | None
    problems: list[RowProblem]


def check_record(
    record: IncomingRecord,
    shaped: Mapping[str, object],
    *,
    default_source: str,
    now: datetime,
    region: str,
) -> Checked:
    """Check every field of ``record`` (in our shape) but the unit's existence, which the
    intake session looks up for a whole batch at once; ``region`` is where phone numbers
    without a country code are. Reads no database."""
    check = _Checker(record.row)
    external_id = check.text(shaped, "external_id", "external_id", required=True)
    source = check.text(shaped, "source", "source", required=False) or default_source
    unit_code = check.text(shaped, "unit", "unit", required=True)
    received_at = check.moment(shaped, "received_at", "received_at") or now
    respondent = _respondent(check, shaped, region)
    transaction = _transaction(check, shaped)
    answers = _answers(check, shaped, record.from_text)
    verbatims = _verbatims(check, shaped)
    if check.problems:
        return Checked(record.row, unit_code, None, check.problems)
    response = ResponseInput(
        row=record.row,
        source=source,
        external_id=external_id,
        unit_code=unit_code,
        received_at=received_at,
        respondent=respondent,
        transaction=transaction,
        answers=answers,
        verbatims=verbatims,
    )
    return Checked(record.row, unit_code, response, [])
