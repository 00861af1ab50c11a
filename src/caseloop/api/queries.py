"""Reads the API needs beyond the domain apps' queries."""

from django.db.models import QuerySet

from caseloop.api.models import ApiToken
from caseloop.api.render import DETAIL_RELATED
from caseloop.cases.models import Case
from caseloop.errors import InvalidInput
from caseloop.org.models import User


def list_tokens_for(user: User) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first, revoked ones included so that they can be told
    apart from tokens that never existed."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-id")


def get_case_after_write(case_id: int) -> Case:
    """The case as an action just left it, ready to render, without an access check.

    Only for answering the action itself: its actor was allowed to act a moment ago and may
    have just given up their own access (a watcher removing themselves).
    """
    return Case.objects.select_related(*DETAIL_RELATED).get(pk=case_id)


def get_user_named_in_request(pk: int, field: str) -> User:
    """A user the request refers to by id (new owner, watcher); an unknown id is bad input."""
    user = User.objects.filter(pk=pk).first()
    if user is None:
        raise InvalidInput(f"There is no user {pk}.", field=field)
    return user
