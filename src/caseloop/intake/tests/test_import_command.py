"""``import_responses``: CSV and JSON Lines files, a mapping file, and a report of every bad row
while the good rows go in."""

import io
import json
import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from caseloop.cases.models import Case
from caseloop.intake.models import SurveyResponse
from caseloop.intake.tests.conftest import Survey

pytestmark = pytest.mark.django_db

CSV_EXPORT = """ResponseID,StoreCode,Email,Q1,Concern,Comment,Panel
R1,s-1,anna@example.test,9,false,,A
R2,s-1,ben@example.test,4,false,Slow checkout,A
R3,s-1,cleo@example.test,8,TRUE,"Rude, very rude",B
"""
MAPPING = {
    "ResponseID": "external_id",
    "StoreCode": "unit",
    "Email": "respondent.email",
    "Q1": "answers.q_overall",
    "Concern": "concern",
    "Comment": "verbatim",
    "Panel": None,
}


def run(*args: object) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_responses", *[str(a) for a in args], stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(*args: object) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("import_responses", *[str(a) for a in args], stdout=out, stderr=err)
    return out.getvalue(), str(caught.value)


@pytest.fixture
def export(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "export.csv"
    data.write_text(CSV_EXPORT)
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps(MAPPING))
    return data, mapping


def test_csv_export_is_read_through_the_mapping_file(
    survey: Survey, export: tuple[Path, Path]
) -> None:
    data, mapping = export
    out, _ = run(data, "--program", "retail", "--mapping", mapping, "--source", "qualtrics")
    assert out.startswith("3 responses imported, 0 already present, 2 alert cases opened, 0 bad")
    r3 = SurveyResponse.objects.get(external_id="R3")
    assert (r3.source, r3.respondent["email"]) == ("qualtrics", "cleo@example.test")
    assert r3.answers == {"q_overall": 8, "concern": True}
    assert r3.verbatims == {"verbatim": "Rude, very rude"}


def test_csv_numbers_and_booleans_reach_the_rules_as_such(
    survey: Survey, export: tuple[Path, Path]
) -> None:
    data, mapping = export
    run(data, "--program", "retail", "--mapping", mapping)
    reasons = dict(Case.objects.values_list("external_id", "alert_reason__rule"))
    assert reasons == {"R2": "Low score", "R3": "Concern raised"}


def test_a_column_mapped_to_null_is_left_out(survey: Survey, export: tuple[Path, Path]) -> None:
    data, mapping = export
    run(data, "--program", "retail", "--mapping", mapping)
    assert "Panel" not in SurveyResponse.objects.get(external_id="R1").answers


def test_running_the_same_import_again_adds_nothing(
    survey: Survey, export: tuple[Path, Path]
) -> None:
    data, mapping = export
    run(data, "--program", "retail", "--mapping", mapping)
    out, _ = run(data, "--program", "retail", "--mapping", mapping)
    assert out.startswith("0 responses imported, 3 already present, 0 alert cases opened")
    assert (SurveyResponse.objects.count(), Case.objects.count()) == (3, 2)


def test_json_lines_are_read_with_our_field_names(survey: Survey, tmp_path: Path) -> None:
    lines = [
        {"external_id": "j1", "unit": "s-1", "answers": {"q_overall": 2}},
        {"external_id": "j2", "unit": "s-1", "concern": True, "verbatim": "Broken"},
    ]
    path = tmp_path / "responses.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    out, _ = run(path, "--program", "retail")
    assert "2 responses imported" in out
    assert Case.objects.get(external_id="j2").verbatim == "Broken"


