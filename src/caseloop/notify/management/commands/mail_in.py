"""``caseloop mail-in``: take inbound email in, by polling IMAP or as an LMTP server.

caseloop mail-in --imap imap.example.com:993 --user cases --password-file /run/secrets/imap
caseloop mail-in --imap 127.0.0.1:143 --starttls --user cases --password-file … --once
caseloop mail-in --lmtp 127.0.0.1:8024
"""

import logging
import signal
import threading
from argparse import ArgumentParser
from pathlib import Path
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections

from caseloop.notify.imap import ImapFailure, ImapMailbox, Security, poll_mailbox
from caseloop.notify.lmtp import lmtp_server

logger = logging.getLogger("caseloop.notify.mail_in")


def host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CommandError(f"Expected HOST:PORT, got {value!r}.")
    return host.strip("[]"), int(port)


class Command(BaseCommand):
    help = "Receive inbound email: poll an IMAP mailbox (--imap) or serve LMTP (--lmtp)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        mode = parser.add_mutually_exclusive_group(required=True)
        mode.add_argument("--imap", metavar="HOST:PORT", help="poll this IMAP server")
        mode.add_argument("--lmtp", metavar="HOST:PORT", help="listen for LMTP here")
        parser.add_argument("--user", help="IMAP login")
        parser.add_argument("--password", help="IMAP password (prefer --password-file)")
        parser.add_argument("--password-file", help="file holding the IMAP password")
        parser.add_argument("--folder", default="INBOX", help="folder to poll (INBOX)")
        parser.add_argument(
            "--processed-folder",
            default="",
            help="move processed messages here; without it they are flagged \\Seen",
        )
        security = parser.add_mutually_exclusive_group()
        for flag, value, text in (
            ("--tls", Security.TLS, "implicit TLS, usually port 993 (the default)"),
            ("--starttls", Security.STARTTLS, "plain connection upgraded with STARTTLS"),
            ("--no-tls", Security.NONE, "no encryption (only on loopback)"),
        ):
            security.add_argument(
                flag, dest="security", action="store_const", const=value, help=text
            )
        parser.set_defaults(security=Security.TLS)
        parser.add_argument("--ca-file", help="trust this CA certificate (PEM) for IMAP")
        parser.add_argument("--once", action="store_true", help="poll once and exit")
        parser.add_argument(
            "--interval", type=float, default=60.0, help="seconds between polls (60)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, request_stop)
        if options["lmtp"]:
            self._serve_lmtp(*host_port(options["lmtp"]), stop)
        else:
            self._poll_imap(self._mailbox(options), options["once"], options["interval"], stop)

    def _mailbox(self, options: dict[str, Any]) -> ImapMailbox:
        host, port = host_port(options["imap"])
        password = options["password"]
        if options["password_file"]:
            try:
                password = Path(options["password_file"]).read_text().strip()
            except OSError as error:
                raise CommandError(f"Cannot read the password file: {error}") from None
        if not options["user"] or password is None:
            raise CommandError("--imap needs --user and --password or --password-file.")
        return ImapMailbox(
            host=host,
            port=port,
            user=options["user"],
            password=password,
            folder=options["folder"],
            security=options["security"],
            processed_folder=options["processed_folder"],
            ca_file=options["ca_file"],
        )

    def _poll_imap(
        self, mailbox: ImapMailbox, once: bool, interval: float, stop: threading.Event
    ) -> None:
        while not stop.is_set():
            try:
                result = poll_mailbox(mailbox)
            except (ImapFailure, OSError, DatabaseError) as error:
                if once:
                    raise CommandError(f"Polling {mailbox.host} failed: {error}") from None
                # A passing outage: the messages stay unprocessed on the server until next time.
                logger.exception("Polling %s failed; trying again in %ss.", mailbox.host, interval)
            else:
                self.stdout.write(f"{result.fetched} message(s) processed from {mailbox.folder}.")
                for outcome in result.results:
                    self.stdout.write(
                        f"  {outcome.outcome}: case {outcome.case_id} {outcome.reason}"
                    )
            if once:
                return
            stop.wait(interval)
            # Like a request: the next poll starts with a healthy database connection.
            close_old_connections()

    def _serve_lmtp(self, host: str, port: int, stop: threading.Event) -> None:
        server = lmtp_server(host, port)
        server.start()
        self.stdout.write(f"LMTP server listening on {host}:{port}.")
        try:
            while not stop.wait(0.5):
                pass
        finally:
            server.stop()
            self.stdout.write("LMTP server stopped.")
