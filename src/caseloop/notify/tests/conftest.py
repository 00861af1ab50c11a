"""Real parts for the notification tests: an SMTP server (aiosmtpd) on loopback, an IMAP server
(pymap) in a child process with a throw-away certificate, and an HTTP server for webhooks.

A part that cannot be had here skips its tests, unless the run must use every real part (CI
sets ``CASELOOP_REQUIRE_REAL_PARTS=1``): then they fail.
"""

import contextlib
import imaplib
import itertools
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.db.models import Exists, OuterRef
from pytest_django.fixtures import Settings as SettingsWrapper

from caseloop.cases.models import Case, CaseEvent
from caseloop.conftest import Cast
from caseloop.notify.lmtp import LMTPController, lmtp_server
from caseloop.notify.models import InAppNotification, OutboxMessage
from caseloop.notify.services import notify_case_event

REPLY_ADDRESS = "cases@caseloop.test"
FROM_ADDRESS = "notifications@caseloop.test"
IMAP_USER = "caseloop"
IMAP_PASSWORD = "imap-test-password"


def require_real_part(available: bool, reason: str) -> None:
    if available:
        return
    if os.environ.get("CASELOOP_REQUIRE_REAL_PARTS") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A port nobody listens on now (aiosmtpd cannot bind port 0 and tell us the number)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(autouse=True)
def mail_settings(settings: SettingsWrapper) -> SettingsWrapper:
    settings.SITE_URL = "https://cases.example.test"
    settings.DEFAULT_FROM_EMAIL = f"caseloop <{FROM_ADDRESS}>"
    settings.CASELOOP_REPLY_ADDRESS = REPLY_ADDRESS
    settings.CASELOOP_OUTBOX_MAX_ATTEMPTS = 4
    settings.CASELOOP_OUTBOX_BACKOFF_SECONDS = 30
    settings.CASELOOP_OUTBOX_BACKOFF_MAX_SECONDS = 3600
    settings.CASELOOP_WEBHOOK_TIMEOUT = 5
    settings.CASELOOP_INBOUND_MAX_BYTES = 1024 * 1024
    return settings


@pytest.fixture
def cast(cast: Cast) -> Cast:
    """The shared cast, with the notifications of its case's events so far already written."""
    notify_events_of(cast.case)
    return cast


def notify_events_of(case: Case) -> None:
    """Write the notifications of the events of ``case`` not notified yet, as the case services
    do themselves when they record an event. An event is notified once: a second call would
    address it to the people of the case as it is now, not as it was then."""
    done = OutboxMessage.objects.filter(event_id=OuterRef("pk"))
    seen = InAppNotification.objects.filter(event_id=OuterRef("pk"))
    events = CaseEvent.objects.filter(case=case).exclude(Exists(done)).exclude(Exists(seen))
    for event in events.select_related("case").order_by("id"):
        notify_case_event(event)


