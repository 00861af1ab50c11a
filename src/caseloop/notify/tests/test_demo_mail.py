"""The mail loop a demo user sees (docs/email.md, "Seeing the demo's mail"): the demo's made-up
history, escalations included, is never mailed; a case opened after the load reaches its owner
through a real SMTP server; the owner's answer to that mail, delivered back over real LMTP, lands
on the case."""

from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage

import pytest

from caseloop.cases.models import Case, CaseNote
from caseloop.cases.services import open_case
from caseloop.customers.models import Customer
from caseloop.demo.catalogue import RETAIL_PROGRAM
from caseloop.demo.loader import DemoLoad, load_demo
from caseloop.notify.delivery import deliver_due
from caseloop.notify.lmtp import LMTPController
from caseloop.notify.models import OutboxKind, OutboxMessage, OutboxStatus
from caseloop.notify.tests.conftest import SmtpServer, lmtp_client
from caseloop.org.models import Unit
from caseloop.programs.models import Program
from caseloop.sla.services import sweep_deadlines

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@pytest.fixture
def demo(transactional_db: None) -> DemoLoad:
    # Committed, not rolled back: the LMTP receiver answers from a thread of its own.
    return load_demo(now=NOW, customers=80, cases=150)


def open_demo_case() -> Case:
    program = Program.objects.get(code=RETAIL_PROGRAM)
    store = Unit.objects.filter(owner__email__gt="").order_by("-depth", "code").first()
    assert store is not None, "the demo has stores with designated owners"
    return open_case(
        actor=None,
        program=program,
        case_type=program.case_types.order_by("pk").first(),
        customer=Customer.objects.filter(email__gt="").order_by("pk").first(),
        unit=store,
        subject="Broken kettle, second time",
        description="The replacement kettle leaks as well.",
        now=NOW + timedelta(minutes=1),
    )


def reply_to(received: EmailMessage, *, sender: str, body: str) -> bytes:
    """The owner's answer as a mail program writes it: threaded on the notification, sent to
    its Reply-To address, with the notification quoted below."""
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = str(received["Reply-To"])
    reply["Subject"] = f"Re: {received['Subject']}"
    reply["Message-ID"] = "<answer-1@owner.example>"
    reply["In-Reply-To"] = str(received["Message-ID"])
    reply["References"] = f"{received['References']} {received['Message-ID']}"
    text_part = received.get_body(preferencelist=("plain",))
    assert text_part is not None
    quoted = "\n".join(f"> {line}" for line in text_part.get_content().splitlines())
    reply.set_content(f"{body}\n\nOn Wed, 25 Nov 2026 caseloop wrote:\n{quoted}\n")
    return reply.as_bytes(policy=policy.SMTP)


def test_the_demo_history_is_kept_but_never_mailed(demo: DemoLoad, smtp_server: SmtpServer) -> None:
    history = OutboxMessage.objects.filter(kind=OutboxKind.EMAIL)
    assert history.exists()
    assert not history.filter(status=OutboxStatus.PENDING).exists()

    # The first sweep of a worker started on the demo finds the history escalated already.
    swept = sweep_deadlines(now=NOW)
    result = deliver_due(now=NOW + timedelta(minutes=5))

    assert (swept.escalations, swept.cases_marked_overdue) == (0, 0)
    assert result.claimed == 0
    assert smtp_server.received == []


def test_a_case_opened_in_the_demo_is_mailed_and_the_owners_reply_threads_back(
    demo: DemoLoad, smtp_server: SmtpServer, lmtp: LMTPController
) -> None:
    case = open_demo_case()
    deliver_due(now=NOW + timedelta(minutes=2))

    [received] = [r for r in smtp_server.received if case.owner.email in r.rcpt_tos]
    assert case.number in str(received.message["Subject"])
    assert {r.message["Message-ID"] for r in smtp_server.received} == set(
        OutboxMessage.objects.filter(case=case, kind=OutboxKind.EMAIL).values_list(
            "message_id", flat=True
        )
    ), "only the new case is mailed"
    raw = reply_to(
        received.message, sender=case.owner.email, body="Called her, a new kettle is on its way."
    )
    with lmtp_client(lmtp) as client:
        refused = client.sendmail(case.owner.email, [str(received.message["Reply-To"])], raw)

    assert refused == {}
    [note] = CaseNote.objects.filter(case=case)
    assert note.body == "Called her, a new kettle is on its way."
    assert note.author == case.owner