def test_every_bad_row_is_reported_with_line_field_and_reason_and_the_rest_go_in(
    survey: Survey, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(
        "external_id,unit,respondent.email,q_overall\n"
        "a1,s-1,a@example.test,9\n"
        "a2,nowhere,b@example.test,9\n"
        ",s-1,not-an-email,3\n"
        "a4,s-1,d@example.test,2\n"
        "a5,s-1,e@example.test,2,surplus\n"
    )
    errors = tmp_path / "errors.csv"
    out, message = run_failing(path, "--program", "retail", "--errors", errors)
    assert sorted(SurveyResponse.objects.values_list("external_id", flat=True)) == ["a1", "a4"]
    assert "row 3: unit: there is no active unit with the code 'nowhere'" in out
    assert "row 4: external_id: is required" in out
    assert "row 4: respondent.email: 'not-an-email' is not an email address." in out
    assert "row 6: row: has 1 more cells than the header" in out
    assert message.startswith("3 bad rows were not imported")
    assert errors.read_text().splitlines()[0] == "row,field,why"
    assert len(errors.read_text().splitlines()) == 5


def test_a_line_that_is_not_json_is_reported(survey: Survey, tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"external_id": "ok", "unit": "s-1"}\n{"external_id": \n\n[1, 2]\n')
    out, _ = run_failing(path, "--program", "retail")
    assert "row 2: line: is not valid JSON" in out
    assert "row 4: line: is not a JSON object" in out
    assert SurveyResponse.objects.count() == 1


def test_rows_of_a_quoted_multiline_cell_are_numbered_by_their_first_line(
    survey: Survey, tmp_path: Path
) -> None:
    path = tmp_path / "multiline.csv"
    path.write_text('external_id,unit,verbatim\nm1,s-1,"two\nlines"\nm2,nowhere,x\n')
    out, _ = run_failing(path, "--program", "retail")
    assert "row 4: unit:" in out


def test_the_format_option_overrides_the_extension(survey: Survey, tmp_path: Path) -> None:
    path = tmp_path / "responses.txt"
    path.write_text('{"external_id": "t1", "unit": "s-1"}\n')
    run(path, "--program", "retail", "--format", "jsonl")
    assert SurveyResponse.objects.filter(external_id="t1").exists()


def test_a_file_of_unknown_extension_needs_the_format_option(
    survey: Survey, tmp_path: Path
) -> None:
    path = tmp_path / "responses.txt"
    path.write_text("")
    _, message = run_failing(path, "--program", "retail")
    assert "pass --format" in message


def test_an_unknown_program_is_refused(survey: Survey, export: tuple[Path, Path]) -> None:
    _, message = run_failing(export[0], "--program", "nope")
    assert message == "There is no program with the code 'nope'."


def test_a_mapping_file_naming_no_field_of_ours_is_refused(
    survey: Survey, tmp_path: Path, export: tuple[Path, Path]
) -> None:
    mapping = tmp_path / "bad-mapping.json"
    mapping.write_text('{"Q1": "answer.q_overall"}')
    _, message = run_failing(export[0], "--program", "retail", "--mapping", mapping)
    assert "names no field" in message
    assert SurveyResponse.objects.count() == 0


def test_progress_is_shown(survey: Survey, export: tuple[Path, Path]) -> None:
    data, mapping = export
    _, progress = run(data, "--program", "retail", "--mapping", mapping)
    assert "Importing export.csv" in progress
    assert "3/3" in progress


# 4 rows over 11 lines after the header: blank lines, a quoted cell over three lines, and a
# blank line inside a quoted cell.
CSV_OF_FOUR_ROWS_OVER_ELEVEN_LINES = (
    "external_id,unit,verbatim\n"
    'p1,s-1,"first line\n'
    "\n"
    'third line"\n'
    "\n"
    "p2,s-1,one line\n"
    "\n"
    'p3,s-1,"two\n'
    'lines"\n'
    "p4,s-1,x\n"
    "\n"
    "\n"
)
# 3 rows over 6 lines: an empty line, and lines of spaces only.
JSON_LINES_OF_THREE_ROWS_OVER_SIX_LINES = (
    '{"external_id": "j1", "unit": "s-1"}\n'
    "\n"
    '{"external_id": "j2", "unit": "s-1"}\n'
    "   \n"
    '{"external_id": "j3", "unit": "s-1"}\n'
    " \n"
)


@pytest.mark.parametrize(
    ("name", "content", "rows"),
    [
        ("responses.csv", CSV_OF_FOUR_ROWS_OVER_ELEVEN_LINES, 4),
        ("responses.jsonl", JSON_LINES_OF_THREE_ROWS_OVER_SIX_LINES, 3),
    ],
)
def test_progress_reaches_its_total_whatever_lines_a_row_takes(
    survey: Survey, tmp_path: Path, name: str, content: str, rows: int
) -> None:
    path = tmp_path / name
    path.write_text(content)
    _, progress = run(path, "--program", "retail", "--batch-size", 2)
    assert SurveyResponse.objects.count() == rows
    done_of_total = re.search(r" (\d+)/(\d+) ", progress)
    assert done_of_total is not None
    assert done_of_total.groups() == (str(rows), str(rows))
    assert " 100% " in progress


def write_export_with_bad_rows(path: Path) -> list[str]:
    """30 responses, in 10 batches of 3 at ``--batch-size 3``, with bad rows in several of
    them; returns the report's lines of the bad rows, in row order."""
    lines = ["external_id,unit,respondent.email,q_overall"]
    expected = []
    for n in range(30):
        row = n + 2  # the header is line 1
        if n in (1, 13):
            lines.append(f"b-{n},nowhere,p{n}@example.test,9")
            expected.append(f"  row {row}: unit: there is no active unit with the code 'nowhere'")
        elif n in (5, 22):
            lines.append(",s-1,not-an-email,3")
            expected.append(f"  row {row}: external_id: is required")
            expected.append(
                f"  row {row}: respondent.email: 'not-an-email' is not an email address."
            )
        elif n in (9, 29):
            lines.append(f"b-{n},s-1,p{n}@example.test,9,surplus")
            expected.append(f"  row {row}: row: has 1 more cells than the header")
        else:
            lines.append(f"b-{n},s-1,p{n}@example.test,9")
    path.write_text("\n".join(lines) + "\n")
    return expected


# Not in a test's transaction, which would keep the import in one process.
@pytest.mark.django_db(transaction=True)
def test_with_two_workers_every_bad_row_is_reported_in_row_order_and_the_rest_go_in(
    survey: Survey, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.csv"
    expected = write_export_with_bad_rows(path)
    assert not connection.in_atomic_block
    out, message = run_failing(path, "--program", "retail", "--batch-size", 3, "--workers", 2)

    reported = out.split("Bad rows (not imported):\n", 1)[1].splitlines()
    assert reported == expected
    assert message.startswith("6 bad rows were not imported")
    good = {f"b-{n}" for n in range(30) if n not in (1, 5, 9, 13, 22, 29)}
    assert set(SurveyResponse.objects.values_list("external_id", flat=True)) == good
    assert out.startswith("24 responses imported, 0 already present")
