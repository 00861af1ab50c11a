"""Conditions that administrators write as data: alert rules, routing conditions.

A condition is an expression in CEL, the Common Expression Language (the language of Kubernetes
admission rules and Envoy filters), evaluated by the ``common-expression-language`` package. It
cannot import anything, call Python or touch files. CEL's loops (``.map()``, ``.filter()``,
``.exists()`` and the like) are refused when a rule is saved, before it ever runs, so a rule's
cost grows only with its length; its regular expressions are RE2-style (linear time), so an
administrator's rule can slow nothing down. ``docs/rules.md`` lists what a rule may use; this
module enforces that list when a rule is saved.

Missing values: ``evaluate`` gives every name an expression mentions a value: the one in the
context, or ``null`` when the context has none. A condition that cannot be decided because a value
it needs is missing is false, so a response that skipped a question never fires a rule on that
question. ``&&`` and ``||`` still decide when one side does: ``q_overall <= 6 || concern == true``
is true for a response with ``concern`` true and no ``q_overall``. A missing key of a map
(``answers["q9"]``) counts as missing too; ``x == null`` and ``has(answers.q9)`` test for it.

Only real faults raise ``RuleError``: a syntax error, a function or construct the language list
does not offer, an unknown name (when the caller says which names exist), or an expression that
cannot work on complete values (comparing a number with a text, a result that is not true or
false).
"""

import functools
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import cel

from caseloop.errors import InvalidInput

__all__ = [
    "MAX_SOURCE_LENGTH",
    "CompiledRule",
    "RuleError",
    "compile_rule",
    "evaluate",
    "referenced_values",
    "validate_rule",
]

MAX_SOURCE_LENGTH = 2000
"""Longest expression accepted: a rule is a condition, not a program."""

# CEL's own names for the operators and functions that docs/rules.md promises.
_OPERATORS = {
    "_==_": "==",
    "_!=_": "!=",
    "_<_": "<",
    "_<=_": "<=",
    "_>_": ">",
    "_>=_": ">=",
    "_&&_": "&&",
    "_||_": "||",
    "!_": "!",
    "_?_:_": "? :",
    "@in": "in",
    "_+_": "+",
    "_-_": "-",
    "_*_": "*",
    "_/_": "/",
    "_%_": "%",
    "-_": "-",
    "_[_]": "[]",
}
_FUNCTIONS = frozenset(
    {"size", "contains", "startsWith", "endsWith", "matches", "int", "double", "string"}
)
ALLOWED_FUNCTIONS = frozenset(_OPERATORS) | _FUNCTIONS

_ERROR_HEAD = re.compile(r"ERROR: <input>:(\d+):(\d+): (?:Syntax error: )?(.*)")
_EXPECTING_VALUE = re.compile(r"expecting \{[^}]*IDENTIFIER[^}]*\}")
_UNEXPECTED = re.compile(r"(?:mismatched|extraneous) input ('[^']*')")
# Quoted texts and comments, found the way CEL reads them: in a raw text (r"...") a backslash is
# an ordinary character, so r"\" ends at its second quote; a comment runs to the end of its line
# and a quote inside it starts nothing. Reading either differently would let code hide inside what
# looks like a text, out of reach of the checks below.
_LITERAL_OR_COMMENT = re.compile(
    r"""
      (?P<comment>//[^\r\n]*)
    | (?<!\w)(?P<raw_prefix>[bB]?[rR])
      (?: '''.*?''' | \"\"\".*?\"\"\" | '[^'\r\n]*' | "[^"\r\n]*" )
    | (?:(?<!\w)(?P<bytes_prefix>[bB]))?
      (?: '''(?:\\.|[^\\])*?'''
        | \"\"\"(?:\\.|[^\\])*?\"\"\"
        | '(?:\\.|[^'\\\r\n])*'
        | "(?:\\.|[^"\\\r\n])*"
      )
    """,
    re.DOTALL | re.VERBOSE,
)
# Comprehension macros (CEL's loops), which the compiled program does not list among its
# functions; the two-variable forms and transforms of newer CEL versions are included so that an
# upgrade of the library cannot let them through.
_LOOP_MACROS = (
    "map",
    "filter",
    "exists",
    "exists_one",
    "existsOne",
    "all",
    "transformList",
    "transformMap",
    "transformMapEntry",
)
_LOOP_CALL = re.compile(rf"(?<!\w)(?P<name>{'|'.join(_LOOP_MACROS)})\s*\(")
_UNSIGNED_NUMBER = re.compile(r"(?<![\w.])(?:0[xX][0-9a-fA-F]+|\d+)[uU](?!\w)")
_MATCHES_LITERAL = re.compile(r"matches\s*\(\s*(?:[^,()]+,\s*)?$")
_EVALUATION_ERRORS = (
    TypeError,
    RuntimeError,
    KeyError,
    ValueError,
    ZeroDivisionError,
    OverflowError,
)


