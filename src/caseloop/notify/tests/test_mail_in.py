"""``caseloop mail-in`` against real servers: IMAP polling of pymap over STARTTLS, and real
LMTP deliveries to the receiver."""

import smtplib
import ssl
from datetime import datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from caseloop.cases.models import Case, CaseNote, Source
from caseloop.conftest import Cast
from caseloop.notify.imap import ImapMailbox, Security, poll_mailbox
from caseloop.notify.lmtp import LMTPController
from caseloop.notify.models import InboundMessage
from caseloop.notify.tests.conftest import (
    IMAP_PASSWORD,
    IMAP_USER,
    ImapServer,
    TlsRelay,
    lmtp_client,
    make_email,
)
from caseloop.notify.tests.factories import make_mailbox


@pytest.fixture
def mailbox_cast(cast: Cast) -> Cast:
    make_mailbox(cast.program, cast.store, "support@retail.test")
    return cast


def mailbox_for(server: ImapServer, folder: str, processed: str = "") -> ImapMailbox:
    return ImapMailbox(
        host="127.0.0.1",
        port=server.port,
        user=IMAP_USER,
        password=IMAP_PASSWORD,
        folder=folder,
        security=Security.STARTTLS,
        processed_folder=processed,
        ca_file=str(server.ca_file),
    )


def email_cases() -> list[Case]:
    return list(Case.objects.filter(source=Source.EMAIL).order_by("pk"))


# --- IMAP -----------------------------------------------------------------------------------


def test_the_command_polls_imap_once_and_opens_a_case(
    mailbox_cast: Cast, imap_server: ImapServer, tmp_path: Path
) -> None:
    folder = imap_server.new_folder()
    imap_server.append(folder, make_email(subject="Broken lid", sender="ann@customer.test"))
    password_file = tmp_path / "imap-password"
    password_file.write_text(IMAP_PASSWORD + "\n")
    out = StringIO()
    call_command(
        "mail_in",
        "--imap",
        f"127.0.0.1:{imap_server.port}",
        "--starttls",
        "--ca-file",
        str(imap_server.ca_file),
        "--user",
        IMAP_USER,
        "--password-file",
        str(password_file),
        "--folder",
        folder,
        "--once",
        stdout=out,
    )
    [case] = email_cases()
    assert (case.subject, case.customer.email) == ("Broken lid", "ann@customer.test")
    assert "1 message(s) processed" in out.getvalue()


def test_a_polled_message_is_flagged_seen_and_never_fetched_twice(
    mailbox_cast: Cast, imap_server: ImapServer, now: datetime
) -> None:
    folder = imap_server.new_folder()
    imap_server.append(folder, make_email(subject="First"))
    first = poll_mailbox(mailbox_for(imap_server, folder), now=now)
    second = poll_mailbox(mailbox_for(imap_server, folder), now=now)
    assert (first.fetched, second.fetched) == (1, 0)
    assert imap_server.uids(folder, "UNSEEN") == []
    assert len(email_cases()) == 1


def test_processed_messages_are_moved_to_the_processed_folder(
    mailbox_cast: Cast, imap_server: ImapServer, now: datetime
) -> None:
    folder = imap_server.new_folder()
    processed = f"{folder} done"
    imap_server.append(folder, make_email(subject="One"))
    imap_server.append(folder, make_email(subject="Two"))
    result = poll_mailbox(mailbox_for(imap_server, folder, processed), now=now)
    assert result.fetched == 2
    assert imap_server.uids(folder) == []
    assert len(imap_server.uids(processed)) == 2
    assert poll_mailbox(mailbox_for(imap_server, folder, processed), now=now).fetched == 0


def test_a_reply_polled_over_imap_becomes_a_note(
    cast: Cast, imap_server: ImapServer, now: datetime
) -> None:
    folder = imap_server.new_folder()
    raw = make_email(
        sender=cast.owner.email,
        to=f"cases+{cast.case.number}@caseloop.test",
        subject=f"Re: [{cast.case.number}] New case",
        body="Customer called back, all good.",
    )
    imap_server.append(folder, raw)
    poll_mailbox(mailbox_for(imap_server, folder), now=now)
    assert CaseNote.objects.get(case=cast.case).body == "Customer called back, all good."


def test_bounces_and_malformed_mail_are_marked_processed_without_a_case(
    mailbox_cast: Cast, imap_server: ImapServer, now: datetime
) -> None:
    folder = imap_server.new_folder()
    imap_server.append(folder, make_email(headers={"Auto-Submitted": "auto-replied"}))
    imap_server.append(folder, b"To: support@retail.test\r\nSubject: no sender\r\n\r\nHi\r\n")
    result = poll_mailbox(mailbox_for(imap_server, folder), now=now)
    assert sorted(r.outcome for r in result.results) == ["ignored", "rejected"]
    assert imap_server.uids(folder, "UNSEEN") == []
    assert email_cases() == []


