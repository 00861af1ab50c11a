"""Search from every page: case number, customer name, email or phone in any format."""

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from caseloop.cases.models import parse_case_number
from caseloop.customers.queries import search as search_everything
from caseloop.web.errors import web_view
from caseloop.web.http import AuthedRequest


@require_GET
@web_view
def search(request: AuthedRequest) -> HttpResponse:
    """A case number that names exactly one case opens it; anything else lists what matched."""
    text = request.GET.get("q", "")[:200]
    results = search_everything(request.user, text)
    if len(results.cases) == 1 and not results.customers and parse_case_number(text):
        return redirect("web:case", case_id=results.cases[0].pk)
    context = {"now": timezone.now(), "results": results, "q": results.text}
    return render(request, "web/search.html", context)