class RuleError(InvalidInput):
    """An expression that cannot be used as a rule; ``message`` says where and why.

    ``line`` and ``column`` (1-based) point at the fault when it has a place in the source.
    """

    code = "invalid_rule"

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        field: str | None = "expression",
    ) -> None:
        super().__init__(message, field=field)
        self.line = line
        self.column = column


@dataclass(frozen=True, eq=False)
class CompiledRule:
    """A parsed, checked expression, ready to evaluate many times."""

    source: str
    variables: frozenset[str]
    functions: frozenset[str]
    program: cel.Program


def _position(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _pointer(source: str, line: int, column: int) -> str:
    """The source line and a caret under the column, for messages shown in a monospace box."""
    lines = source.split("\n")
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return f"\n  {text}\n  {' ' * (column - 1)}^"


def _located(source: str, message: str, offset: int | None) -> RuleError:
    if offset is None:
        return RuleError(message)
    line, column = _position(source, offset)
    return RuleError(
        f"{message} (line {line}, column {column}){_pointer(source, line, column)}",
        line=line,
        column=column,
    )


def _syntax_error(source: str, exc: ValueError) -> RuleError:
    match = _ERROR_HEAD.search(str(exc))
    if match is None:
        return RuleError(f"The expression cannot be read: {exc}")
    line, column, reason = int(match[1]), int(match[2]), match[3].strip()
    reason = _EXPECTING_VALUE.sub("expecting a value or a name", reason)
    reason = _UNEXPECTED.sub(r"unexpected \1,", reason)
    reason = reason.replace("token recognition error at:", "unexpected characters")
    reason = reason.replace("'<EOF>'", "the end of the expression").replace("<EOF>", "the end")
    reason = reason.replace("unexpected the end", "unexpected end")
    return RuleError(
        f"Syntax error at line {line}, column {column}: {reason}{_pointer(source, line, column)}",
        line=line,
        column=column,
    )


def _literals_and_comments(source: str) -> list[re.Match[str]]:
    return list(_LITERAL_OR_COMMENT.finditer(source))


def _is_comment(token: re.Match[str]) -> bool:
    return token["comment"] is not None


def _is_bytes(token: re.Match[str]) -> bool:
    prefix = token["bytes_prefix"] or token["raw_prefix"] or ""
    return "b" in prefix.lower()


@functools.lru_cache(maxsize=4096)
def _is_one_literal(text: str) -> bool:
    try:
        program = cel.compile(text)
    except ValueError:
        return False
    if program.functions() or program.variables():
        return False
    try:
        return isinstance(program.execute({}), str | bytes)
    except _EVALUATION_ERRORS:
        return False


def _check_literals_are_whole(source: str, tokens: Collection[re.Match[str]]) -> None:
    """Every quoted text found must be, for CEL too, one whole text: the checks that follow skip
    quoted texts, so a text read differently from CEL's reading would hide code from them."""
    for token in tokens:
        if not _is_comment(token) and not _is_one_literal(token[0]):
            raise _located(
                source,
                "This quoted text cannot be read unambiguously; write it in plain quotes, "
                'e.g. "refund"',
                token.start(),
            )


def _code_only(source: str, tokens: Collection[re.Match[str]] | None = None) -> str:
    """The source with every quoted text and comment blanked, offsets unchanged, so that
    searching for names or constructs never finds one inside a text or a comment."""
    code = list(source)
    for token in _literals_and_comments(source) if tokens is None else tokens:
        start, end = token.span()
        if _is_comment(token):
            code[start:end] = " " * (end - start)
        else:
            code[start:end] = '"' + " " * (end - start - 2) + '"'
    return "".join(code)


def _offset_of_name(code: str, name: str, *, call: bool = False) -> int | None:
    pattern = rf"(?<![\w.]){re.escape(name)}\b" if not call else rf"\b{re.escape(name)}\s*\("
    match = re.search(pattern, code)
    return match.start() if match else None


def _check_constructs(source: str, code: str, tokens: Collection[re.Match[str]]) -> None:
    """Refuse what CEL parses but rules do not offer and the compiled program does not list:
    loops over lists and maps, map literals, bytes and unsigned numbers. Loops come first because
    they are what could make a rule slow; none of this runs the rule."""
    if loop := _LOOP_CALL.search(code):
        dot = "." if code[: loop.start()].rstrip().endswith(".") else ""
        raise _located(
            source,
            f"Rules cannot use {dot}{loop['name']}(): it loops over a list or map, and a rule is "
            "one condition on the values themselves, e.g. q_food <= 6 || q_service <= 6",
            loop.start("name"),
        )
    if (brace := code.find("{")) >= 0:
        raise _located(
            source,
            "Rules cannot build a map with { }; to compare with several values use a list, "
            'e.g. unit in ["store-1", "store-2"]',
            brace,
        )
    if raw_bytes := next((token for token in tokens if _is_bytes(token)), None):
        raise _located(
            source,
            'Rules cannot use bytes like b"..."; write the text without the b, e.g. "refund"',
            raw_bytes.start(),
        )
    if unsigned := _UNSIGNED_NUMBER.search(code):
        number = unsigned[0][:-1]
        raise _located(
            source,
            f"Rules cannot use unsigned numbers like {unsigned[0]}; write {number}",
            unsigned.start(),
        )


def _check_functions(source: str, code: str, functions: Collection[str]) -> None:
    for name in sorted(set(functions) - ALLOWED_FUNCTIONS):
        if not re.fullmatch(r"\w+", name):  # an operator or macro, like _&&_ or @in
            message = "This expression uses a construct rules do not offer"
            raise _located(source, f"{message}; see the list of operators", None)
        offset = _offset_of_name(code, name, call=True)
        allowed = ", ".join(sorted(_FUNCTIONS))
        raise _located(
            source, f"Rules cannot use the function {name!r} (they may use: {allowed})", offset
        )


def _check_regex_literals(source: str, tokens: Collection[re.Match[str]]) -> None:
    """Compile every literal pattern given to ``matches`` now, so that a broken pattern is
    refused when the rule is saved rather than failing on every evaluation later."""
    for literal in tokens:
        if _is_comment(literal) or not _MATCHES_LITERAL.search(source, 0, literal.start()):
            continue
        probe = f'"".matches({literal[0]})'
        try:
            cel.evaluate(probe, {})
        except _EVALUATION_ERRORS as exc:
            reason = str(exc).split(" not a valid regex:", 1)[-1]
            reason = reason.replace(". Check function arguments and their types.", "")
            reason = " ".join(reason.split())
            raise _located(
                source,
                f"The pattern {literal[0]} is not a valid regular expression: {reason}",
                literal.start(),
            ) from None


@functools.lru_cache(maxsize=4096)
def _compile(source: str) -> CompiledRule:
    try:
        program = cel.compile(source)
    except ValueError as exc:
        raise _syntax_error(source, exc) from None
    # Every check before _check_result_is_boolean reads the source without running it, so a
    # refused rule, a loop in particular, never runs.
    tokens = _literals_and_comments(source)
    _check_literals_are_whole(source, tokens)
    code = _code_only(source, tokens)
    _check_constructs(source, code, tokens)
    functions = frozenset(program.functions())
    _check_functions(source, code, functions)
    _check_regex_literals(source, tokens)
    compiled = CompiledRule(
        source=source,
        variables=frozenset(program.variables()),
        functions=functions,
        program=program,
    )
    _check_result_is_boolean(compiled)
    return compiled


def _check_result_is_boolean(compiled: CompiledRule) -> None:
    """With every name missing, a rule gives false or cannot decide; any other value means the
    rule is not a condition at all (``"yes"``, ``1 + 2``)."""
    try:
        result = compiled.program.execute(dict.fromkeys(compiled.variables))
    except _EVALUATION_ERRORS:
        return
    if result is not None and not isinstance(result, bool):
        raise RuleError(
            f"A rule must be true or false, but this one gives {result!r}; "
            "compare it with something, e.g. q_overall <= 6."
        )


def compile_rule(source: str) -> CompiledRule:
    """Parse and check ``source``; the same source is compiled once per process.

    Raises ``RuleError`` for an empty or overlong expression, a syntax error (with line, column
    and a pointer), a loop, map literal, bytes or unsigned number (pointed at likewise), a
    function the rule language does not offer, an invalid literal regular expression, or a
    constant that is not true or false. A refused expression is never run.
    """
    if not isinstance(source, str) or not source.strip():
        raise RuleError("A rule needs an expression, e.g. concern == true || q_overall <= 6.")
    if len(source) > MAX_SOURCE_LENGTH:
        raise RuleError(f"A rule may be at most {MAX_SOURCE_LENGTH} characters long.")
    return _compile(source)


def _known_tree(known_fields: Collection[str]) -> dict[str, set[str] | None]:
    """``{"unit": {"code", "kind"}, "q_overall": None}``: None means any field is accepted."""
    tree: dict[str, set[str] | None] = {}
    for entry in known_fields:
        head, _, field = entry.partition(".")
        if not field or field == "*":
            tree[head] = None
        elif head not in tree:
            tree[head] = {field}
        elif tree[head] is not None:
            tree[head].add(field)  # type: ignore[union-attr]
    return tree


def validate_rule(source: str, known_fields: Collection[str] | None = None) -> CompiledRule:
    """Check ``source`` as ``compile_rule`` does and, when ``known_fields`` is given, that it
    mentions only those names.

    ``known_fields`` holds plain names (``q_overall``) and fields of maps (``unit.code``); a
    map listed only by its fields accepts no other field, one listed by name (``answers``) or
    as ``answers.*`` accepts any. ``None`` accepts every name.
    """
    compiled = compile_rule(source)
    if known_fields is None:
        return compiled
    tree = _known_tree(known_fields)
    code = _code_only(source)
    for name in sorted(compiled.variables):
        if name not in tree:
            names = ", ".join(sorted(tree))
            raise _located(
                source,
                f"Unknown name {name!r}; the names known here are: {names}",
                _offset_of_name(code, name),
            )
    for name, fields in sorted(tree.items(), key=lambda item: item[0]):
        if fields is None or name not in compiled.variables:
            continue
        for match in re.finditer(rf"(?<![\w.]){re.escape(name)}\s*\.\s*([A-Za-z_]\w*)", code):
            if match[1] not in fields:
                known = ", ".join(f"{name}.{f}" for f in sorted(fields))
                raise _located(
                    source, f"{name} has no field {match[1]!r}; it has {known}", match.start(1)
                )
    return compiled


def _mentions_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, Mapping):
        return any(item is None for item in value.values())
    if isinstance(value, list | tuple):
        return any(item is None for item in value)
    return False


