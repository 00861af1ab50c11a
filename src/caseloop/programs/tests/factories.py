"""Builders for programs with case types, playbooks, closing statuses and root causes."""

import itertools

from caseloop.programs.models import CaseType, ClosingStatus, PlaybookStep, Program, RootCause

_sequence = itertools.count(1)


def make_program(**overrides: object) -> Program:
    """A program with one case type (two playbook steps), a resolved and an unresolved closing
    status, and two root causes."""
    n = next(_sequence)
    fields: dict[str, object] = {"code": f"program-{n}", "name": f"Program {n}"}
    fields.update(overrides)
    program = Program.objects.create(**fields)
    case_type = CaseType.objects.create(program=program, code="complaint", name="Complaint")
    PlaybookStep.objects.create(case_type=case_type, position=1, title="Call the customer")
    PlaybookStep.objects.create(case_type=case_type, position=2, title="Offer a remedy")
    ClosingStatus.objects.create(program=program, code="resolved", name="Resolved", position=1)
    ClosingStatus.objects.create(
        program=program, code="unresolved", name="Not resolved", is_resolved=False, position=2
    )
    RootCause.objects.create(program=program, code="staff", name="Staff behaviour", position=1)
    RootCause.objects.create(program=program, code="product", name="Product defect", position=2)
    return program
