"""Reading survey response files: CSV (a header line, one response per row) and JSON Lines (one
JSON object per line). Rows are numbered by the file line they start on, the CSV header being
line 1, so that a reported row is found at once in an editor."""

import csv
import json
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import TypeVar

from caseloop.errors import InvalidInput
from caseloop.intake.records import IncomingRecord, RowProblem, check_mapping

T = TypeVar("T")
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
    """About how many responses the file holds (lines, less the CSV header), for progress: a
    tenth of the time of parsing it (0.02 against 0.22 s for 100,000 rows), which would take
    a processor from the import's workers. Exact for files of one line per response; a CSV
    row over several lines (a quoted cell) or a blank line makes it an estimate, which the
    progress bar corrects when the import ends."""
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


def _csv_rows(path: Path) -> Iterator[tuple[int, object]]:
    """``(row, cells)`` of each CSV line that is not blank, the header's first: ``read_batches``
    turns into records only the rows of the batches it keeps."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        line = reader.line_num
        for cells in reader:
            row, line = line + 1, reader.line_num
            if cells:
                yield row, cells


def _csv_batch(header: list[str], rows: list[tuple[int, object]]) -> list:
    # csv.reader and a zip with the header: DictReader does the same in Python code per row,
    # a tenth of an import's time (issue #4). A short row lacks the last keys, as with
    # DictReader, whose ``None`` for them counts as an empty cell.
    width = len(header)
    batch: list[IncomingRecord | RowProblem] = []
    for row, cells in rows:
        assert isinstance(cells, list)
        if len(cells) > width:
            batch.append(
                RowProblem(row, "row", f"has {len(cells) - width} more cells than the header")
            )
            continue
        data = dict(zip(header, cells, strict=False))
        batch.append(IncomingRecord(row=row, data=data, from_text=True))
    return batch


def _jsonl_rows(path: Path) -> Iterator[tuple[int, object]]:
    with path.open(encoding="utf-8-sig") as handle:
        for row, text in enumerate(handle, start=1):
            if text.strip():
                yield row, text


def _jsonl_batch(rows: list[tuple[int, object]]) -> list:
    batch: list[IncomingRecord | RowProblem] = []
    for row, text in rows:
        assert isinstance(text, str)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            message = f"is not valid JSON: {exc.msg} at column {exc.colno}"
            batch.append(RowProblem(row, "line", message))
            continue
        if not isinstance(data, dict):
            batch.append(RowProblem(row, "line", "is not a JSON object"))
            continue
        batch.append(IncomingRecord(row=row, data=data))
    return batch


def read_batches(
    path: Path, file_format: str, size: int, *, share: tuple[int, int] = (0, 1)
) -> Iterator[list[IncomingRecord | RowProblem]]:
    """The file's responses, or the problem that keeps a line from being one, in batches of
    ``size`` lines. With ``share=(k, n)``, only batches ``k``, ``k + n``, ``k + 2n`` …: each of
    ``n`` import workers reads the whole file, which costs far less than checking it, so that
    every row keeps the number of its line. A file that is not UTF-8 is refused as a whole, as
    nothing in it could be trusted."""
    mine, every = share
    try:
        if file_format == "csv":
            rows = _csv_rows(path)
            first = next(rows, None)
            if first is None:
                return
            header = first[1]
            assert isinstance(header, list)
            for index, chunk in enumerate(batched(rows, size)):
                if index % every == mine:
                    yield _csv_batch(header, chunk)
        else:
            for index, chunk in enumerate(batched(_jsonl_rows(path), size)):
                if index % every == mine:
                    yield _jsonl_batch(chunk)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path.name} is not UTF-8 text ({exc.reason}).") from None
    except csv.Error as exc:
        raise InvalidInput(f"{path.name} is not a readable CSV file: {exc}.") from None


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
