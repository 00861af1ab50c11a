"""Reads of the intake shared by the API, the import command and the web app."""

from django.db.models import QuerySet

from caseloop.cases.models import Case
from caseloop.errors import NotFound
from caseloop.intake.models import SurveyResponse
from caseloop.programs.models import Program


def program_by_code(code: str) -> Program:
    """The program with ``code``, or ``NotFound``."""
    program = Program.objects.filter(code=code).first()
    if program is None:
        raise NotFound(f"There is no program with the code {code!r}.", field="program")
    return program


def responses_of_case(case: Case) -> QuerySet[SurveyResponse]:
    """The survey responses that raised ``case`` (one, or more for a case of another channel
    that a response with the same external reference was linked to)."""
    return SurveyResponse.objects.filter(case=case).order_by("received_at", "pk")
