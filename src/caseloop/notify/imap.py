"""Polling a mailbox over IMAP: what help desks usually do, and it needs no change to the MX.

Each poll logs in, selects the folder, and fetches the messages not yet processed. Every
message is handed to ``ingest_message`` and then marked processed on the server: moved to the
processed folder when one is configured (then every message left in the folder is new), else
flagged ``\\Seen`` (then the folder should be caseloop's alone: a person reading a message there
would hide it). A message is marked only after its ingest committed; if the poller dies in
between, the next poll fetches it again and ingest recognises it by its Message-ID.
"""

import imaplib
import logging
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from caseloop.notify.inbound import IngestResult, ingest_message

logger = logging.getLogger("caseloop.notify.mail_in")

DEFAULT_TIMEOUT_SECONDS = 60


class Security(StrEnum):
    TLS = "tls"
    STARTTLS = "starttls"
    NONE = "none"


class ImapFailure(Exception):
    """The server refused a command; the poll stops and nothing is marked processed."""


@dataclass(frozen=True)
class ImapMailbox:
    """Where to poll and how to log in. ``ca_file`` trusts a private certificate authority."""

    host: str
    port: int
    user: str
    password: str
    folder: str = "INBOX"
    security: Security = Security.TLS
    processed_folder: str = ""
    ca_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS


@dataclass
class PollResult:
    results: list[IngestResult] = field(default_factory=list)

    @property
    def fetched(self) -> int:
        return len(self.results)


def quote_mailbox(name: str) -> str:
    """An IMAP quoted string: imaplib sends names as they are, and "Processed mail" has a space."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check(response: tuple[str, list[object]], what: str) -> list[object]:
    status, data = response
    if status != "OK":
        raise ImapFailure(f"{what}: {status} {data!r}")
    return data


def connect(mailbox: ImapMailbox) -> imaplib.IMAP4:
    """An authenticated connection; certificates are always verified when TLS is used."""
    context = ssl.create_default_context(cafile=mailbox.ca_file)
    if mailbox.security == Security.TLS:
        imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
            mailbox.host, mailbox.port, ssl_context=context, timeout=mailbox.timeout
        )
    else:
        imap = imaplib.IMAP4(mailbox.host, mailbox.port, timeout=mailbox.timeout)
        if mailbox.security == Security.STARTTLS:
            imap.starttls(ssl_context=context)
    _check(imap.login(mailbox.user, mailbox.password), "LOGIN")
    return imap


def _mark_processed(imap: imaplib.IMAP4, uid: bytes, mailbox: ImapMailbox) -> None:
    if not mailbox.processed_folder:
        _check(imap.uid("STORE", uid, "+FLAGS", "(\\Seen)"), "STORE")
        return
    target = quote_mailbox(mailbox.processed_folder)
    if "MOVE" in imap.capabilities:
        _check(imap.uid("MOVE", uid, target), "MOVE")
        return
    _check(imap.uid("COPY", uid, target), "COPY")
    _check(imap.uid("STORE", uid, "+FLAGS", "(\\Deleted)"), "STORE")
    _check(imap.expunge(), "EXPUNGE")


def _fetch(imap: imaplib.IMAP4, uid: bytes) -> bytes:
    # BODY.PEEK leaves \Seen alone: a message counts as processed only once it is ingested.
    data = _check(imap.uid("FETCH", uid, "(BODY.PEEK[])"), "FETCH")
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    raise ImapFailure(f"FETCH of UID {uid.decode()} returned no message.")


def poll_mailbox(mailbox: ImapMailbox, *, now: datetime | None = None) -> PollResult:
    """Fetch, ingest and mark every unprocessed message of the folder, oldest first."""
    try:
        return _poll(mailbox, now)
    except imaplib.IMAP4.error as error:
        # imaplib's own error (a refused login, a BAD answer) is no OSError: name it ours.
        raise ImapFailure(str(error)) from None


def _poll(mailbox: ImapMailbox, now: datetime | None) -> PollResult:
    result = PollResult()
    imap = connect(mailbox)
    try:
        if mailbox.processed_folder:
            # CREATE fails when the folder exists already, which is the usual case.
            imap.create(quote_mailbox(mailbox.processed_folder))
        _check(imap.select(quote_mailbox(mailbox.folder)), "SELECT")
        criteria = "UNDELETED" if mailbox.processed_folder else "UNSEEN"
        uids = _check(imap.uid("SEARCH", None, criteria), "SEARCH")
        for uid in (uids[0] or b"").split() if isinstance(uids[0], bytes) else []:
            raw = _fetch(imap, uid)
            outcome = ingest_message(raw, via="imap", now=now)
            logger.info("IMAP UID %s: %s %s", uid.decode(), outcome.outcome, outcome.reason)
            _mark_processed(imap, uid, mailbox)
            result.results.append(outcome)
    finally:
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            logger.debug("IMAP logout failed.", exc_info=True)
    return result
