"""Personal API tokens: how scripts and integrations act as a user over the JSON API."""

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """A personal token that lets a program act with its user's rights, until it is revoked.

    The token reads ``cl_<prefix>_<secret>``. The prefix finds the row and identifies the token
    in lists; only a SHA-256 hash of the secret is kept, so a copy of the database does not give
    anyone a usable token. The raw token is shown once, when it is created.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="api_token_by_user")]

    def __str__(self) -> str:
        return f"{self.name} (cl_{self.prefix}_…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