def referenced_values(compiled: CompiledRule, context: Mapping[str, object]) -> dict[str, object]:
    """The value of every name the rule mentions, missing ones as None: what made it decide."""
    return {name: context.get(name) for name in sorted(compiled.variables)}


def evaluate(compiled: CompiledRule, context: Mapping[str, object]) -> bool:
    """Whether the condition holds for ``context`` (names to plain Python values).

    Only the names the rule mentions are read from ``context`` (``context.get``), so a context
    may compute values lazily. Undecidable because of a missing value means false; see the
    module's docstring. Raises ``RuleError`` when the rule cannot work even on complete values.
    """
    values = {name: context.get(name) for name in compiled.variables}
    try:
        result = compiled.program.execute(values)
    except KeyError:
        return False
    except _EVALUATION_ERRORS as exc:
        if any(_mentions_missing(value) for value in values.values()):
            return False
        raise RuleError(_evaluation_message(compiled, values, exc)) from None
    if result is None:
        return False
    if not isinstance(result, bool):
        raise RuleError(
            f"The rule {compiled.source!r} gave {result!r}, not true or false.", field=None
        )
    return result


def _evaluation_message(
    compiled: CompiledRule, values: Mapping[str, object], exc: Exception
) -> str:
    reason = str(exc).split(". Check", 1)[0]
    if isinstance(exc, TypeError):
        reason = "an operator is used on values of types it cannot combine (e.g. text and number)"
    shown = ", ".join(f"{name}={value!r}" for name, value in sorted(values.items()))
    return f"The rule {compiled.source!r} cannot be checked with {shown}: {reason}."
