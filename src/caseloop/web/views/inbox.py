"""The case inbox: tabs, status chips with counts, filters, most urgent first, pages."""

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from caseloop.cases.queries import InboxRow, InboxTab, count_by_display_status, inbox_rows
from caseloop.web.choices import inbox_filter_options, oversees_units
from caseloop.web.errors import web_view
from caseloop.web.forms import PAGE_SIZES, InboxQueryForm, SortOrder
from caseloop.web.http import AuthedRequest, wants_fragment

TAB_LABELS = {
    InboxTab.MINE: "Mine",
    InboxTab.WATCHING: "Watching",
    InboxTab.UNITS: "My units",
    InboxTab.OVERDUE: "Overdue",
}


@dataclass
class InboxPage:
    rows: list[InboxRow]
    number: int
    size: int
    has_next: bool

    @property
    def first(self) -> int:
        return (self.number - 1) * self.size + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0


def chip_labels(counts: dict[str, int], cap: int) -> dict[str, str]:
    """What each status chip shows: the count, or "1,000+" once it passed the cap (then the
    open total passed it too)."""
    labels = {chip: f"{cap:,}+" if count > cap else f"{count:,}" for chip, count in counts.items()}
    open_parts = [counts["new"], counts["in_progress"], counts["overdue"]]
    capped = any(count > cap for count in open_parts)
    labels["open"] = f"{cap:,}+" if capped else f"{sum(open_parts):,}"
    return labels


@require_GET
@web_view
def inbox(request: AuthedRequest) -> HttpResponse:
    """One page of the inbox in a fixed number of queries, whatever the page size.

    Paging reads one row more than it shows to know whether a next page exists, instead of
    counting every match: the status chips say how much there is. Their counts come from
    ``inbox_chips``, which the page asks for once it shows.
    """
    now = timezone.now()
    query = InboxQueryForm(request.GET)
    oversees = oversees_units(request.user)
    filters = query.filters(default_tab=InboxTab.UNITS if oversees else InboxTab.MINE)
    size, number = query.page_size, query.page_number
    rows = inbox_rows(
        request.user,
        filters,
        now,
        limit=size + 1,
        offset=(number - 1) * size,
        least_urgent_first=query.least_urgent_first,
    )
    tabs = [tab for tab in TAB_LABELS if tab != InboxTab.UNITS or oversees]
    context = {
        "now": now,
        "query": query,
        "filters": filters,
        "tabs": [(tab, TAB_LABELS[tab]) for tab in tabs],
        "page": InboxPage(rows=rows[:size], number=number, size=size, has_next=len(rows) > size),
        "options": inbox_filter_options(request.user),
        "page_sizes": PAGE_SIZES,
        "sort_orders": SortOrder.CHOICES,
    }
    template = "web/_inbox.html" if wants_fragment(request) else "web/inbox.html"
    return render(request, template, context)


@require_GET
@web_view
def inbox_chips(request: AuthedRequest) -> HttpResponse:
    """The status chips of an inbox view with their counts, in one query.

    A request of its own, which the inbox page sends once it shows: the counts are the dearest
    part of the page, and the rows need not wait for them (issue #3). The page names its tab.
    """
    now = timezone.now()
    cap = settings.CASELOOP_INBOX_COUNT_CAP
    filters = InboxQueryForm(request.GET).filters(default_tab=InboxTab.MINE)
    counts = count_by_display_status(request.user, filters.tab, now, cap=cap)
    context = {"filters": filters, "chips": chip_labels(counts, cap)}
    return render(request, "web/_inbox_chips.html", context)
