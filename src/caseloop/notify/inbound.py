"""Inbound email: one ``ingest_message`` for both ways mail arrives (IMAP polling and LMTP).

- A reply to a case's notification becomes a note on that case (when a user who may work the
  case wrote it) or an inbound email on the case's timeline (the customer, anyone else). The
  case is found by the threading headers (In-Reply-To, References: our Message-IDs), by the
  case number in the address the reply went to (``support+CL-000123@…``), or by ``[CL-000123]``
  in the subject. Quoted history is cut off; attachments are kept on the case.
- A new message to a program's address opens a case for the sender, found by email address or
  created as a new customer.
- Bounces, auto-replies, mailing-list mail and our own notifications coming back change
  nothing: answering them is how mail loops start.
- A message without a usable sender is rejected and changes nothing.
- The same message delivered twice (same Message-ID, or same bytes when it has none) is
  recognised and changes nothing the second time.

Anyone can forge a From header: the mail server in front of caseloop is expected to check
SPF/DKIM/DMARC before it hands mail over.
"""

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from enum import StrEnum
from html.parser import HTMLParser

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from mailparser_reply import EmailReplyParser

from caseloop.cases.models import Case, Source, parse_case_number
from caseloop.cases.queries import Access, access_of
from caseloop.cases.services import add_note, attach_file, open_case
from caseloop.customers.models import Channel, Customer, Direction
from caseloop.customers.services import create_customer, record_interaction
from caseloop.errors import DomainError
from caseloop.notify.models import InboundMessage, InboundOutcome, OutboxMessage, ProgramMailbox
from caseloop.notify.rendering import REPLY_MARKER
from caseloop.notify.services import notify_user_in_app, reply_domain
from caseloop.org.models import User

REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "da", "sv", "pl", "cs"]
MAX_SUMMARY_CHARS = 20_000
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_SUBJECT_REFERENCE = re.compile(r"\[(CL-\d+)\]", re.IGNORECASE)
_OWN_ID = re.compile(r"^<(?:case-|[0-9a-f]{32}\.)(CL-\d+)@(.+)>$", re.IGNORECASE)
_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
_ROBOT_SENDERS = frozenset({"mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply"})


class IngestOutcome(StrEnum):
    CASE_OPENED = "case_opened"
    REPLY_ADDED = "reply_added"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    REJECTED = "rejected"


@dataclass(frozen=True)
class IngestResult:
    """What became of one inbound message."""

    outcome: IngestOutcome
    message_key: str = ""
    case_id: int | None = None
    reason: str = ""
    attachments_kept: tuple[str, ...] = ()
    attachments_refused: tuple[str, ...] = ()


class MalformedMessage(Exception):
    """The bytes are not an email we can act on (no sender, too large, not a message)."""


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    data: bytes


@dataclass
class ParsedMessage:
    """The parts of an inbound email that matter here."""

    key: str
    sender: str
    sender_name: str
    subject: str
    body: str
    message: EmailMessage
    references: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)


class _TextOfHtml(HTMLParser):
    """The readable text of an HTML body: block elements become line breaks."""

    _BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self._skip = max(self._skip - 1, 0)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    return re.sub(r"\n\s*\n\s*\n+", "\n\n", text).strip()


def strip_quoted(text: str) -> str:
    """The new part of a reply: everything from our "reply above this line" marker on, the
    quoted history and the "On … wrote:" line that introduces it are cut off."""
    text = text.replace("\r\n", "\n")
    marker_at = text.find(REPLY_MARKER)
    if marker_at != -1:
        text = text[:marker_at]
        # The quote prefix ("> ") of the marker's own line, left dangling by the cut.
        text = text.rstrip(" >")
    reply = EmailReplyParser(languages=REPLY_LANGUAGES).parse_reply(text=text)
    return (reply if reply is not None else text).strip()


def _addresses(message: EmailMessage, *names: str) -> list[str]:
    values = [str(v) for name in names for v in (message.get_all(name) or [])]
    return [addr.lower() for _, addr in getaddresses(values) if "@" in addr]


def _body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    return html_to_text(content) if part.get_content_type() == "text/html" else content


