"""The ``caseloop`` command: try it (``demo``), run it (``serve``, ``worker``), administer it
(``manage``, which is Django's ``manage.py``).

Each subcommand parses its arguments and calls one function; the work lives in
``caseloop.demo``, ``caseloop.worker`` and gunicorn.
"""

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from gunicorn.app.base import BaseApplication

SETTINGS_MODULE = "caseloop.settings"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# Each web process holds its own copy of the app (~100 MiB); past this many, add machines.
MAX_DEFAULT_WEB_WORKERS = 8
CHILD_STOP_TIMEOUT = 30.0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    # Everything after "manage" belongs to Django, including options like --help.
    if args[:1] == ["manage"]:
        return manage(args[1:])
    if args[:1] == ["mail-in"]:
        return manage(["mail_in", *args[1:]])
    parsed = _parser().parse_args(args)
    return int(parsed.run(parsed))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="caseloop", description="Customer-service case management with a closed loop."
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo", help="load the demo data and serve it with a background worker"
    )
    _add_address_arguments(demo)
    demo.add_argument(
        "--no-serve", action="store_true", help="load the demo data, then exit without serving"
    )
    demo.add_argument(
        "--reset",
        action="store_true",
        help="delete the data directory's SQLite database first and load the demo afresh",
    )
    demo.set_defaults(run=_demo)

    serve = commands.add_parser("serve", help="serve the web app with gunicorn (production)")
    _add_address_arguments(serve)
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help=f"web processes (default: 2 × CPU cores + 1, at most {MAX_DEFAULT_WEB_WORKERS})",
    )
    serve.set_defaults(run=lambda a: serve_forever(a.host, a.port, a.workers))

    worker = commands.add_parser(
        "worker", help="run the periodic background duties and the queued one-off tasks"
    )
    worker.add_argument(
        "--once",
        action="store_true",
        help="one pass: the duties that are due, then the ready tasks, then exit",
    )
    worker.add_argument(
        "--interval",
        type=_positive_float,
        default=5.0,
        help="seconds between passes over the duties and the task queue (default: 5)",
    )
    worker.add_argument(
        "--tasks-per-pass",
        type=_positive_int,
        default=10,
        help="queued tasks run at most before the duties are looked at again (default: 10)",
    )
    worker.set_defaults(
        run=lambda a: run_worker(once=a.once, interval=a.interval, tasks_per_pass=a.tasks_per_pass)
    )

    commands.add_parser(
        "manage", help="Django's management commands, e.g. 'caseloop manage migrate'"
    )
    commands.add_parser("mail-in", help="receive inbound email (IMAP polling or LMTP)")

    importer = commands.add_parser("import", help="bulk-import data from a file")
    kinds = importer.add_subparsers(title="what", metavar="WHAT", required=True)
    responses = kinds.add_parser(
        "responses", help="survey responses (CSV or JSON Lines); alerting ones open cases"
    )
    responses.add_argument("file", metavar="FILE")
    responses.add_argument("--program", required=True, help="the program's code")
    responses.add_argument("--mapping", help="JSON file mapping column names to fields")
    responses.add_argument("--format", choices=["csv", "jsonl"])
    responses.add_argument("--source", help="source of the responses' external ids")
    responses.add_argument("--batch-size", type=_positive_int)
    responses.add_argument(
        "--workers",
        type=_positive_int,
        help="processes that check and store batches side by side (default: two where there "
        "are two processors or more)",
    )
    responses.add_argument("--errors", help="write every bad row to this CSV file")
    responses.set_defaults(run=_import_responses)
    return parser


def _import_responses(args: argparse.Namespace) -> int:
    command = ["import_responses", args.file, "--program", args.program]
    for option in ("mapping", "format", "source", "batch_size", "workers", "errors"):
        value = getattr(args, option)
        if value is not None:
            command += [f"--{option.replace('_', '-')}", str(value)]
    return manage(command)


def _add_address_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"default: {DEFAULT_HOST}")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"default: {DEFAULT_PORT}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number")
    return value


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    import django

    django.setup()


