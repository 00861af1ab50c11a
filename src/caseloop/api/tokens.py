"""Personal token endpoints: list your tokens, create one (its secret is shown once), revoke one."""

from ninja import Router, Status

from caseloop.api import services
from caseloop.api.auth import AuthedRequest
from caseloop.api.errors import ErrorOut
from caseloop.api.models import ApiToken
from caseloop.api.queries import list_tokens_for
from caseloop.api.schemas import Id, NewTokenOut, TokenIn, TokenOut

router = Router(tags=["tokens"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


@router.get("/tokens", response={200: list[TokenOut], **ERRORS}, summary="Your tokens")
def list_tokens(request: AuthedRequest) -> list[ApiToken]:
    """Your tokens without their secrets, which are not stored."""
    return list(list_tokens_for(request.auth))


@router.post("/tokens", response={201: NewTokenOut, **ERRORS}, summary="Create a token")
def create_token(request: AuthedRequest, payload: TokenIn) -> Status[dict[str, object]]:
    """Create a token; the response is the only time its secret is shown."""
    token, raw = services.create_token(actor=request.auth, name=payload.name)
    return Status(201, {**TokenOut.model_validate(token).model_dump(), "token": raw})


@router.delete("/tokens/{token_id}", response={200: TokenOut, **ERRORS}, summary="Revoke a token")
def revoke_token(request: AuthedRequest, token_id: Id) -> ApiToken:
    """Revoke one of your tokens; it stops working at once."""
    return services.revoke_token(actor=request.auth, token_id=token_id)