def _attachments(message: EmailMessage) -> list[Attachment]:
    found = []
    for part in message.iter_attachments():
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            # A forwarded message (message/rfc822) is kept whole, as it was sent.
            data = part.as_bytes()
        default_name = "message.eml" if part.get_content_type() == "message/rfc822" else "file"
        found.append(
            Attachment(
                name=part.get_filename() or default_name,
                content_type=part.get_content_type(),
                data=data,
            )
        )
    return found


def _sender(message: EmailMessage) -> tuple[str, str]:
    try:
        header = message["From"]
        addresses: Sequence[Address] = getattr(header, "addresses", ()) if header else ()
    except (IndexError, ValueError, TypeError, AttributeError):
        addresses = ()
    if not addresses:
        name, addr = parseaddr(str(message.get("From") or ""))
    else:
        name, addr = addresses[0].display_name, addresses[0].addr_spec
    try:
        validate_email(addr)
    except ValidationError:
        raise MalformedMessage("The message has no sender address that can be answered.") from None
    return name.strip(), addr


def parse_message(raw: bytes) -> ParsedMessage:
    """Read the parts of ``raw`` that matter, or raise ``MalformedMessage``."""
    if not raw or not raw.strip():
        raise MalformedMessage("The message is empty.")
    if len(raw) > settings.CASELOOP_INBOUND_MAX_BYTES:
        raise MalformedMessage(
            f"The message is larger than {settings.CASELOOP_INBOUND_MAX_BYTES} bytes."
        )
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    name, sender = _sender(message)
    ids = _MESSAGE_ID.findall(str(message.get("Message-ID") or ""))
    key = ids[0] if ids and len(ids[0]) <= 250 else f"sha256:{hashlib.sha256(raw).hexdigest()}"
    references = _MESSAGE_ID.findall(
        f"{message.get('In-Reply-To') or ''} {message.get('References') or ''}"
    )
    return ParsedMessage(
        key=key,
        sender=sender,
        sender_name=name,
        subject=" ".join(str(message.get("Subject") or "").split())[:300],
        body=strip_quoted(_body_text(message)),
        message=message,
        references=references,
        recipients=_addresses(message, "Delivered-To", "X-Original-To", "To", "Cc"),
        attachments=_attachments(message),
    )


def auto_reply_reason(parsed: ParsedMessage) -> str:
    """Why the message was sent by a machine (bounce, auto-reply, list, our own mail), or "".

    RFC 3834's Auto-Submitted comes first; the rest are what common mail systems send.
    """
    message = parsed.message
    auto_submitted = str(message.get("Auto-Submitted") or "").strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"Auto-Submitted: {auto_submitted}"
    if str(message.get("Precedence") or "").strip().lower() in _BULK_PRECEDENCE:
        return f"Precedence: {message.get('Precedence')}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Caseloop-Delivery"):
        if message.get(name) is not None:
            return f"{name} header"
    if message.get("List-Id") is not None or message.get("List-Unsubscribe") is not None:
        return "mailing-list mail"
    if message.get_content_type() == "multipart/report":
        return "delivery or read report"
    if str(message.get("Return-Path") or "").strip() == "<>":
        return "empty return path (a bounce)"
    if parsed.sender.partition("@")[0].lower() in _ROBOT_SENDERS:
        return f"sent by {parsed.sender}"
    own = {
        parseaddr(settings.DEFAULT_FROM_EMAIL)[1].lower(),
        settings.CASELOOP_REPLY_ADDRESS.lower(),
    }
    if parsed.sender.lower() in own:
        return "sent by caseloop itself"
    return ""


def _split(address: str) -> tuple[str, str]:
    """``support+CL-000123@example.com`` → (``support@example.com``, ``CL-000123``)."""
    local, _, domain = address.lower().partition("@")
    base, _, tag = local.partition("+")
    return f"{base}@{domain}", tag


def _own_bases() -> dict[str, ProgramMailbox | None]:
    bases: dict[str, ProgramMailbox | None] = {settings.CASELOOP_REPLY_ADDRESS.lower(): None}
    for mailbox in ProgramMailbox.objects.filter(is_active=True).select_related(
        "program", "case_type", "unit"
    ):
        bases[mailbox.address] = mailbox
    return bases


def accepts_recipient(address: str) -> bool:
    """Whether mail to ``address`` is ours: a program's address or the reply address, with or
    without a ``+tag``. The LMTP receiver refuses everything else at RCPT time."""
    return _split(address)[0] in _own_bases()


