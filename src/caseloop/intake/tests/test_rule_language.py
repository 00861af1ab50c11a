"""The rule language of docs/rules.md: every operator it promises, missing values, and errors
that point at the mistake."""

import re
from pathlib import Path

import pytest

from caseloop.programs import rules
from caseloop.programs.rules import (
    MAX_SOURCE_LENGTH,
    RuleError,
    compile_rule,
    evaluate,
    referenced_values,
    validate_rule,
)

DOCS = Path(__file__).resolve().parents[4] / "docs" / "rules.md"


def holds(source: str, **context: object) -> bool:
    return evaluate(compile_rule(source), context)


# (operator as the docs name it, rule, context, expected)
OPERATOR_CASES = [
    ("==", "concern == true", {"concern": True}, True),
    ("==", "concern == true", {"concern": False}, False),
    ("!=", 'unit != "store-9"', {"unit": "store-1"}, True),
    ("<", "q < 6", {"q": 5}, True),
    ("<", "q < 6", {"q": 6}, False),
    ("<=", "q <= 6", {"q": 6}, True),
    ("<=", "q <= 6", {"q": 5.5}, True),
    (">", "q > 6", {"q": 7}, True),
    (">=", "q >= 6", {"q": 6.0}, True),
    (">=", "q >= 6", {"q": 5}, False),
    ("&&", "a && b", {"a": True, "b": False}, False),
    ("&&", "a && b", {"a": True, "b": True}, True),
    ("||", "a || b", {"a": False, "b": True}, True),
    ("||", "a || b", {"a": False, "b": False}, False),
    ("!", "!(q > 6)", {"q": 4}, True),
    ("? :", 'k == "store" ? q <= 6 : q <= 4', {"k": "store", "q": 5}, True),
    ("? :", 'k == "store" ? q <= 6 : q <= 4', {"k": "hotel", "q": 5}, False),
    ("in", 'unit in ["store-1", "store-2"]', {"unit": "store-2"}, True),
    ("in", 'unit in ["store-1", "store-2"]', {"unit": "store-3"}, False),
    ("in", '"q_staff" in answers', {"answers": {"q_staff": 3}}, True),
    ("+", "a + b < 10", {"a": 4, "b": 5}, True),
    ("+", 'a + b == "ab"', {"a": "a", "b": "b"}, True),
    ("-", "a - b == 1", {"a": 4, "b": 3}, True),
    ("*", "a * 2 == 8", {"a": 4}, True),
    ("/", "a / 2 == 2", {"a": 4}, True),
    ("/", "a / 2.0 == 2.5", {"a": 5.0}, True),
    ("%", "a % 2 == 1", {"a": 5}, True),
    ("unary -", "-a < 0", {"a": 3}, True),
    ("map.field", "answers.q_overall <= 6", {"answers": {"q_overall": 3}}, True),
    ('map["key"]', 'answers["q-1"] <= 6', {"answers": {"q-1": 3}}, True),
    ("list[0]", "scores[0] == 1", {"scores": [1, 2]}, True),
    ("has()", "has(answers.q_staff)", {"answers": {"q_staff": 1}}, True),
    ("has()", "has(answers.q_staff)", {"answers": {}}, False),
    ("size()", "size(verbatim) > 3", {"verbatim": "rude staff"}, True),
    ("size()", "verbatim.size() > 3", {"verbatim": "ok"}, False),
    ("contains", 'verbatim.contains("rude")', {"verbatim": "very rude staff"}, True),
    ("startsWith", 'unit.startsWith("ber-")', {"unit": "ber-12"}, True),
    ("endsWith", 'unit.endsWith("-12")', {"unit": "ber-12"}, True),
    ("matches", 'verbatim.matches("(?i)lawyer|attorney")', {"verbatim": "My LAWYER"}, True),
    ("matches", 'verbatim.matches("^ok$")', {"verbatim": "not ok"}, False),
    ("int()", "int(visits) > 3", {"visits": "4"}, True),
    ("double()", "double(amount) >= 2.5", {"amount": "2.5"}, True),
    ("string()", 'string(q) == "7"', {"q": 7}, True),
    ("null", "q == null", {"q": None}, True),
    ("'text'", "unit == 'store-1'", {"unit": "store-1"}, True),
]


