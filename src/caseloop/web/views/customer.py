"""The customer 360: contacts, cases (open first), the timeline across channels, survey
answers and transactions."""

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from caseloop.customers import queries
from caseloop.web.errors import web_view
from caseloop.web.http import AuthedRequest


@require_GET
@web_view
def customer_detail(request: AuthedRequest, customer_id: int) -> HttpResponse:
    user = request.user
    customer = queries.get_customer_for(user, customer_id)
    context = {
        "now": timezone.now(),
        "customer": customer,
        "cases": queries.list_customer_cases(user, customer),
        "interactions": queries.list_customer_interactions(user, customer),
        "survey_alerts": queries.list_survey_alerts(user, customer),
        "transactions": queries.list_customer_transactions(customer),
    }
    return render(request, "web/customer.html", context)
