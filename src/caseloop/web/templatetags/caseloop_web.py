"""Template helpers: deadlines in words, status chips, phone numbers, query strings."""

from datetime import datetime, timedelta

import phonenumbers
from django import template
from django.http import QueryDict
from django.utils.html import format_html
from django.utils.safestring import SafeString

from caseloop.cases.models import Case, format_case_number

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


@register.simple_tag
def due_in(due: datetime | None, now: datetime) -> SafeString:
    """How long until ``due``, or how long it is late, as a ``<time>`` with the exact moment."""
    if due is None:
        return format_html('<span class="due due--none">No deadline</span>')
    late = due < now
    words = span_in_words(due - now) + (" overdue" if late else " left")
    return format_html(
        '<time class="due {}" datetime="{}" title="{}">{}</time>',
        "due--late" if late else "due--ok",
        due.isoformat(),
        due.strftime("%a %d %b %Y, %H:%M %Z"),
        words,
    )


@register.simple_tag
def status_chip(case: Case, now: datetime) -> SafeString:
    """The case's display status (an open case past its deadline shows as Overdue)."""
    status = case.display_status(now)
    return format_html('<span class="chip chip--{}">{}</span>', status.value, status.label)


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
    """The alert rule's record as readable pairs (``score_below`` → "Score below")."""
    return [
        (str(key).replace("_", " ").capitalize(), _plain(value))
        for key, value in (alert_reason or {}).items()
    ]


@register.filter
def case_number(case_id: int | None) -> str:
    return format_case_number(case_id)
