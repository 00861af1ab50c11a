"""The quick check of a CSV row, for the rows that are all right (nearly all of an import).

``records.check_record`` checks a shaped record field by field and collects every problem, with
a dozen helper calls per field; at 100,000 rows that was the largest Python cost of an import
(issue #4). A file has one set of columns, so ``TextRowChecker`` works out once per set where
each column goes, then checks each row's cells straight into a ``ResponseInput`` with the same
rules (limits, email and phone normalisation, dates, amounts, currency codes, typed answers).

At the first doubt about a row (a missing or overlong value, a bad email, anything it does not
handle) it gives up and returns None, and the caller checks that row the full way, which
reports every problem with its field and reason. So a row is taken only if the full check
takes it, with the same values; ``test_records`` compares the two on good and bad rows.
"""

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.utils import timezone

from caseloop.intake.records import (
    _CURRENCY,
    _LIMITS,
    _MAX_AMOUNT,
    TOP_FIELDS,
    Checked,
    IncomingRecord,
    Respondent,
    ResponseInput,
    Shaper,
    TransactionDetails,
    _email,
    _phone,
    _typed,
)

_CENT = Decimal("0.01")
_RESPONDENT_KEYS = ("external_id", "email", "phone", "name")
_TRANSACTION_KEYS = ("reference", "kind", "occurred_at", "amount", "currency")


class _Plan:
    """Where the columns of one column set go: the key of each field (or None), and the
    columns of the answers and verbatims in column order."""

    def __init__(self, top: dict[str, str], groups: dict[str, dict[str, str]]) -> None:
        self.external_id = top.get("external_id")
        self.source = top.get("source")
        self.unit = top.get("unit")
        self.received_at = top.get("received_at")
        respondent = groups.get("respondent", {})
        self.respondent = tuple(respondent.get(k) for k in _RESPONDENT_KEYS)
        transaction = groups.get("transaction", {})
        self.transaction = tuple(transaction.get(k) for k in _TRANSACTION_KEYS)
        # A column of the group that names no field still makes the group present.
        self.transaction_columns = tuple(transaction.values())
        self.answers = tuple((key, question) for question, key in groups.get("answers", {}).items())
        self.verbatims = tuple(
            (key, question) for question, key in groups.get("verbatims", {}).items()
        )


def _plan_of(shaper: Shaper, keys: tuple[str, ...]) -> _Plan | None:
    """The plan of a column set, or None when its rows need the full check every time: a
    column that fills a whole group, two columns for one field, a bad question id."""
    top_columns, grouped = shaper._text_columns(keys)
    top: dict[str, str] = {}
    for key, name in top_columns:
        if name not in TOP_FIELDS or name in top:
            return None
        top[name] = key
    groups: dict[str, dict[str, str]] = {}
    for name, members in grouped:
        group: dict[str, str] = {}
        for key, inner in members:
            if inner in group:
                return None
            if name == "answers" and (not inner or len(inner) > 100):
                return None
            group[inner] = key
        groups[name] = group
    return _Plan(top, groups)


class TextRowChecker:
    """``check_record`` for CSV rows that pass every check, or None (see the module)."""

    def __init__(self, shaper: Shaper, *, default_source: str, region: str) -> None:
        self._shaper = shaper
        self._default_source = default_source
        self._region = region
        self._plans: dict[tuple[str, ...], _Plan | None] = {}

    def check(self, record: IncomingRecord, now: datetime) -> Checked | None:
        data: Mapping[str, str | None] = record.data  # type: ignore[assignment]
        keys = tuple(data)
        if keys in self._plans:
            plan = self._plans[keys]
        else:
            plan = self._plans[keys] = _plan_of(self._shaper, keys)
        if plan is None:
            return None
        try:
            response = self._response(plan, data, record.row, now)
        except _Doubt:
            return None
        return Checked(record.row, response.unit_code, response, [])

    def _response(
        self, plan: _Plan, data: Mapping[str, str | None], row: int, now: datetime
    ) -> ResponseInput:
        external_id = _text(data, plan.external_id, 128)
        unit_code = _text(data, plan.unit, 64)
        if not external_id or not unit_code:
            raise _Doubt
        source = _text(data, plan.source, 64) or self._default_source
        received = _text(data, plan.received_at, _NO_LIMIT)
        return ResponseInput(
            row=row,
            source=source,
            external_id=external_id,
            unit_code=unit_code,
            received_at=_moment(received) if received else now,
            respondent=self._respondent(plan, data),
            transaction=_transaction(plan, data),
            answers={
                question: _typed(value)
                for key, question in plan.answers
                if (value := (data[key] or "").strip())
            },
            verbatims={
                question: value
                for key, question in plan.verbatims
                if (value := (data[key] or "").strip())
            },
        )

    def _respondent(self, plan: _Plan, data: Mapping[str, str | None]) -> Respondent:
        external_id_key, email_key, phone_key, name_key = plan.respondent
        respondent = Respondent(
            external_id=_text(data, external_id_key, _LIMITS["respondent.external_id"]),
            name=_text(data, name_key, _LIMITS["respondent.name"]),
        )
        raw = _text(data, email_key, _NO_LIMIT)
        if raw:
            respondent.email, problem = _email(raw)
            if problem:
                raise _Doubt
        raw = _text(data, phone_key, _NO_LIMIT)
        if raw:
            respondent.phone, problem = _phone(raw, self._region)
            if problem:
                raise _Doubt
        return respondent


class _Doubt(Exception):
    """The row needs the full check."""


_NO_LIMIT = 1_000_000


def _text(data: Mapping[str, str | None], key: str | None, limit: int) -> str:
    if key is None:
        return ""
    text = (data[key] or "").strip()
    if len(text) > limit:
        raise _Doubt
    return text


def _moment(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _Doubt from None
    return timezone.make_aware(parsed) if parsed.tzinfo is None else parsed


def _transaction(plan: _Plan, data: Mapping[str, str | None]) -> TransactionDetails | None:
    if not any((data[key] or "").strip() for key in plan.transaction_columns):
        return None
    reference, kind, occurred_at, amount, currency = plan.transaction
    details = TransactionDetails(
        reference=_text(data, reference, _LIMITS["transaction.reference"]),
        kind=_text(data, kind, _LIMITS["transaction.kind"]),
        currency=_text(data, currency, _NO_LIMIT).upper(),
    )
    moment = _text(data, occurred_at, _NO_LIMIT)
    if moment:
        details.occurred_at = _moment(moment)
    if details.currency and not _CURRENCY.fullmatch(details.currency):
        raise _Doubt
    raw = _text(data, amount, _NO_LIMIT)
    if raw:
        try:
            value = Decimal(raw).quantize(_CENT)
        except InvalidOperation:
            raise _Doubt from None
        if not value.is_finite() or abs(value) > _MAX_AMOUNT:
            raise _Doubt
        details.amount = value
    return details
