"""Who may take in responses and change intake settings."""

from caseloop.errors import Forbidden
from caseloop.org.models import User


def require(actor: User | None, permission: str) -> None:
    """Refuse ``actor`` without ``permission``; ``None`` is the system itself (a verified
    webhook, the import command), which may do everything."""
    if actor is not None and not (actor.is_active and actor.has_perm(permission)):
        raise Forbidden(f"You may not do this: it needs the permission {permission}.")