# --- SMTP -----------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SmtpCatcher:
    """What the SMTP server received; addresses in ``refuse`` are answered 550 at RCPT."""

    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = BytesParser(policy=policy.default).parsebytes(envelope.original_content or b"")
        assert isinstance(message, EmailMessage)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 OK"


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.catcher = SmtpCatcher()
        self._controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        return self.catcher.received

    def start(self) -> None:
        self._controller = Controller(self.catcher, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp_server(mail_settings: SettingsWrapper) -> Iterator[SmtpServer]:
    """A real SMTP server on loopback, and Django's SMTP backend pointed at it."""
    server = SmtpServer(free_port())
    mail_settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    mail_settings.EMAIL_HOST = "127.0.0.1"
    mail_settings.EMAIL_PORT = server.port
    mail_settings.EMAIL_USE_TLS = False
    mail_settings.EMAIL_USE_SSL = False
    mail_settings.EMAIL_TIMEOUT = 5
    server.start()
    yield server
    server.stop()


# --- IMAP -----------------------------------------------------------------------------------


@dataclass
class ImapServer:
    port: int
    ca_file: Path
    key_file: Path
    _folders: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def client(self) -> imaplib.IMAP4:
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        imap.starttls(ssl_context=ssl.create_default_context(cafile=str(self.ca_file)))
        imap.login(IMAP_USER, IMAP_PASSWORD)
        return imap

    def new_folder(self) -> str:
        """A folder of this test's own: the server lives for the whole session."""
        name = f"Test {next(self._folders)}"
        imap = self.client()
        try:
            status, data = imap.create(f'"{name}"')
            assert status == "OK", data
        finally:
            imap.logout()
        return name

    def append(self, folder: str, raw: bytes) -> None:
        imap = self.client()
        try:
            status, data = imap.append(f'"{folder}"', None, None, raw)
            assert status == "OK", data
        finally:
            imap.logout()

    def uids(self, folder: str, criteria: str = "ALL") -> list[bytes]:
        imap = self.client()
        try:
            imap.select(f'"{folder}"')
            status, data = imap.uid("SEARCH", None, criteria)
            assert status == "OK", data
            return data[0].split()
        finally:
            imap.logout()


def _pymap_available() -> bool:
    try:
        import pymap.main  # noqa: F401
    except ImportError:
        return False
    return True


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise RuntimeError(f"pymap exited with {process.returncode}: {output}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"pymap did not listen on port {port} within {timeout}s")


@pytest.fixture(scope="session")
def imap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImapServer]:
    """pymap's in-memory IMAP server with STARTTLS under a certificate made for the run."""
    require_real_part(_pymap_available(), "pymap is not installed (pip install pymap).")
    require_real_part(bool(shutil.which("openssl")), "openssl is not installed.")
    cert, key = _self_signed_certificate(tmp_path_factory.mktemp("imap-tls"))
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from pymap.main import main; main()",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--cert",
            str(cert),
            "--key",
            str(key),
            "dict",
            "--demo-user",
            IMAP_USER,
            "--demo-password",
            IMAP_PASSWORD,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port(port, process)
        yield ImapServer(port=port, ca_file=cert, key_file=key)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


class TlsRelay:
    """Implicit TLS (IMAPS, port 993 style) in front of the IMAP server, which speaks only
    STARTTLS: each connection is decrypted here and passed on as it is."""

    def __init__(self, target_port: int, cert: Path, key: Path) -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert, key)
        self._target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            secure = self._context.wrap_socket(client, server_side=True)
            upstream = socket.create_connection(("127.0.0.1", self._target_port), timeout=10)
        except OSError:
            client.close()
            return
        pumps = [
            threading.Thread(target=self._pump, args=(secure, upstream), daemon=True),
            threading.Thread(target=self._pump, args=(upstream, secure), daemon=True),
        ]
        for pump in pumps:
            pump.start()
        for pump in pumps:
            pump.join(timeout=30)
        secure.close()
        upstream.close()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()
        self._thread.join(timeout=5)


@pytest.fixture
def imaps_relay(imap_server: ImapServer) -> Iterator[TlsRelay]:
    relay = TlsRelay(imap_server.port, imap_server.ca_file, imap_server.key_file)
    yield relay
    relay.close()


# --- HTTP (webhooks) ------------------------------------------------------------------------


@dataclass
class HookRequest:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HookServer:
    url: str
    requests: list[HookRequest] = field(default_factory=list)
    # The status each next request gets; when empty, 200.
    statuses: list[int] = field(default_factory=list)


@pytest.fixture
def hook_server() -> Iterator[HookServer]:
    """A real HTTP server on loopback that records what is POSTed to it."""
    state = HookServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            state.requests.append(
                HookRequest(self.path, dict(self.headers.items()), self.rfile.read(length))
            )
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/caseloop"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# --- building email -------------------------------------------------------------------------


_message_numbers = itertools.count(1)


def make_email(
    *,
    sender: str = "Jane Doe <jane@customer.test>",
    to: str = "support@retail.test",
    subject: str = "My order never arrived",
    body: str = "Hello, my order 4711 never arrived.",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
    html: str | None = None,
    attachments: list[tuple[str, str, bytes]] | None = None,
) -> bytes:
    """An email as a mail program would send it."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = (
        message_id or f"<m{next(_message_numbers)}.{time.time_ns()}@customer.test>"
    )
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for name, content_type, data in attachments or []:
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes()


# --- LMTP -----------------------------------------------------------------------------------


@pytest.fixture
def lmtp(transactional_db: None) -> Iterator[LMTPController]:
    server = lmtp_server("127.0.0.1", free_port())
    server.start()
    yield server
    server.stop()


@contextlib.contextmanager
def lmtp_client(server: LMTPController) -> Iterator[smtplib.LMTP]:
    client = smtplib.LMTP(str(server.hostname), int(server.port), timeout=10)
    try:
        yield client
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()
