"""``import_responses FILE --program CODE``: survey responses from a CSV or JSON Lines file."""

import csv
from argparse import ArgumentParser
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from caseloop.errors import DomainError
from caseloop.intake.files import FORMATS, count_rows, detect_format, load_mapping
from caseloop.intake.records import RowProblem
from caseloop.intake.services import (
    FileImport,
    ImportWorkerFailed,
    IntakeSession,
    default_workers,
)
from caseloop.programs.models import Program

# Each batch is one transaction. Per batch an import pays a dozen lookups and a commit that
# writes the pages it dirtied to SQLite's log, many of them the same index pages each batch:
# 5,000 measured 10-15% faster than 2,000, and 10,000 another ~5% faster than 5,000 (issue #4,
# 100,000 responses: 5.25 s against 5.52 s, three runs each in turn), while holding SQLite's
# write lock for about half a second at a time.
DEFAULT_BATCH_SIZE = 10_000


class Command(BaseCommand):
    help = (
        "Import survey responses from a CSV or JSON Lines file into a program: each response is "
        "stored once (a re-run skips what is already there), alert rules open cases, and every "
        "bad row is reported with its line, field and reason while the good rows go in. "
        "Exits with status 1 when any row was bad."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", type=Path, help="a .csv or .jsonl file")
        parser.add_argument("--program", required=True, help="the program's code")
        parser.add_argument("--format", choices=FORMATS, help="default: from the file extension")
        parser.add_argument(
            "--mapping",
            type=Path,
            help='a JSON file of their column → our field, e.g. {"ResponseId": "external_id"}',
        )
        parser.add_argument("--source", help="source of rows that name none")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"responses per transaction (default {DEFAULT_BATCH_SIZE})",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=default_workers(),
            help="processes that check and store batches side by side (default "
            f"{default_workers()} here: two where there are two processors or more); batches "
            "then commit in no fixed order, and of two rows with the same source and external "
            "id in different batches the one stored first is kept",
        )
        parser.add_argument("--errors", type=Path, help="also write the bad rows to this CSV file")

    def handle(self, *args: object, **options: object) -> None:
        path = Path(str(options["file"]))
        batch_size, workers = int(str(options["batch_size"])), int(str(options["workers"]))
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if workers < 1:
            raise CommandError("--workers must be at least 1.")
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        program = Program.objects.filter(code=options["program"]).first()
        if program is None:
            raise CommandError(f"There is no program with the code {options['program']!r}.")
        try:
            file_format = detect_format(path, options["format"])  # type: ignore[arg-type]
            mapping = load_mapping(Path(str(options["mapping"]))) if options["mapping"] else None
            session = IntakeSession(
                program,
                mapping=mapping,
                default_source=options["source"],  # type: ignore[arg-type]
            )
            running = FileImport(session, path, file_format, batch_size=batch_size, workers=workers)
            totals, problems = self._import(running)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        except ImportWorkerFailed as exc:
            raise CommandError(str(exc)) from None
        self._report(totals, problems, options["errors"])
        if problems:
            raise CommandError(
                f"{len({p.row for p in problems})} bad rows were not imported; fix them and run "
                "the import again (rows already imported are skipped)."
            )

    def _import(self, running: FileImport) -> tuple[dict[str, int], list[RowProblem]]:
        totals = {"created": 0, "duplicates": 0, "cases": 0}
        problems: list[RowProblem] = []
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=self.stderr._out),  # type: ignore[attr-defined]
        )
        total = count_rows(running.path, running.file_format)
        # The workers start before the progress bar's thread does: a fork copies only the
        # thread that forks, and a lock the other held would stay held in the child.
        with running, progress:
            task = progress.add_task(f"Importing {running.path.name}", total=total)
            read = 0
            for result in running:
                totals["created"] += result.created
                totals["duplicates"] += result.duplicates
                totals["cases"] += result.cases_opened
                problems += result.problems
                read += result.records
                progress.advance(task, result.records)
            # The count of lines was an estimate where rows span lines or lines are blank.
            progress.update(task, total=read, completed=read)
        problems.sort(key=lambda p: p.row)
        return totals, problems

    def _report(
        self, totals: dict[str, int], problems: list[RowProblem], errors_file: object
    ) -> None:
        self.stdout.write(
            f"{totals['created']} responses imported, {totals['duplicates']} already present, "
            f"{totals['cases']} alert cases opened, {len({p.row for p in problems})} bad rows."
        )
        if not problems:
            return
        self.stdout.write("Bad rows (not imported):")
        for problem in problems:
            self.stdout.write(f"  row {problem.row}: {problem.field}: {problem.message}")
        if errors_file:
            with Path(str(errors_file)).open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["row", "field", "why"])
                writer.writerows((p.row, p.field, p.message) for p in problems)