@pytest.mark.parametrize(
    ("operator", "source", "context", "expected"),
    OPERATOR_CASES,
    ids=[f"{case[0]}:{case[1]}" for case in OPERATOR_CASES],
)
def test_documented_operator_works(
    operator: str, source: str, context: dict[str, object], expected: bool
) -> None:
    assert holds(source, **context) is expected


def test_every_operator_in_the_docs_table_is_tested() -> None:
    table = DOCS.read_text().split("## What a rule may use", 1)[1].split("## Missing", 1)[0]
    documented = set()
    for line in table.splitlines()[4:]:
        cells = re.split(r"(?<!\\)\|", line)
        if len(cells) > 2:
            documented |= {token.strip("`") for token in re.findall(r"`[^`]+`", cells[2])}
    tested = {case[0] for case in OPERATOR_CASES}
    aliases = {
        "\\|\\|": "||",
        "condition ? a : b": "? :",
        "size(x)": "size()",
        "x.size()": "size()",
        "has(map.field)": "has()",
        "`text`": "'text'",
        '"text"': "'text'",
        "true": "==",
        "false": "==",
        "[1, 2]": "in",
        "(?i)": "matches",
    }
    untested = {
        token
        for token in documented
        if aliases.get(token, token) not in tested and not token.isdigit()
    }
    assert untested == set()


def test_a_missing_answer_makes_a_comparison_false() -> None:
    assert holds("q_overall <= 6") is False


def test_a_negated_comparison_with_a_missing_answer_is_false_too() -> None:
    assert holds("!(q_overall > 6)") is False


def test_or_fires_on_its_other_side_when_one_answer_is_missing() -> None:
    assert holds("q_overall <= 6 || concern == true", concern=True) is True


def test_and_is_false_when_one_answer_is_missing() -> None:
    assert holds("q_overall <= 6 && concern == true", concern=True) is False


def test_a_missing_map_key_counts_as_missing() -> None:
    assert holds('answers["q9"] == 1', answers={}) is False


def test_a_missing_value_can_be_tested_with_null() -> None:
    assert holds("q_staff == null", q_overall=3) is True


def test_a_missing_text_makes_a_text_function_false() -> None:
    assert holds('verbatim.contains("rude")', verbatim=None) is False


def test_the_context_is_read_only_for_names_the_rule_mentions() -> None:
    asked: list[str] = []

    class Spy(dict):
        def get(self, name: str, default: object = None) -> object:
            asked.append(name)
            return super().get(name, default)

    evaluate(compile_rule("q <= 6"), Spy(q=3, other=1))
    assert asked == ["q"]


def test_comparing_a_text_with_a_number_is_an_error_not_a_no() -> None:
    with pytest.raises(RuleError, match="q_overall='good'"):
        holds("q_overall <= 6", q_overall="good")


def test_dividing_by_zero_is_an_error() -> None:
    with pytest.raises(RuleError):
        holds("a / b > 1", a=1, b=0)


def test_syntax_error_names_line_and_column_and_points_at_it() -> None:
    with pytest.raises(RuleError) as caught:
        compile_rule("q_overall <= 6 &&\n  (concern == true")
    error = caught.value
    assert (error.line, error.column) == (2, 19)
    assert error.message.startswith("Syntax error at line 2, column 19")
    assert error.message.endswith("  (concern == true\n" + " " * 20 + "^")


def test_empty_rule_is_refused() -> None:
    with pytest.raises(RuleError, match="needs an expression"):
        compile_rule("   ")


