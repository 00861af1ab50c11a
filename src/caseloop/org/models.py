"""The organisation: a tree of units, the people in it, and what each may do where."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """Anyone who logs in: frontline owners, managers, administrators, analysts.

    A user marked away receives no new cases; their ``cover`` takes them and watches theirs.
    """

    is_away = models.BooleanField(default=False)
    cover = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="covering_for"
    )
    phone = models.CharField(max_length=32, blank=True)
    skills = models.JSONField(default=list, blank=True)

    class Meta:
        db_table = "org_user"

    def __str__(self) -> str:
        return user_label(self.first_name, self.last_name, self.username)


def user_label(first_name: str, last_name: str, username: str) -> str:
    """How a person is named on a page: their full name, else their user name."""
    return f"{first_name} {last_name}".strip() or username


def ids_in_path(path: str) -> list[int]:
    """The unit ids a materialised path ("/1/4/9/") lists, from the root down."""
    return [int(part) for part in path.strip("/").split("/") if part]


class Unit(models.Model):
    """A place in the organisation: corporate, a region, a store, a branch, a hotel, a team.

    Units form a tree of any depth. ``path`` holds the ids from the root down to the unit
    (``/1/4/17/``) so that "this unit and everything below it" is one indexed prefix match.
    The designated owner receives the unit's new cases; the manager watches them and is the
    first step of escalation.
    """

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=40, default="store", help_text=_("e.g. region, store"))
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    path = models.CharField(max_length=255, editable=False, db_index=True, default="")
    depth = models.PositiveSmallIntegerField(editable=False, default=0)
    owner = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_units",
        help_text=_("Designated owner of the unit's new cases."),
    )
    manager = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="managed_units"
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["path"]

    def __str__(self) -> str:
        return self.name

    @property
    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to and including this unit."""
        return ids_in_path(self.path)


class Role(models.TextChoices):
    AGENT = "agent", _("Agent")
    MANAGER = "manager", _("Manager")
    VIEWER = "viewer", _("Viewer")
    ADMIN = "admin", _("Administrator")


# Roles that may change the cases of a unit's subtree without owning or watching them.
WRITING_ROLES = frozenset({Role.MANAGER, Role.ADMIN})


class Membership(models.Model):
    """A user's role on a unit, valid for the unit and its whole subtree."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "unit"], name="membership_one_per_user_unit")
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} @ {self.unit}"
