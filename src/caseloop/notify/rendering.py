"""Email templates: administrators' text rendered in Jinja2's sandbox over plain case data.

Administrators write the templates, so a template must not reach code, settings or secrets:
it runs in ``ImmutableSandboxedEnvironment`` (no underscore attributes, no methods that change
data, no imports or includes) and sees only dicts, lists, strings, numbers and datetimes built
here — never a model instance, whose relations would lead to password hashes and other cases.
Undefined names are errors, so a typo is caught when the template is saved, against a sample
case of the same shape, instead of when the first email goes out. Output and the two operators
that can build huge values (``*``, ``**``) are bounded.
"""

import functools
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from caseloop.cases.models import Case, CaseEvent, CaseWatcher, EventKind
from caseloop.customers.models import Customer, Transaction
from caseloop.errors import InvalidInput
from caseloop.notify.models import NotificationTemplate, TemplateEvent
from caseloop.org.models import Unit, User
from caseloop.programs.models import CaseType, ClosingStatus, Program
from caseloop.sla.deadlines import calendar_for

DEFAULTS_DIR = Path(__file__).resolve().parent / "templates" / "notify" / "defaults"
MAX_OUTPUT_CHARS = 200_000
MAX_SEQUENCE_PRODUCT = 10_000
MAX_EXPONENT = 64
MAX_POWER_BITS = 4096
REPLY_MARKER = "-- Reply above this line to add a note to the case --"

Context = dict[str, object]


class TemplateProblem(InvalidInput):
    """A template that does not compile, reaches for something it may not, or fails to render."""

    code = "template"


@dataclass(frozen=True)
class TemplateSource:
    """The three parts of one email template, as written."""

    subject: str
    body_text: str
    body_html: str


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, with ``*`` and ``**`` checked so that ``'x' * 10**9`` cannot eat memory."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: object, operator_: str, left: object, right: object) -> object:
        if operator_ == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"Exponents above {MAX_EXPONENT} are not allowed.")
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and left.bit_length() * right > MAX_POWER_BITS
            ):
                raise SecurityError("That power would make too large a number.")
            return operator.pow(left, right)  # type: ignore[call-overload]
        for sequence, count in ((left, right), (right, left)):
            if (
                isinstance(sequence, str | list | tuple)
                and isinstance(count, int)
                and len(sequence) * count > MAX_SEQUENCE_PRODUCT
            ):
                raise SecurityError("That repetition would make too long a value.")
        return operator.mul(left, right)  # type: ignore[operator]


def _format_datetime(value: object, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, datetime):
        raise TemplateError("The datetime filter needs a date and time.")
    return value.strftime(fmt)


def _finalize(value: object) -> object:
    # A missing deadline prints as nothing, not as "None".
    return "" if value is None else value


