"""Domain errors raised by services and mapped to responses by each interface in one place."""


class DomainError(Exception):
    """Base of every error a service raises on purpose; ``message`` is shown to the user."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    """The object does not exist, or the actor may not know that it does (both look the same)."""

    code = "not_found"


class Forbidden(DomainError):
    """The actor can see the object but lacks the right to do this to it."""

    code = "forbidden"


class InvalidInput(DomainError):
    """The request is understood but breaks a business rule; nothing was changed."""

    code = "invalid"


class IllegalTransition(DomainError):
    """The object's current state does not allow this action (e.g. closing a closed case)."""

    code = "illegal_transition"


class Conflict(DomainError):
    """Someone else changed the object since the actor loaded it; reload and try again."""

    code = "conflict"