def manage(args: Sequence[str]) -> int:
    """Django's ``manage.py`` with caseloop's settings."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    from django.core.management import execute_from_command_line

    execute_from_command_line(["caseloop manage", *args])
    return 0


# --- demo -------------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    if args.reset and not _reset_sqlite_database():
        return 2
    _setup_django()
    from django.core.management import call_command

    from caseloop.demo import report

    report.say("Applying database migrations…")
    call_command("migrate", interactive=False, verbosity=0)
    if not report.load_and_summarise():
        return 1
    url = f"http://{_url_host(args.host)}:{args.port}/"
    report.print_logins(url if not args.no_serve else None)
    if args.no_serve:
        return 0
    return _serve_beside_worker(args.host, args.port)


def _reset_sqlite_database() -> bool:
    """Delete the data directory's SQLite database (and its WAL files); refuse for any other
    database, which may hold more than the demo."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    default_file = Path(settings.DATA_DIR) / "caseloop.sqlite3"
    if database["ENGINE"] != "django.db.backends.sqlite3" or Path(database["NAME"]) != default_file:
        print(
            f"caseloop demo: --reset only deletes the data directory's SQLite database "
            f"({default_file}); empty the database DATABASE_URL names yourself.",
            file=sys.stderr,
        )
        return False
    for path in (default_file, Path(f"{default_file}-wal"), Path(f"{default_file}-shm")):
        path.unlink(missing_ok=True)
    print(f"Deleted {default_file}.")
    return True


def _serve_beside_worker(host: str, port: int) -> int:
    """Run ``caseloop serve`` and ``caseloop worker`` as child processes until the server ends
    or this process is told to stop (Ctrl-C, SIGTERM); then stop both.

    Both are children, rather than gunicorn running here, because gunicorn's master reaps every
    child process it sees exit, which would hide the worker's exit from us.
    """
    command = [sys.executable, "-m", "caseloop.cli"]
    worker = subprocess.Popen([*command, "worker"])
    server = subprocess.Popen([*command, "serve", "--host", host, "--port", str(port)])
    # SIGTERM ends the demo the way Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        for child in (server, worker):
            _stop_child(child)


def _stop_child(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
    try:
        child.wait(timeout=CHILD_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (only turned into a URL to print)
        return DEFAULT_HOST
    return f"[{host}]" if ":" in host else host


# --- serve ------------------------------------------------------------------------------------


class _Gunicorn(BaseApplication):
    """gunicorn configured from our arguments only: no config file, no GUNICORN_CMD_ARGS."""

    def __init__(self, options: dict[str, object]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> object:
        from caseloop.wsgi import application

        return application


def default_web_workers() -> int:
    """gunicorn's advice, ``2 × cores + 1``, counting only the cores this process may use."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(2 * (cores or 1) + 1, MAX_DEFAULT_WEB_WORKERS)


def serve_forever(host: str, port: int, workers: int | None) -> int:
    """Collect the static files (WhiteNoise serves them) and run gunicorn until SIGTERM/SIGINT."""
    _setup_django()
    from django.core.management import call_command
    from django.db import connections

    call_command("collectstatic", interactive=False, verbosity=0)
    # Forked web processes must not share the parent's database connection.
    connections.close_all()
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    _Gunicorn(
        {
            "bind": [bind],
            "workers": workers or default_web_workers(),
            "proc_name": "caseloop",
            # gunicorn's control socket defaults to one shared path per user, which a second
            # server on the same machine would fight over; nothing here uses it.
            "control_socket_disable": True,
        }
    ).run()
    return 0


# --- worker -----------------------------------------------------------------------------------


def run_worker(*, once: bool, interval: float, tasks_per_pass: int = 10) -> int:
    """Run the registered duties and the tasks of the Django Tasks queue: one pass with
    ``once`` (exit 1 if a duty or a task failed), else until SIGTERM/SIGINT, which finishes the
    duty or task in hand, releases the leases and exits 0. Tasks of a worker that died are run
    again by the ``worker.recover_lost_tasks`` duty."""
    _setup_django()
    from caseloop.worker.loop import Worker
    from caseloop.worker.registry import autodiscover_duties, registry

    autodiscover_duties()
    worker = Worker(registry, tasks_per_pass=tasks_per_pass)
    if not once:
        worker.run_forever(timedelta(seconds=interval))
        return 0
    result = worker.run_once()
    for run in result.duties:
        print(f"{run.name}: {'failed' if run.failed else 'done'}")
    print(f"tasks: {result.tasks.ran} run, {result.tasks.failed} failed")
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