def test_a_message_seen_again_after_a_crash_is_not_ingested_twice(
    mailbox_cast: Cast, imap_server: ImapServer, now: datetime
) -> None:
    folder = imap_server.new_folder()
    raw = make_email(message_id="<crash-1@customer.test>")
    imap_server.append(folder, raw)
    # The poller died after ingesting but before flagging: the server still has it unseen.
    imap_server.append(folder, raw)
    result = poll_mailbox(mailbox_for(imap_server, folder), now=now)
    assert [r.outcome for r in result.results] == ["case_opened", "duplicate"]
    assert len(email_cases()) == 1


def test_polling_over_implicit_tls_opens_a_case(
    mailbox_cast: Cast, imap_server: ImapServer, imaps_relay: TlsRelay, now: datetime
) -> None:
    folder = imap_server.new_folder()
    imap_server.append(folder, make_email(subject="Over IMAPS"))
    mailbox = ImapMailbox(
        host="127.0.0.1",
        port=imaps_relay.port,
        user=IMAP_USER,
        password=IMAP_PASSWORD,
        folder=folder,
        security=Security.TLS,
        ca_file=str(imap_server.ca_file),
    )
    assert poll_mailbox(mailbox, now=now).fetched == 1
    assert [c.subject for c in email_cases()] == ["Over IMAPS"]


def test_an_untrusted_certificate_is_refused(
    mailbox_cast: Cast, imap_server: ImapServer, now: datetime
) -> None:
    folder = imap_server.new_folder()
    imap_server.append(folder, make_email())
    untrusted = ImapMailbox(
        host="127.0.0.1",
        port=imap_server.port,
        user=IMAP_USER,
        password=IMAP_PASSWORD,
        folder=folder,
        security=Security.STARTTLS,
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        poll_mailbox(untrusted, now=now)
    assert email_cases() == []


def test_the_command_reports_a_failed_poll_as_an_error(imap_server: ImapServer) -> None:
    with pytest.raises(CommandError, match="failed"):
        call_command(
            "mail_in",
            "--imap",
            f"127.0.0.1:{imap_server.port}",
            "--starttls",
            "--ca-file",
            str(imap_server.ca_file),
            "--user",
            IMAP_USER,
            "--password",
            "wrong",
            "--once",
            stdout=StringIO(),
        )


def test_the_command_needs_host_and_port() -> None:
    with pytest.raises(CommandError, match="HOST:PORT"):
        call_command("mail_in", "--lmtp", "localhost")


# --- LMTP -----------------------------------------------------------------------------------


def test_lmtp_delivery_opens_a_case(mailbox_cast: Cast, lmtp: LMTPController) -> None:
    with lmtp_client(lmtp) as client:
        refused = client.sendmail(
            "ann@customer.test", ["support@retail.test"], make_email(sender="ann@customer.test")
        )
    assert refused == {}
    [case] = email_cases()
    assert case.customer.email == "ann@customer.test"
    assert InboundMessage.objects.get(case=case).via == "lmtp"


def test_lmtp_reply_threads_onto_its_case(cast: Cast, lmtp: LMTPController) -> None:
    raw = make_email(
        sender=cast.owner.email,
        to="cases@caseloop.test",
        subject="Re: your case",
        body="Done, closing it tomorrow.",
        in_reply_to=f"<case-{cast.case.number}@caseloop.test>",
    )
    with lmtp_client(lmtp) as client:
        client.sendmail(cast.owner.email, ["cases@caseloop.test"], raw)
    assert CaseNote.objects.get(case=cast.case).body == "Done, closing it tomorrow."


def test_lmtp_uses_the_envelope_recipient_to_find_the_program(
    mailbox_cast: Cast, lmtp: LMTPController
) -> None:
    # Bcc'd or forwarded: the headers name nobody of ours, the envelope does.
    raw = make_email(to="friends@customer.test")
    with lmtp_client(lmtp) as client:
        client.sendmail("ann@customer.test", ["support@retail.test"], raw)
    assert len(email_cases()) == 1


def test_lmtp_refuses_an_unknown_recipient_at_rcpt(
    mailbox_cast: Cast, lmtp: LMTPController
) -> None:
    with lmtp_client(lmtp) as client, pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        client.sendmail("ann@customer.test", ["nobody@retail.test"], make_email())
    assert refused.value.recipients["nobody@retail.test"][0] == 550


def test_lmtp_rejects_a_malformed_message_with_550(
    mailbox_cast: Cast, lmtp: LMTPController
) -> None:
    raw = b"To: support@retail.test\r\nSubject: no sender\r\n\r\nHi\r\n"
    with lmtp_client(lmtp) as client, pytest.raises(smtplib.SMTPDataError) as rejected:
        client.sendmail("x@customer.test", ["support@retail.test"], raw)
    assert rejected.value.smtp_code == 550
    assert email_cases() == []


def test_lmtp_accepts_an_auto_reply_but_opens_no_case(
    mailbox_cast: Cast, lmtp: LMTPController
) -> None:
    raw = make_email(subject="Out of office", headers={"Auto-Submitted": "auto-replied"})
    with lmtp_client(lmtp) as client:
        assert client.sendmail("ann@customer.test", ["support@retail.test"], raw) == {}
    assert email_cases() == []
    assert InboundMessage.objects.get().outcome == "ignored"
