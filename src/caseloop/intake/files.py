"""Reading survey response files: CSV (a header line, one response per row) and JSON Lines (one
JSON object per line). Rows are numbered by the file line they start on, the CSV header being
line 1, so that a reported row is found at once in an editor."""

import csv
import json
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from caseloop.errors import InvalidInput
from caseloop.intake.records import IncomingRecord, RowProblem, check_mapping

FORMATS = ("csv", "jsonl")
_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def detect_format(path: Path, explicit: str | None = None) -> str:
    """The file's format: the one given, else the one its extension names."""
    if explicit:
        if explicit not in FORMATS:
            raise InvalidInput(f"Unknown format {explicit!r}; use one of {', '.join(FORMATS)}.")
        return explicit
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise InvalidInput(
            f"Cannot tell the format of {path.name} from its extension; pass --format csv|jsonl."
        )
    return found


def load_mapping(path: Path) -> dict[str, str | None]:
    """A mapping file: a JSON object of their column or key → our field (or null to skip it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"Cannot read the mapping file {path}: {exc.strerror}.") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"The mapping file {path} is not valid JSON: {exc}.") from None
    return check_mapping(data)


def count_rows(path: Path, file_format: str) -> int:
    """About how many responses the file holds (lines, less the CSV header), for progress."""
    lines = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            lines += block.count(b"\n")
    if path.stat().st_size and not _ends_with_newline(path):
        lines += 1
    return max(lines - 1, 0) if file_format == "csv" else lines


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, 2)
        return handle.read(1) == b"\n"


def _csv_records(path: Path) -> Iterator[IncomingRecord | RowProblem]:
    # csv.reader and a zip with the header: DictReader does the same in Python code per row,
    # a tenth of an import's time (issue #4). A short row lacks the last keys, as with
    # DictReader, whose ``None`` for them counts as an empty cell.
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return
        width, line = len(header), reader.line_num
        for cells in reader:
            row, line = line + 1, reader.line_num
            if not cells:
                continue
            if len(cells) > width:
                yield RowProblem(row, "row", f"has {len(cells) - width} more cells than the header")
                continue
            yield IncomingRecord(
                row=row, data=dict(zip(header, cells, strict=False)), from_text=True
            )


def _jsonl_records(path: Path) -> Iterator[IncomingRecord | RowProblem]:
    with path.open(encoding="utf-8-sig") as handle:
        for row, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                yield RowProblem(row, "line", f"is not valid JSON: {exc.msg} at column {exc.colno}")
                continue
            if not isinstance(data, dict):
                yield RowProblem(row, "line", "is not a JSON object")
                continue
            yield IncomingRecord(row=row, data=data)


def read_records(path: Path, file_format: str) -> Iterator[IncomingRecord | RowProblem]:
    """Every response of the file, or the problem that keeps a line from being one. A file that
    is not UTF-8 is refused as a whole, as nothing in it could be trusted."""
    reader = _csv_records if file_format == "csv" else _jsonl_records
    try:
        yield from reader(path)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path.name} is not UTF-8 text ({exc.reason}).") from None
    except csv.Error as exc:
        raise InvalidInput(f"{path.name} is not a readable CSV file: {exc}.") from None


def batched(items: Iterable[IncomingRecord | RowProblem], size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