def _case_by_reference(parsed: ParsedMessage) -> int | None:
    ids = list(reversed(parsed.references))  # In-Reply-To's parent is the most recent one
    if not ids:
        return None
    known = dict(
        OutboxMessage.objects.filter(message_id__in=ids, case__isnull=False).values_list(
            "message_id", "case_id"
        )
    )
    known.update(
        InboundMessage.objects.filter(message_key__in=ids, case__isnull=False).values_list(
            "message_key", "case_id"
        )
    )
    domain = reply_domain().lower()
    for message_id in ids:
        if message_id in known:
            return known[message_id]
        own = _OWN_ID.match(message_id)
        if own and own.group(2).lower() == domain:
            return parse_case_number(own.group(1))
    return None


def _find_case(parsed: ParsedMessage, recipients: Iterable[str]) -> Case | None:
    """The case a message answers: by threading headers, the address's case tag, the subject."""
    candidates = [_case_by_reference(parsed)]
    bases = _own_bases()
    for address in recipients:
        base, tag = _split(address)
        if tag and base in bases:
            candidates.append(parse_case_number(tag))
    subject_reference = _SUBJECT_REFERENCE.search(parsed.subject)
    if subject_reference:
        candidates.append(parse_case_number(subject_reference.group(1)))
    for case_id in candidates:
        if case_id is not None:
            case = Case.objects.select_related("customer", "program").filter(pk=case_id).first()
            if case is not None:
                return case
    return None


def _find_mailbox(recipients: Iterable[str]) -> ProgramMailbox | None:
    bases = _own_bases()
    for address in recipients:
        mailbox = bases.get(_split(address)[0])
        if mailbox is not None:
            return mailbox
    return None


def _customer_for(parsed: ParsedMessage) -> Customer:
    customer = (
        Customer.objects.annotate(email_lower=Lower("email"))
        .filter(email_lower=parsed.sender.lower())
        .order_by("pk")
        .first()
    )
    return customer or create_customer(name=parsed.sender_name, email=parsed.sender)


def _writing_user(sender: str, case: Case) -> User | None:
    users = User.objects.annotate(email_lower=Lower("email")).filter(
        email_lower=sender.lower(), is_active=True
    )
    return next((u for u in users if access_of(u, case) >= Access.WRITE), None)


