"""The case page's timeline: every event of the case's history, with the note, file or contact
attempt it stands for, and the messages that reached the case from outside (emails, calls,
survey answers), newest first."""

from dataclasses import dataclass, field
from datetime import datetime

from caseloop.cases.models import (
    Case,
    CaseAttachment,
    CaseEvent,
    CaseNote,
    ContactOutcome,
    EventKind,
)
from caseloop.customers.models import Channel, Direction, Interaction
from caseloop.org.models import Unit, User
from caseloop.programs.models import ClosingStatus, RootCause


@dataclass
class TimelineItem:
    """One line of the timeline. ``body`` is user-written text and is escaped when shown."""

    at: datetime
    kind: str
    title: str
    actor: User | None = None
    body: str = ""
    details: list[str] = field(default_factory=list)
    attachment: CaseAttachment | None = None


def _ref(value: object) -> int:
    """An id stored in an event's data; anything else finds nothing (ids start at 1)."""
    return value if isinstance(value, int) else 0


def _names(users: dict[int, User], *ids: object) -> list[str]:
    return [str(users[i]) if i in users else "a former user" for i in ids if isinstance(i, int)]


def _unit_ids(events: list[CaseEvent]) -> set[int]:
    return {
        e.data["unit"]
        for e in events
        if e.kind == EventKind.TRANSFERRED and isinstance(e.data.get("unit"), int)
    }


def _user_ids(events: list[CaseEvent]) -> set[int]:
    ids: set[int] = set()
    for event in events:
        for key in ("owner", "previous_owner", "user", "designee"):
            value = event.data.get(key)
            if isinstance(value, int):
                ids.add(value)
    return ids


@dataclass
class _Lookups:
    notes: dict[int, CaseNote]
    attachments: dict[int, CaseAttachment]
    users: dict[int, User]
    units: dict[int, Unit]
    closing_statuses: dict[str, str]
    root_causes: dict[str, str]


def _describe(event: CaseEvent, lookups: _Lookups) -> TimelineItem:
    """Turn an event into what a person reads; unknown kinds still show their label."""
    data = event.data
    item = TimelineItem(
        at=event.created_at, kind=event.kind, title=event.get_kind_display(), actor=event.actor
    )
    if event.kind == EventKind.NOTE_ADDED:
        note = lookups.notes.get(_ref(data.get("note")))
        item.body = note.body if note else ""
    elif event.kind == EventKind.ATTACHMENT_ADDED:
        item.attachment = lookups.attachments.get(_ref(data.get("attachment")))
        if item.attachment is None:
            item.details = [str(data.get("name", ""))]
    elif event.kind == EventKind.CONTACT_ATTEMPTED:
        outcome = data.get("outcome")
        item.title = ContactOutcome(outcome).label if outcome in ContactOutcome.values else "?"
        channel = data.get("channel")
        item.details = [Channel(channel).label if channel in Channel.values else str(channel)]
        item.body = str(data.get("note") or "")
    elif event.kind in (EventKind.TASK_COMPLETED, EventKind.TASK_UNDONE):
        item.details = [str(data.get("title", ""))]
    elif event.kind == EventKind.ASSIGNED:
        item.details = [
            "to " + ", ".join(_names(lookups.users, data.get("owner")) or ["nobody"]),
        ]
    elif event.kind in (EventKind.WATCHER_ADDED, EventKind.WATCHER_REMOVED):
        item.details = _names(lookups.users, data.get("user"))
        if data.get("access"):
            item.details.append("full access" if data["access"] == "full" else "read only")
    elif event.kind == EventKind.CLOSED:
        code = str(data.get("closing_status", ""))
        item.details = [lookups.closing_statuses.get(code, code)]
        causes = data.get("root_causes")
        codes = [str(c) for c in causes] if isinstance(causes, list) else []
        item.details += [lookups.root_causes.get(code, code) for code in codes]
        item.body = str(data.get("final_note") or "")
    elif event.kind == EventKind.REOPENED:
        item.body = str(data.get("reason") or "")
    elif event.kind == EventKind.ESCALATED:
        deadline = data.get("deadline")
        item.details = [f"{deadline} deadline missed" if deadline else ""]
        item.details += ["to " + name for name in _names(lookups.users, data.get("designee"))]
    elif event.kind == EventKind.TRANSFERRED:
        unit = lookups.units.get(_ref(data.get("unit")))
        item.details = [f"to {unit}" if unit else ""]
        item.details += ["owner " + name for name in _names(lookups.users, data.get("owner"))]
    return item


def _from_outside(interactions: list[Interaction], events: list[CaseEvent]) -> list[TimelineItem]:
    """Interactions that no event already tells: notes and contact attempts are events of
    their own, so only what came from (or went to) the customer by other ways is added."""
    attempts = {(e.created_at, e.actor_id) for e in events if e.kind == EventKind.CONTACT_ATTEMPTED}
    items = []
    for interaction in interactions:
        if interaction.channel == Channel.NOTE:
            continue
        if (interaction.occurred_at, interaction.agent_id) in attempts:
            continue
        towards = {Direction.INBOUND: "from", Direction.OUTBOUND: "to"}.get(interaction.direction)
        title = interaction.get_channel_display()
        items.append(
            TimelineItem(
                at=interaction.occurred_at,
                kind=f"interaction_{interaction.channel}",
                title=f"{title} {towards} the customer" if towards else title,
                actor=interaction.agent,
                body=interaction.summary,
            )
        )
    return items


def _names_by_code(model: type[ClosingStatus] | type[RootCause], case: Case) -> dict[str, str]:
    names = model.objects.filter(program_id=case.program_id).order_by().values_list("code", "name")
    return dict(names)


def case_timeline(case: Case) -> list[TimelineItem]:
    """Everything that happened on ``case``, newest first, in at most eight queries whatever
    the length of its history. What no event refers to is not read (a case never closed needs
    no closing status names): the case page's time goes mostly to compiling its queries."""
    events = list(CaseEvent.objects.filter(case=case).select_related("actor"))
    kinds = {event.kind for event in events}
    closed = EventKind.CLOSED in kinds
    # The lookups are read by key: no order is asked for, which saves joins and sorting.
    lookups = _Lookups(
        notes={n.pk: n for n in CaseNote.objects.filter(case=case).order_by()}
        if EventKind.NOTE_ADDED in kinds
        else {},
        attachments={a.pk: a for a in CaseAttachment.objects.filter(case=case).order_by()}
        if EventKind.ATTACHMENT_ADDED in kinds
        else {},
        users=User.objects.in_bulk(_user_ids(events)),
        units=Unit.objects.in_bulk(_unit_ids(events)),
        closing_statuses=_names_by_code(ClosingStatus, case) if closed else {},
        root_causes=_names_by_code(RootCause, case) if closed else {},
    )
    interactions = list(Interaction.objects.filter(case=case).select_related("agent"))
    items = [_describe(event, lookups) for event in events]
    items += _from_outside(interactions, events)
    # Oldest first and then reversed, so that things recorded at the same moment keep their
    # order of recording reversed too (the note above the "work started" it caused).
    items.sort(key=lambda item: item.at)
    items.reverse()
    return items