@functools.cache
def _environment(html: bool) -> _Sandbox:
    env = _Sandbox(
        autoescape=html,
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["datetime"] = _format_datetime
    # lipsum would let a template print megabytes with one call.
    env.globals.pop("lipsum", None)
    return env


@functools.lru_cache(maxsize=256)
def _compile(source: str, html: bool) -> Template:
    return _environment(html).from_string(source)


def _render_part(name: str, source: str, context: Mapping[str, object], html: bool) -> str:
    try:
        template = _compile(source, html)
        pieces: list[str] = []
        size = 0
        for piece in template.generate(**context):
            size += len(piece)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateProblem(
                    f"{name}: the output is longer than {MAX_OUTPUT_CHARS} characters."
                )
            pieces.append(piece)
    except TemplateSyntaxError as error:
        raise TemplateProblem(f"{name}, line {error.lineno}: {error.message}") from None
    except SecurityError as error:
        raise TemplateProblem(f"{name}: not allowed: {error}") from None
    except TemplateError as error:
        raise TemplateProblem(f"{name}: {error.message or error}") from None
    except (ArithmeticError, TypeError, ValueError) as error:
        raise TemplateProblem(f"{name}: {error}") from None
    return "".join(pieces)


def render_email(source: TemplateSource, context: Mapping[str, object]) -> RenderedEmail:
    """Render the three parts; the subject becomes one line (a header cannot hold a newline)."""
    subject = _render_part("Subject", source.subject, context, html=False)
    text = _render_part("Text body", source.body_text, context, html=False)
    html = (
        _render_part("HTML body", source.body_html, context, html=True) if source.body_html else ""
    )
    return RenderedEmail(subject=" ".join(subject.split())[:500], text=text, html=html)


def template_problems(source: TemplateSource) -> dict[str, str]:
    """What is wrong with a template, per part (``subject``, ``body_text``, ``body_html``):
    each part must compile and render against the sample case. Empty when all is well."""
    problems: dict[str, str] = {}
    context = sample_context()
    parts = (
        ("subject", "Subject", source.subject, False),
        ("body_text", "Text body", source.body_text, False),
        ("body_html", "HTML body", source.body_html, True),
    )
    for field, name, text, html in parts:
        if field != "body_html" and not text.strip():
            problems[field] = f"{name}: must not be empty."
            continue
        try:
            _render_part(name, text, context, html)
        except TemplateProblem as problem:
            problems[field] = problem.message
    return problems


@functools.cache
def default_template(event: str) -> TemplateSource:
    """The template that ships with the product for ``event``."""
    if event not in TemplateEvent.values:
        raise ValueError(f"No default template for {event!r}.")
    return TemplateSource(
        subject=(DEFAULTS_DIR / f"{event}.subject.txt").read_text(encoding="utf-8"),
        body_text=(DEFAULTS_DIR / f"{event}.txt").read_text(encoding="utf-8"),
        body_html=(DEFAULTS_DIR / f"{event}.html").read_text(encoding="utf-8"),
    )


def template_for(program_id: int, event: str) -> TemplateSource | None:
    """The program's own template for ``event``, else the default; None when the program has
    turned this email off."""
    own = NotificationTemplate.objects.filter(program_id=program_id, event=event).first()
    if own is None:
        return default_template(event)
    if not own.is_active:
        return None
    return TemplateSource(own.subject, own.body_text, own.body_html)


# --- the data a template sees -------------------------------------------------------------


def case_url(case_id: int | None) -> str:
    return f"{settings.SITE_URL}/cases/{case_id}/"


def _zone(case: Case) -> ZoneInfo:
    try:
        return ZoneInfo(calendar_for(case.unit).time_zone) if case.unit.pk else ZoneInfo("UTC")
    except ZoneInfoNotFoundError:
        return ZoneInfo("UTC")


def _local(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    return value.astimezone(zone) if value is not None else None


def _person(user: object) -> dict[str, str]:
    if user is None:
        return {"name": "", "email": ""}
    return {"name": str(user), "email": str(getattr(user, "email", ""))}


def _plain(value: object) -> object:
    """JSON data as the template may see it: nested dicts and lists of plain values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _case_data(
    case: Case, watchers: Iterable[str], root_causes: Iterable[str], zone: ZoneInfo, now: datetime
) -> Context:
    record = case.transaction
    closing = case.closing_status
    return {
        "id": case.pk,
        "number": case.number,
        "subject": case.subject,
        "description": case.description,
        "url": case_url(case.pk),
        "status": case.display_status(now).value,
        "status_label": str(case.display_status(now).label),
        "priority": case.priority,
        "priority_label": str(case.get_priority_display()),
        "source_label": str(case.get_source_display()),
        "created_at": _local(case.created_at, zone),
        "start_due_at": _local(case.start_due_at, zone),
        "resolve_due_at": _local(case.resolve_due_at, zone),
        "closed_at": _local(case.closed_at, zone),
        "is_overdue": case.is_overdue(now),
        "was_overdue": case.was_overdue,
        "verbatim": case.verbatim,
        "alert_reason": _plain(case.alert_reason or {}),
        "program": {"name": case.program.name, "code": case.program.code},
        "case_type": {"name": case.case_type.name},
        "unit": {"name": case.unit.name, "code": case.unit.code},
        "owner": _person(case.owner),
        "customer": {
            "name": case.customer.name,
            "email": case.customer.email,
            "phone": case.customer.phone,
        },
        "transaction": {
            "kind": record.kind if record else "",
            "reference": record.reference if record else "",
            "occurred_at": _local(record.occurred_at, zone) if record else None,
            "amount": str(record.amount) if record and record.amount is not None else "",
            "currency": record.currency if record else "",
        },
        "closing_status": {
            "name": closing.name if closing else "",
            "is_resolved": bool(closing and closing.is_resolved),
        },
        "root_causes": list(root_causes),
        "final_note": case.final_note,
        "escalation_level": case.escalation_level,
        "reopen_count": case.reopen_count,
        "watchers": list(watchers),
    }


def _event_data(event: CaseEvent | None, names: Callable[[object], str], zone: ZoneInfo) -> Context:
    data = event.data if event is not None else {}
    kind = event.kind if event is not None else ""
    return {
        "kind": kind,
        "label": str(EventKind(kind).label) if kind in EventKind.values else "",
        "at": _local(event.created_at, zone) if event is not None else None,
        "actor": str(event.actor) if event is not None and event.actor_id else "caseloop",
        "reason": str(data.get("reason") or ""),
        "designee": names(data.get("designee")),
        "level": data.get("level") or 0,
        "previous_owner": names(data.get("previous_owner")),
    }


def build_context(
    case: Case,
    event: CaseEvent | None = None,
    *,
    recipient_name: str = "",
    survey: Mapping[str, object] | None = None,
    now: datetime | None = None,
) -> Context:
    """Everything a template may use about ``case`` and ``event``, in the unit's time zone."""
    zone = _zone(case)
    at = now or datetime.now(UTC)
    watchers = [
        str(w.user)
        for w in CaseWatcher.objects.filter(case=case).select_related("user").order_by("id")
    ]
    root_causes = [c.name for c in case.root_causes.order_by("position", "id")]

    def names(user_id: object) -> str:
        if not isinstance(user_id, int):
            return ""
        user = User.objects.filter(pk=user_id).first()
        return str(user) if user else ""

    return _context(
        _case_data(case, watchers, root_causes, zone, at),
        _event_data(event, names, zone),
        recipient_name or _person(case.owner)["name"],
        survey,
    )


def _context(
    case: Context, event: Context, recipient_name: str, survey: Mapping[str, object] | None
) -> Context:
    survey = survey or {}
    return {
        "case": case,
        "event": event,
        "recipient": {"name": recipient_name},
        "site": {"url": settings.SITE_URL, "name": "caseloop"},
        "survey": {
            "url": str(survey.get("url") or ""),
            "expires_at": survey.get("expires_at"),
        },
        "reply_marker": REPLY_MARKER,
    }


def sample_context() -> Context:
    """A made-up case of exactly the shape of a real one, to check templates against."""
    zone = ZoneInfo("UTC")
    at = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    owner = User(username="olivia", first_name="Olivia", last_name="Owner", email="o@example.test")
    case = Case(
        pk=123,
        program=Program(name="Retail purchase survey", code="retail"),
        case_type=CaseType(name="Complaint"),
        unit=Unit(name="Store 1", code="store-1"),
        owner=owner,
        customer=Customer(name="Jane Doe", email="jane@example.test", phone="+12025550143"),
        transaction=Transaction(kind="purchase", reference="R-1", occurred_at=at, currency="USD"),
        closing_status=ClosingStatus(name="Resolved", is_resolved=True),
        subject="Rude staff at checkout",
        description="The cashier was rude.",
        verbatim="Nobody helped me.",
        alert_reason={"rule": "Low score", "score": 2},
        created_at=at,
        start_due_at=at,
        resolve_due_at=at,
    )
    event = CaseEvent(kind=EventKind.ASSIGNED, created_at=at, data={"reason": "Customer called"})

    def names(user_id: object) -> str:
        return "Max Manager" if user_id else ""

    return _context(
        _case_data(case, ["Max Manager"], ["Staff behaviour"], zone, at),
        {**_event_data(event, names, zone), "designee": "Max Manager", "level": 1},
        str(owner),
        {"url": f"{settings.SITE_URL}/s/sample", "expires_at": at},
    )
