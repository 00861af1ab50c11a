"""An LMTP receiver (aiosmtpd) that a local MTA (Postfix, Exim) delivers caseloop's mail to.

Recipients that are not ours (a program's address or the reply address, with or without a
``+tag``) are refused at RCPT time, so the MTA bounces them at once. After DATA the message is
ingested and every recipient gets the same answer, as LMTP wants one per recipient: 250 when
it was acted on, ignored or already known; 550 when it is malformed (the MTA returns it to the
sender); 451 when ingesting failed for a passing reason (the MTA keeps it and tries again).

Ingest uses the database, which is synchronous: it runs on one worker thread of the handler's
own, off the event loop. That thread's database connection is closed when the server stops.
"""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import Envelope, Session
from django.conf import settings
from django.db import close_old_connections, connections

from caseloop.notify.inbound import IngestOutcome, IngestResult, accepts_recipient, ingest_message

logger = logging.getLogger("caseloop.notify.mail_in")


def _ingest(raw: bytes, recipients: list[str]) -> IngestResult:
    # Like a request: start from a healthy connection, so a restarted database costs one 451.
    close_old_connections()
    return ingest_message(raw, envelope_recipients=recipients, via="lmtp")


def _accepts(address: str) -> bool:
    close_old_connections()
    return accepts_recipient(address)


def _close_connections() -> None:
    connections.close_all()


class InboundMailHandler:
    """aiosmtpd handler: checks recipients and hands each message to ``ingest_message``."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mail-in")

    async def handle_RCPT(
        self,
        server: LMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        loop = asyncio.get_running_loop()
        try:
            ours = await loop.run_in_executor(self._executor, _accepts, address)
        except Exception:
            logger.exception("Checking recipient %s failed.", address)
            return "451 4.3.0 Temporary failure, try again later"
        if not ours:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: LMTP, session: Session, envelope: Envelope) -> str:
        loop = asyncio.get_running_loop()
        raw = envelope.original_content or b""
        try:
            result = await loop.run_in_executor(
                self._executor, _ingest, bytes(raw), list(envelope.rcpt_tos)
            )
        except Exception:
            logger.exception("Ingesting a message from %s failed.", envelope.mail_from)
            status = "451 4.3.0 Temporary failure, try again later"
        else:
            logger.info("LMTP message: %s %s", result.outcome, result.reason)
            if result.outcome == IngestOutcome.REJECTED:
                status = f"550 5.6.0 {result.reason}"
            else:
                status = f"250 2.0.0 {result.outcome}"
        # LMTP answers DATA once per accepted recipient.
        return "\r\n".join([status] * max(len(envelope.rcpt_tos), 1))

    def close(self) -> None:
        self._executor.submit(_close_connections).result()
        self._executor.shutdown(wait=True)


class LMTPController(Controller):
    """aiosmtpd's threaded controller, speaking LMTP instead of SMTP."""

    def factory(self) -> LMTP:
        return LMTP(self.handler, **self.SMTP_kwargs)

    def stop(self, no_assert: bool = False) -> None:
        super().stop(no_assert=no_assert)
        if isinstance(self.handler, InboundMailHandler):
            self.handler.close()


def lmtp_server(host: str, port: int, **kwargs: Any) -> LMTPController:
    """An LMTP server for caseloop's mail on ``host:port`` (not yet started). ``port`` must be
    a real port number: aiosmtpd cannot listen on port 0."""
    return LMTPController(
        InboundMailHandler(),
        hostname=host,
        port=port,
        data_size_limit=settings.CASELOOP_INBOUND_MAX_BYTES,
        decode_data=False,
        **kwargs,
    )
