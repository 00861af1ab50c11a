"""The shared cast: one case and a user for every access role on it.

- ``owner`` owns the case; ``full_watcher`` and ``limited_watcher`` watch it;
- ``manager`` manages the region above the store; ``member`` is an agent of the store;
- ``viewer`` has the viewer role on the region; ``outsider`` works in another region.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from caseloop.cases.models import Case, WatcherAccess
from caseloop.cases.services import add_watcher
from caseloop.cases.tests.factories import make_case
from caseloop.org.models import Role, Unit, User
from caseloop.org.tests.factories import make_membership, make_unit, make_user
from caseloop.programs.models import Program
from caseloop.programs.tests.factories import make_program

# A Monday morning, so business-time deadlines are easy to reason about.
MONDAY_9AM = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@dataclass
class Cast:
    program: Program
    corporate: Unit
    region: Unit
    store: Unit
    other_store: Unit
    case: Case
    owner: User
    full_watcher: User
    limited_watcher: User
    manager: User
    member: User
    viewer: User
    outsider: User
    admin: User

    def user(self, role: str) -> User:
        return getattr(self, role)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: SettingsWrapper) -> None:
    # The production hasher is slow on purpose; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def static_files_without_manifest(settings: SettingsWrapper) -> None:
    # Production serves hashed names from the manifest `collectstatic` writes (the serve test
    # covers that); tests render pages without collecting first.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def now() -> datetime:
    return MONDAY_9AM


@pytest.fixture
def cast(db: None, now: datetime) -> Cast:
    owner = make_user(username="olivia")
    manager = make_user(username="max")
    corporate = make_unit(code="corp", name="Corporate", kind="corporate")
    region = make_unit(code="north", name="North", kind="region", parent=corporate, manager=manager)
    store = make_unit(code="store-1", name="Store 1", parent=region, owner=owner)
    other_region = make_unit(code="south", name="South", kind="region", parent=corporate)
    other_store = make_unit(code="store-2", name="Store 2", parent=other_region)
    member = make_user(username="mia")
    viewer = make_user(username="vera")
    outsider = make_user(username="otto")
    make_membership(owner, store, Role.AGENT)
    make_membership(member, store, Role.AGENT)
    make_membership(manager, region, Role.MANAGER)
    make_membership(viewer, region, Role.VIEWER)
    make_membership(outsider, other_store, Role.AGENT)
    program = make_program()
    case = make_case(program=program, unit=store, now=now)
    full_watcher = make_user(username="fiona")
    limited_watcher = make_user(username="lars")
    add_watcher(case, actor=None, user=full_watcher, access=WatcherAccess.FULL, now=now)
    add_watcher(case, actor=None, user=limited_watcher, access=WatcherAccess.LIMITED, now=now)
    case.refresh_from_db()
    return Cast(
        program=program,
        corporate=corporate,
        region=region,
        store=store,
        other_store=other_store,
        case=case,
        owner=owner,
        full_watcher=full_watcher,
        limited_watcher=limited_watcher,
        manager=manager,
        member=member,
        viewer=viewer,
        outsider=outsider,
        admin=make_user(username="root", is_superuser=True, is_staff=True),
    )
