"""A small organisation and a survey program with the two classic alert rules."""

from dataclasses import dataclass

import pytest

from caseloop.intake.models import AlertRule
from caseloop.intake.tests.factories import make_alert_rule
from caseloop.org.models import Unit, User
from caseloop.org.tests.factories import make_unit, make_user
from caseloop.programs.models import Program
from caseloop.programs.tests.factories import make_program


@dataclass
class Survey:
    program: Program
    corporate: Unit
    region: Unit
    store: Unit
    owner: User
    region_manager: User
    ceo: User
    concern_rule: AlertRule
    low_score_rule: AlertRule


@pytest.fixture
def survey(db: None) -> Survey:
    """Store ``s-1`` (owner olivia) in region ``north`` (manager max) under ``corp`` (the ceo
    manages it). Rules: "Concern raised" (``concern == true``, high) before "Low score"
    (``q_overall <= 6``, normal)."""
    owner = make_user(username="olivia")
    region_manager = make_user(username="max")
    ceo = make_user(username="ceo")
    corporate = make_unit(code="corp", name="Corporate", kind="corporate", manager=ceo)
    region = make_unit(
        code="north", name="North", kind="region", parent=corporate, manager=region_manager
    )
    store = make_unit(code="s-1", name="Store 1", parent=region, owner=owner)
    program = make_program(code="retail", name="Retail survey")
    concern = make_alert_rule(program, "concern == true", name="Concern raised", position=1)
    low = make_alert_rule(
        program, "q_overall <= 6", name="Low score", position=2, priority="normal"
    )
    return Survey(program, corporate, region, store, owner, region_manager, ceo, concern, low)