def _keep_attachments(
    case: Case, actor: User | None, attachments: Iterable[Attachment], at: datetime
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    kept, refused = [], []
    for attachment in attachments:
        upload = SimpleUploadedFile(attachment.name, attachment.data, attachment.content_type)
        try:
            attach_file(case, actor=actor, upload=upload, now=at)  # type: ignore[arg-type]
        except DomainError as error:
            refused.append(f"{attachment.name} ({error.message})")
        else:
            kept.append(attachment.name)
    return tuple(kept), tuple(refused)


def _with_attachment_list(body: str, kept: Sequence[str], refused: Sequence[str]) -> str:
    lines = [body] if body else []
    if kept:
        lines.append("Attached: " + ", ".join(kept))
    if refused:
        lines.append("Not kept: " + ", ".join(refused))
    return "\n\n".join(lines) or "(The email had no text.)"


def _add_reply(case: Case, parsed: ParsedMessage, at: datetime) -> IngestResult:
    user = _writing_user(parsed.sender, case)
    kept, refused = _keep_attachments(case, user, parsed.attachments, at)
    body = _with_attachment_list(parsed.body, kept, refused)
    if user is not None:
        add_note(case, actor=user, body=body[:MAX_SUMMARY_CHARS], now=at)
    else:
        if parsed.sender.lower() != (case.customer.email or "").lower():
            body = f"From {parsed.sender_name or parsed.sender} <{parsed.sender}>:\n\n{body}"
        record_interaction(
            customer=case.customer,
            channel=Channel.EMAIL,
            direction=Direction.INBOUND,
            summary=body[:MAX_SUMMARY_CHARS],
            case_id=case.pk,
            occurred_at=at,
        )
        if case.owner_id is not None:
            notify_user_in_app(
                case.owner,  # type: ignore[arg-type]
                case=case,
                kind="email_received",
                title=f"{case.number} · Email from {parsed.sender_name or parsed.sender}",
                now=at,
            )
    return IngestResult(
        IngestOutcome.REPLY_ADDED,
        parsed.key,
        case.pk,
        attachments_kept=kept,
        attachments_refused=refused,
    )


def _open_case(mailbox: ProgramMailbox, parsed: ParsedMessage, at: datetime) -> IngestResult:
    customer = _customer_for(parsed)
    case = open_case(
        actor=None,
        program=mailbox.program,
        case_type=mailbox.case_type,
        customer=customer,
        unit=mailbox.unit,
        subject=parsed.subject or "(no subject)",
        description=parsed.body[:MAX_SUMMARY_CHARS],
        source=Source.EMAIL,
        external_source="email",
        external_id=parsed.key if len(parsed.key) <= 128 else parsed.key[:128],
        now=at,
    )
    kept, refused = _keep_attachments(case, None, parsed.attachments, at)
    record_interaction(
        customer=customer,
        channel=Channel.EMAIL,
        direction=Direction.INBOUND,
        summary=_with_attachment_list(parsed.body, kept, refused)[:MAX_SUMMARY_CHARS],
        case_id=case.pk,
        occurred_at=at,
    )
    return IngestResult(
        IngestOutcome.CASE_OPENED,
        parsed.key,
        case.pk,
        attachments_kept=kept,
        attachments_refused=refused,
    )


def _ingest(
    parsed: ParsedMessage, envelope_recipients: Sequence[str], via: str, at: datetime
) -> IngestResult:
    existing = InboundMessage.objects.filter(message_key=parsed.key).first()
    if existing is not None:
        return IngestResult(IngestOutcome.DUPLICATE, parsed.key, existing.case_id, "seen before")
    # Written first: a second copy arriving at the same moment waits on this unique key.
    record = InboundMessage.objects.create(
        message_key=parsed.key,
        received_at=at,
        via=via,
        sender=parsed.sender[:320],
        subject=parsed.subject[:500],
        outcome=InboundOutcome.IGNORED,
    )
    result = _route(parsed, [*(a.lower() for a in envelope_recipients), *parsed.recipients], at)
    record.outcome = {
        IngestOutcome.CASE_OPENED: InboundOutcome.CASE_OPENED,
        IngestOutcome.REPLY_ADDED: InboundOutcome.REPLY_ADDED,
    }.get(result.outcome, InboundOutcome.IGNORED)
    record.case_id = result.case_id
    record.reason = result.reason[:300]
    record.save(update_fields=["outcome", "case", "reason"])
    return result


def _route(parsed: ParsedMessage, recipients: list[str], at: datetime) -> IngestResult:
    robot = auto_reply_reason(parsed)
    if robot:
        return IngestResult(IngestOutcome.IGNORED, parsed.key, reason=robot)
    case = _find_case(parsed, recipients)
    if case is not None:
        return _add_reply(case, parsed, at)
    mailbox = _find_mailbox(recipients)
    if mailbox is None:
        return IngestResult(
            IngestOutcome.IGNORED, parsed.key, reason="not addressed to any program's mailbox"
        )
    try:
        # Its own savepoint: a program that takes no new cases must not leave a customer behind.
        with transaction.atomic():
            return _open_case(mailbox, parsed, at)
    except DomainError as error:
        return IngestResult(IngestOutcome.IGNORED, parsed.key, reason=error.message)


def ingest_message(
    raw: bytes,
    *,
    envelope_recipients: Sequence[str] = (),
    via: str = "",
    now: datetime | None = None,
) -> IngestResult:
    """Act on one inbound email (see the module's docstring for the rules), all or nothing in
    one transaction. ``envelope_recipients`` are the RCPT TO addresses when the transport
    knows them (LMTP); IMAP has only the headers."""
    at = now or timezone.now()
    try:
        parsed = parse_message(raw)
    except MalformedMessage as error:
        return IngestResult(IngestOutcome.REJECTED, reason=str(error))
    try:
        with transaction.atomic():
            return _ingest(parsed, envelope_recipients, via, at)
    except IntegrityError:
        # Two copies raced: the other one won and holds the key; this one is the repeat.
        existing = InboundMessage.objects.filter(message_key=parsed.key).first()
        if existing is None:
            raise
        return IngestResult(IngestOutcome.DUPLICATE, parsed.key, existing.case_id, "seen before")
