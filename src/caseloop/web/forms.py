"""Forms that parse what the browser sent. Business rules live in the services, which report a
broken rule as a domain error that the view puts back on the form (see ``actions.py``)."""

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.forms.renderers import Jinja2
from django.utils import timezone

from caseloop.cases.models import ContactOutcome, DisplayStatus, WatcherAccess
from caseloop.cases.queries import InboxFilters, InboxTab
from caseloop.customers.models import Channel
from caseloop.org.models import User

PAGE_SIZES = (10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25


class SortOrder:
    MOST_URGENT = "due"
    LEAST_URGENT = "-due"
    CHOICES = ((MOST_URGENT, "Most urgent first"), (LEAST_URGENT, "Least urgent first"))


class InboxQueryForm(forms.Form):
    """The inbox's query string. A value that cannot be read is dropped, not fatal: a stale
    bookmark still opens the inbox."""

    tab = forms.ChoiceField(choices=[(t.value, t.value) for t in InboxTab], required=False)
    status = forms.ChoiceField(choices=DisplayStatus.choices, required=False)
    program = forms.IntegerField(required=False, min_value=1)
    case_type = forms.IntegerField(required=False, min_value=1)
    unit = forms.IntegerField(required=False, min_value=1)
    due_after = forms.DateField(required=False, label="Due from")
    due_before = forms.DateField(required=False, label="Due until")
    sort = forms.ChoiceField(choices=SortOrder.CHOICES, required=False)
    per_page = forms.TypedChoiceField(
        choices=[(n, n) for n in PAGE_SIZES], coerce=int, required=False, empty_value=None
    )
    # Bounded: an absurd page number must not become an offset the database cannot hold.
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000)

    def _value(self, name: str) -> Any:
        """The parsed value of ``name``, or None when it was missing or unreadable."""
        self.is_valid()
        value = self.cleaned_data.get(name)
        return None if value in (None, "") else value

    @property
    def page_number(self) -> int:
        return int(self._value("page") or 1)

    @property
    def page_size(self) -> int:
        return int(self._value("per_page") or DEFAULT_PAGE_SIZE)

    @property
    def least_urgent_first(self) -> bool:
        return self._value("sort") == SortOrder.LEAST_URGENT

    def filters(self, default_tab: InboxTab) -> InboxFilters:
        status = self._value("status")
        return InboxFilters(
            tab=InboxTab(self._value("tab") or default_tab),
            status=DisplayStatus(status) if status else None,
            program_id=self._value("program"),
            case_type_id=self._value("case_type"),
            unit_id=self._value("unit"),
            due_after=_start_of(self._value("due_after")),
            # "Due until" a date includes that whole day.
            due_before=_start_of(self._value("due_before"), days_later=1),
        )


def _start_of(day: date | None, days_later: int = 0) -> datetime | None:
    if day is None:
        return None
    midnight = datetime.combine(day + timedelta(days=days_later), time.min)
    return timezone.make_aware(midnight)


# The case page draws up to six action forms at once. Their widgets drawn by Django's own
# template engine took 10-17 ms of the page at 1,000,000 cases; by Jinja2, which renders the
# same widget markup (autoescaped), 3-5 ms (issue #3). One renderer: it builds its engine once.
_ACTION_FORM_RENDERER = Jinja2()


class VersionedForm(forms.Form):
    """Every action carries the case version the user saw, so a change made by someone else in
    the meantime is refused instead of silently overwritten."""

    default_renderer = _ACTION_FORM_RENDERER

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class NoteForm(VersionedForm):
    body = forms.CharField(
        label="Note",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What happened, what is next…"}),
        strip=False,
    )


class AttachmentForm(VersionedForm):
    file = forms.FileField(label="File")


class ContactAttemptForm(VersionedForm):
    outcome = forms.ChoiceField(
        label="Outcome", choices=ContactOutcome.choices, widget=forms.RadioSelect
    )
    channel = forms.ChoiceField(
        label="How",
        choices=[
            (c.value, c.label)
            for c in (Channel.PHONE, Channel.EMAIL, Channel.SMS, Channel.IN_PERSON)
        ],
        initial=Channel.PHONE,
    )
    note = forms.CharField(
        label="Details (optional)",
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "e.g. call back after 3 pm"}),
    )


class TaskForm(VersionedForm):
    """Ticking or unticking a checklist task; the task is named in the URL."""


class _PersonField(forms.TypedChoiceField):
    """One of the people the page offered, chosen by id; cleaned to the person."""

    def __init__(self, *, label: str) -> None:
        super().__init__(label=label, coerce=int, empty_value=None)

    def offer(self, people: Sequence[User]) -> None:
        self.people = {person.pk: person for person in people}
        self.choices = [("", "Choose a person…"), *((p.pk, str(p)) for p in people)]

    def clean(self, value: Any) -> User | None:
        person_id = super().clean(value)
        return None if person_id is None else self.people[person_id]


class AssignForm(VersionedForm):
    """Gives the case to one of the people the page offered.

    The people come as a list, read once for both this form and ``WatcherForm``: a queryset
    would be read again by each form's select as it is drawn."""

    owner = _PersonField(label="New owner")

    def __init__(self, *args: Any, people: Sequence[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].offer(people)  # type: ignore[attr-defined]


class WatcherForm(VersionedForm):
    """Adds one of the people the page offered as a watcher."""

    user = _PersonField(label="Watcher")
    access = forms.ChoiceField(
        label="Access",
        choices=WatcherAccess.choices,
        initial=WatcherAccess.LIMITED,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args: Any, people: Sequence[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].offer(people)  # type: ignore[attr-defined]


class RemoveWatcherForm(VersionedForm):
    """Removing a watcher; the watcher is named in the URL."""


class CloseForm(VersionedForm):
    closing_status = forms.TypedChoiceField(label="Closing status", coerce=int)
    root_causes = forms.TypedMultipleChoiceField(
        label="Root causes", coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    final_note = forms.CharField(
        label="Final note",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What was done for the customer"}),
        required=False,
    )

    def __init__(
        self,
        *args: Any,
        closing_statuses: list[tuple[int, str]],
        root_causes: list[tuple[int, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        status_field: Any = self.fields["closing_status"]
        status_field.choices = [("", "Choose…"), *closing_statuses]
        causes_field: Any = self.fields["root_causes"]
        causes_field.choices = root_causes


class ReopenForm(VersionedForm):
    reason = forms.CharField(
        label="Why reopen?", widget=forms.TextInput(attrs={"placeholder": "e.g. customer called"})
    )
