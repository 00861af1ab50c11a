"""Template helpers: deadlines in words, status chips, inbox rows, phone numbers, query strings."""

from datetime import datetime, timedelta
from html import escape as escape_html

import phonenumbers
from django import template
from django.http import QueryDict
from django.template.defaultfilters import date as date_filter
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from caseloop.cases.models import Case, format_case_number
from caseloop.cases.queries import InboxRow

register = template.Library()


def span_in_words(span: timedelta) -> str:
    """``2d 4h``, ``3h 20m`` or ``12m``: precise enough to rank work, short enough for a row."""
    minutes = int(abs(span).total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


# The inbox shows these for each of its rows: they are written with the standard library's
# escaping and plain strings, which is several times faster than ``format_html`` (issue #3).


@register.simple_tag
def due_in(due: datetime | None, now: datetime) -> SafeString:
    """How long until ``due``, or how long it is late, as a ``<time>`` with the exact moment."""
    if due is None:
        return mark_safe('<span class="due due--none">No deadline</span>')
    late = due < now
    words = span_in_words(due - now) + (" overdue" if late else " left")
    moment = escape_html(due.strftime("%a %d %b %Y, %H:%M %Z"))
    # Safe: every part is a computed date, escaped above, or a constant.
    return mark_safe(  # noqa: S308
        f'<time class="due {"due--late" if late else "due--ok"}" datetime="{due.isoformat()}"'
        f' title="{moment}">{words}</time>'
    )


@register.simple_tag
def status_chip(case: Case | InboxRow, now: datetime) -> SafeString:
    """The case's display status (an open case past its deadline shows as Overdue)."""
    status = case.display_status(now)
    label = escape_html(str(status.label))
    return mark_safe(f'<span class="chip chip--{status.value}">{label}</span>')  # noqa: S308


# A case id no page shows, put into the case page's URL once per rendering and replaced by each
# row's id: reversing the URL for each of fifty rows took a millisecond.
_ID_PLACEHOLDER = 987654321987


@register.simple_tag(takes_context=True)
def inbox_row(context: template.Context, case: InboxRow, now: datetime) -> SafeString:
    """One row of the inbox: number and subject linked to the case, customer, type and unit,
    status, owner, and the time left, how late it is, or when it closed.

    Written in one call rather than as template markup: fifty rows of a dozen variables and
    tags each took 7 ms, a quarter of the page's 30 ms budget (issue #3). Every text is
    escaped here.
    """
    href = context.render_context.get("inbox_row_href")
    if href is None:
        href = reverse("web:case", args=[_ID_PLACEHOLDER]).split(str(_ID_PLACEHOLDER))
        context.render_context["inbox_row_href"] = href
    if case.is_open:
        due = due_in(case.resolve_due_at, now)
    else:
        closed_on = escape_html(date_filter(case.closed_at, "j M"))
        due = f'<span class="due due--none">Closed {closed_on}</span>'
    subject, customer = escape_html(case.subject), escape_html(case.customer)
    case_type, unit = escape_html(case.case_type), escape_html(case.unit)
    owner = escape_html(case.owner or "Unassigned")
    # Safe: the URL is ours with an integer id, the texts are escaped, the chips built above.
    return mark_safe(  # noqa: S308
        f'<tr><td data-label="Case"><a class="case-link" href="{href[0]}{case.pk}{href[1]}">'
        f'<span class="case-number">{case.number}</span> <span class="case-subject">{subject}'
        f'</span></a></td><td data-label="Customer">{customer}</td><td data-label="Type">'
        f'{case_type}<span class="muted"> · {unit}</span></td><td data-label="Status">'
        f'{status_chip(case, now)}</td><td data-label="Owner">{owner}</td>'
        f'<td data-label="Due">{due}</td></tr>'
    )


@register.filter
def phone_display(e164: str) -> str:
    """An E.164 number in its international written form (``+1 202-555-0143``)."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


@register.simple_tag
def select_options(choices: list[tuple[int, str]], selected: int | None) -> SafeString:
    """The ``<option>`` elements of ``choices``, ``selected`` marked.

    Joined here with the standard library's escaping: an administrator's hundreds of units took
    longer than the page's query as a template loop, and still 5 ms through ``format_html``.
    """
    options = (
        f'<option value="{int(value)}"{" selected" if value == selected else ""}>'
        f"{escape_html(label)}</option>"
        for value, label in choices
    )
    # Safe: the values are integers and every label is escaped above.
    return mark_safe("".join(options))  # noqa: S308


@register.simple_tag
def query(params: QueryDict, **changes: object) -> str:
    """The current query string with ``changes`` applied; None or "" removes a key.

    Changing anything but the page starts again at page one.
    """
    result = params.copy()
    if "page" not in changes:
        result.pop("page", None)
    for key, value in changes.items():
        if value is None or value == "":
            result.pop(key, None)
        else:
            result[key] = str(value)
    encoded = result.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.filter
def get_item(mapping: dict[str, object], key: str) -> object:
    return mapping.get(key)


def _plain(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} = {_plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@register.filter
def reason_items(alert_reason: dict[str, object]) -> list[tuple[str, str]]:
    """The alert rule's record as readable pairs: the survey intake's keys in the owner's words,
    any other key as itself (``score_below`` → "Score below"); the rule's database id is for
    reports, not for the owner."""
    items = []
    for key, value in (alert_reason or {}).items():
        if key == "rule_id":
            continue
        if key == "response" and isinstance(value, dict):
            value = " ".join(
                str(part) for part in (value.get("source"), value.get("external_id")) if part
            )
        label = _REASON_LABELS.get(str(key)) or str(key).replace("_", " ").capitalize()
        items.append((label, _plain(value)))
    return items


# The keys the survey intake writes (``intake.alerts.Alert.reason``).
_REASON_LABELS = {
    "rule": "Alert rule",
    "expression": "Condition",
    "values": "Answers that fired it",
    "response": "Survey response",
}


@register.filter
def case_number(case_id: int | None) -> str:
    return format_case_number(case_id)