def test_overlong_rule_is_refused() -> None:
    with pytest.raises(RuleError, match="at most"):
        compile_rule("q == 1 || " * (MAX_SOURCE_LENGTH // 10) + "q == 2")


def test_function_outside_the_language_list_is_refused_with_its_place() -> None:
    with pytest.raises(RuleError, match="cannot use the function 'lowerAscii'") as caught:
        compile_rule('q_overall <= 6 || verbatim.lowerAscii() == "bad"')
    assert (caught.value.line, caught.value.column) == (1, 28)


def test_python_builtins_do_not_exist_in_rules() -> None:
    with pytest.raises(RuleError, match="__import__"):
        compile_rule('__import__("os") == null')


def test_invalid_literal_pattern_is_refused_when_saved() -> None:
    with pytest.raises(RuleError, match="not a valid regular expression") as caught:
        compile_rule('verbatim.matches("(unclosed")')
    assert caught.value.column == 18


def test_rule_that_is_not_a_condition_is_refused() -> None:
    with pytest.raises(RuleError, match="must be true or false"):
        compile_rule("1 + 2")


def test_unknown_name_is_refused_when_known_names_are_given() -> None:
    with pytest.raises(RuleError, match="Unknown name 'q_overal'") as caught:
        validate_rule("concern == true || q_overal <= 6", ["concern", "q_overall"])
    assert caught.value.column == 20


def test_any_name_is_accepted_without_a_list_of_known_names() -> None:
    assert validate_rule("anything_at_all == 1").variables == frozenset({"anything_at_all"})


def test_unknown_field_of_a_closed_map_is_refused() -> None:
    with pytest.raises(RuleError, match="unit has no field 'cod'"):
        validate_rule('unit.cod == "x"', ["unit.code", "unit.kind"])


def test_fields_of_an_open_map_are_accepted() -> None:
    validate_rule("answers.anything == 1", ["answers"])


def test_a_name_inside_a_text_is_not_taken_for_a_name() -> None:
    validate_rule('x == "unit.cod"', ["x", "unit.code"])


def test_the_same_source_is_compiled_once() -> None:
    assert compile_rule("q <= 6 || r") is compile_rule("q <= 6 || r")


def test_referenced_values_show_what_the_rule_saw() -> None:
    compiled = compile_rule("q_overall <= 6 || concern == true")
    assert referenced_values(compiled, {"q_overall": 3, "other": 1}) == {
        "concern": None,
        "q_overall": 3,
    }


# (macro, rule using it after "q_overall <= 6 || ", the column where the macro's name starts)
LOOP_CASES = [
    ("map", "q_overall <= 6 || scores.map(s, s <= 6) == [true]", 26),
    ("filter", "q_overall <= 6 || size(scores.filter(s, s <= 6)) > 0", 31),
    ("exists", "q_overall <= 6 || scores.exists(s, s <= 6)", 26),
    ("exists_one", "q_overall <= 6 || scores.exists_one(s, s <= 6)", 26),
    ("all", "q_overall <= 6 || scores.all(s, s <= 6)", 26),
    ("existsOne", "q_overall <= 6 || scores.existsOne(s, s <= 6)", 26),
    ("all", "q_overall <= 6 || scores.all(i, s, s <= 6)", 26),
    ("transformList", "q_overall <= 6 || scores.transformList(i, s, s) == [1]", 26),
]


@pytest.mark.parametrize(
    ("macro", "source", "column"), LOOP_CASES, ids=[case[1][18:] for case in LOOP_CASES]
)
def test_loop_macro_is_refused_when_saved_with_its_place(
    macro: str, source: str, column: int
) -> None:
    with pytest.raises(RuleError) as caught:
        compile_rule(source)
    error = caught.value
    assert error.message.startswith(f"Rules cannot use .{macro}(): it loops over a list or map")
    assert (error.line, error.column) == (1, column)
    assert error.message.endswith(source + "\n" + " " * (column + 1) + "^")


def test_deeply_nested_loops_are_refused_when_saved() -> None:
    nested = "v"
    for depth in range(7):
        nested = f"[0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(v{depth}, {nested})"
    with pytest.raises(RuleError, match=r"cannot use \.map\(\)"):
        compile_rule(f"size({nested}) > 0")


def test_a_refused_loop_is_never_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def run(compiled: object) -> None:
        pytest.fail("the refused rule was run")

    monkeypatch.setattr(rules, "_check_result_is_boolean", run)
    with pytest.raises(RuleError, match=r"cannot use \.map\(\)"):
        compile_rule("size([1, 2].map(never_run, never_run > 1)) > 0")


HIDDEN_LOOPS = {
    "after a raw text ending in a backslash": 'r"\\" != "" || [0].map(v, v) == [0] || "" == ""',
    "between quotes in comments": 'q == 1 // """\n || [0].map(v, v) == [0]\n// """',
    "split over a comment and a line break": "[0]. // the next line\n  map(v, v) == [0]",
    "with spaces around the dot": "[0] . filter ( v , v > 0 ) == []",
    "called without a list before it": "map([0], v, v) == [0]",
}


@pytest.mark.parametrize("source", HIDDEN_LOOPS.values(), ids=HIDDEN_LOOPS.keys())
def test_a_loop_is_refused_however_it_is_written(source: str) -> None:
    with pytest.raises(RuleError, match=r"Rules cannot use \.?(map|filter)\(\)"):
        compile_rule(source)


LOOK_ALIKES = {
    "a field named map": "answers.map == 1",
    "a field named filter, tested with has()": "has(answers.filter)",
    "an answer named all": "all == true",
    "a loop inside a text": 'verbatim.contains(".map(")',
    "a loop inside a raw pattern": 'verbatim.matches(r"\\.exists\\(")',
    "a loop inside a comment": "q_overall <= 6 // not scores.all(s, s <= 6)",
    "braces, bytes and an unsigned number inside a text": 'verbatim.contains("{b\\"6u\\"}")',
    "a raw text ending in a backslash": 'verbatim == r"\\"',
}


@pytest.mark.parametrize("source", LOOK_ALIKES.values(), ids=LOOK_ALIKES.keys())
def test_what_only_looks_like_a_refused_construct_is_accepted(source: str) -> None:
    compile_rule(source)


def test_a_field_named_like_a_loop_is_read_as_a_field() -> None:
    assert holds("answers.map == 1", answers={"map": 1}) is True


def test_a_comment_is_ignored() -> None:
    assert holds("q_overall <= 6 // a detractor", q_overall=3) is True


@pytest.mark.parametrize(
    ("source", "column"),
    [('{"q1": 1}["q1"] == q', 1), ("q == Answer{value: 1}", 12)],
    ids=["map literal", "message literal"],
)
def test_map_literal_is_refused_when_saved(source: str, column: int) -> None:
    with pytest.raises(RuleError, match=r"cannot build a map with \{ \}") as caught:
        compile_rule(source)
    assert caught.value.column == column


@pytest.mark.parametrize("source", ['verbatim == b"refund"', 'verbatim == bR"refund"'])
def test_bytes_literal_is_refused_when_saved(source: str) -> None:
    with pytest.raises(RuleError, match=re.escape('cannot use bytes like b"..."')) as caught:
        compile_rule(source)
    assert caught.value.column == 13


@pytest.mark.parametrize(("number", "written"), [("6u", "6"), ("0x10U", "0x10")])
def test_unsigned_number_is_refused_when_saved(number: str, written: str) -> None:
    with pytest.raises(RuleError) as caught:
        compile_rule(f"q_overall <= {number}")
    assert caught.value.message.startswith(
        f"Rules cannot use unsigned numbers like {number}; write {written}"
    )
    assert caught.value.column == 14
