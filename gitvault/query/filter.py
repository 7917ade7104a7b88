"""The run filter and sort language of `Query.runs`: parsed here by a small recursive-descent
parser into an AST, compiled to parameterised SQL over the SQLite cache and evaluated in Python
for live runs (the two agree: the tests check both on the same runs).

Grammar (keywords are case-insensitive)::

    expr      := or_expr
    or_expr   := and_expr ("or" and_expr)*
    and_expr  := not_expr ("and" not_expr)*
    not_expr  := "not" not_expr | "(" or_expr ")" | predicate
    predicate := field op value
               | field ["not"] "in" "(" value ("," value)* ")"
               | field "is" ["not"] "null"
    op        := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | "~"     (~: text starts with)
    value     := 'text' | "text" | number | true | false
    field     := metrics.NAME | config.PATH | params.NAME | tag | status | experiment | name | id
               | hostname | started | ended

``config.PATH`` walks nested config keys (``config.optimizer.name``); a name with other
characters is quoted (``metrics."top-1 acc"``, ``config."a.b".c``). ``metrics.NAME`` and
``params.NAME`` take the rest of the path as one name. ``tag = 'x'`` means the run carries tag x,
``tag ~ 'sw'`` one starting with sw. Times are ISO 8601 (a bare date is midnight UTC); ``~`` on a
time matches its text (``started ~ '2026-01'``: January 2026, UTC).

Semantics: a comparison is false when the field is missing (no such metric, config key or param;
NaN metrics count as missing) or holds a value of another type than the literal (a number is never
equal to a text); ``a != b`` is ``not (a = b)`` and ``a not in (...)`` is ``not (a in (...))``, so
both are true for runs without ``a``. ``is null`` is true for missing values (and, for ``tag``, for
runs without tags). No user text is ever formatted into SQL: every value and name is a parameter.

Sort keys: ``-metrics.val_acc, started, name`` (comma or space separated, ``-`` for descending,
any field but ``tag``). Missing values sort last in both directions; then numbers before text, as
SQLite orders them. Ties are broken by run id in the direction of the last key.
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import json
import math
import operator
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence, Union

from gitvault.storage import codec, records
from gitvault.cache.state import number_of, param_text
from gitvault.errors import QueryError

FIELDS_HELP = ("metrics.NAME, config.PATH, params.NAME, tag, status, experiment, name, id, hostname, started, "
               "ended")
SORT_HELP = FIELDS_HELP.replace("tag, ", "")
OPERATORS_HELP = "=, !=, <, <=, >, >=, ~ (starts with), in (...), not in (...), is null, is not null"
VALUE_HELP = "a number, a 'quoted text', true or false"
MAX_LENGTH = 10_000
MAX_DEPTH = 64
MAX_IN = 1_000

# top-level names -> kind; kinds with a name after a dot are metric, config, param
_SIMPLE = {"tag": "tag", "tags": "tag", "status": "status", "experiment": "experiment",
           "experiment_path": "experiment", "name": "name", "id": "id", "hostname": "hostname", "host": "hostname",
           "started": "started", "started_at": "started", "ended": "ended", "ended_at": "ended"}
_DOTTED = {"metrics": "metric", "config": "config", "params": "param"}
_COLUMNS = {"status": "status", "experiment": "experiment_path", "name": "name", "id": "id",
            "hostname": "hostname", "started": "started_at", "ended": "ended_at"}
_TEXT_KINDS = frozenset(("status", "experiment", "name", "id", "hostname"))
_TIME_KINDS = frozenset(("started", "ended"))
_KEYWORDS = frozenset(("and", "or", "not", "in", "is", "null", "true", "false"))
_OPS = {"=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "~": "~"}
_ORDER_OPS = frozenset(("<", "<=", ">", ">="))


def _error(problem: str, pos: int, fix: str) -> QueryError:
    return QueryError(f"{problem} at {pos}: {fix}")


# -- the AST ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """``kind`` is one of metric, config, param, tag, status, experiment, name, id, hostname,
    started, ended; ``key`` the metric or param name (one part) or the config path (its parts)."""

    kind: str
    key: tuple[str, ...]
    text: str
    pos: int


@dataclass(frozen=True)
class Compare:
    field: Field
    op: str  # =, <, <=, >, >=, ~
    value: str | float | int | bool
    pos: int


@dataclass(frozen=True)
class IsNull:
    field: Field


@dataclass(frozen=True)
class Not:
    part: "Node"


@dataclass(frozen=True)
class And:
    parts: tuple["Node", ...]


@dataclass(frozen=True)
class Or:
    parts: tuple["Node", ...]


Node = Union[Compare, IsNull, Not, And, Or]


# -- tokens ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # field, string, number, op, (, ), ",", keyword, end
    text: str  # as written
    value: Any
    pos: int  # 1-based column


def _name_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_-/"


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        pos = i + 1
        if ch.isspace():
            i += 1
        elif ch in "(),":
            out.append(_Token(ch, ch, ch, pos))
            i += 1
        elif ch in "=!<>~":
            two = text[i:i + 2]
            op = two if two in _OPS else ch
            if op not in _OPS:
                raise _error(f"unexpected character {ch!r}", pos, f"use one of {OPERATORS_HELP}")
            out.append(_Token("op", op, _OPS[op], pos))
            i += len(op)
        elif ch in "'\"":
            value, i = _string(text, i)
            out.append(_Token("string", text[pos - 1:i], value, pos))
        elif ch.isdigit() or (ch in "+-." and i + 1 < n and (text[i + 1].isdigit() or text[i + 1] == "."
                                                             and i + 2 < n and text[i + 2].isdigit())):
            number, i = _number(text, i)
            out.append(_Token("number", text[pos - 1:i], number, pos))
        elif ch.isalpha() or ch == "_":
            parts, i = _path(text, i)
            word = text[pos - 1:i]
            if len(parts) == 1 and word.lower() in _KEYWORDS:
                out.append(_Token("keyword", word, word.lower(), pos))
            else:
                out.append(_Token("field", word, parts, pos))
        else:
            raise _error(f"unexpected character {ch!r}", pos,
                         f"a condition is FIELD OP VALUE, e.g. metrics.val_loss < 0.2 (fields: {FIELDS_HELP})")
    out.append(_Token("end", "", None, n + 1))
    return out


def _string(text: str, i: int) -> tuple[str, int]:
    quote, start = text[i], i
    chars: list[str] = []
    i += 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            chars.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
            i += 2
        elif ch == quote:
            return "".join(chars), i + 1
        else:
            chars.append(ch)
            i += 1
    raise _error(f"unterminated text starting with {quote}", start + 1, f"close it with {quote}")


def _number(text: str, i: int) -> tuple[int | float, int]:
    start = i
    if text[i] in "+-":
        i += 1
    while i < len(text) and (text[i].isdigit() or text[i] == "."):
        i += 1
    if i < len(text) and text[i] in "eE":
        j = i + 1
        if j < len(text) and text[j] in "+-":
            j += 1
        if j < len(text) and text[j].isdigit():
            i = j
            while i < len(text) and text[i].isdigit():
                i += 1
    word = text[start:i]
    if i < len(text) and _name_char(text[i]) and text[i] not in "-/":
        raise _error(f"{text[start:i + 1]!r}... is not a number", start + 1,
                     "quote text values ('resnet50'); numbers look like 3, 0.2, 1e-3")
    try:
        return (int(word) if word.lstrip("+-").isdigit() else float(word)), i
    except ValueError:
        raise _error(f"{word!r} is not a number", start + 1, "numbers look like 3, -0.5, 0.2, 1e-3") from None


def _path(text: str, i: int) -> tuple[tuple[str, ...], int]:
    """A field path: name segments joined by dots, each bare or quoted."""
    parts: list[str] = []
    start = i
    while True:
        if i < len(text) and text[i] in "'\"":
            value, i = _string(text, i)
            parts.append(value)
        else:
            j = i
            while i < len(text) and _name_char(text[i]):
                i += 1
            if i == j:
                raise _error(f"{text[start:i]!r} ends with a dot", i + 1,
                             "put a name after the dot, e.g. metrics.val_loss or config.optimizer.name")
            parts.append(text[j:i])
        if i < len(text) and text[i] == "." and parts:
            i += 1
            continue
        return tuple(parts), i


def field_of(parts: tuple[str, ...], text: str, pos: int) -> Field:
    """The field a path names (``metrics.val_loss`` -> metric ("val_loss",)), or a QueryError."""
    head = parts[0].lower()
    if head in _DOTTED:
        kind = _DOTTED[head]
        if len(parts) == 1:
            example = {"metric": "metrics.val_loss", "config": "config.optimizer.name", "param": "params.arch"}[kind]
            raise _error(f"{parts[0]!r} needs a name", pos, f"write {parts[0]}.NAME, e.g. {example}")
        if kind == "config":
            return Field(kind, parts[1:], text, pos)
        return Field(kind, (".".join(parts[1:]),), text, pos)
    if head in _SIMPLE and len(parts) == 1:
        return Field(_SIMPLE[head], (), text, pos)
    import difflib  # only for a misspelt field's hint

    near = difflib.get_close_matches(head, [*_DOTTED, *_SIMPLE], n=1, cutoff=0.75)
    hint = ""
    if near:
        hint = f" (did you mean {'.'.join((near[0], *parts[1:]))!r}?)"
    raise _error(f"unknown field {text!r}", pos, f"use {FIELDS_HELP}{hint}")


def field_of_text(text: str) -> Field:
    """The field one path names on its own (a sort key or a column), e.g. ``config.optimizer.name``."""
    stripped = text.strip()
    if not stripped or not (stripped[0].isalpha() or stripped[0] == "_"):
        raise QueryError(f"{text!r} is not a field: use {FIELDS_HELP}")
    parts, end = _path(stripped, 0)
    if end != len(stripped):
        raise _error(f"unexpected {stripped[end]!r} in {text!r}", end + 1, f"name one field: {FIELDS_HELP}")
    return field_of(parts, stripped, 1)


def qualify(text: str) -> str:
    """One field as written by a person at the command line: a known field unchanged
    (``config.lr``, ``name``), a bare name a metric (``val_acc`` -> ``metrics.val_acc``,
    ``val/loss`` -> ``metrics.val/loss``), unless it is close to a field name (``stauts``): then
    the unknown-field error, with its hint. Used by ``--sort`` and ``--columns``; the filter
    language of ``--where`` keeps its fields explicit."""
    stripped = text.strip()
    try:
        field_of_text(stripped)
        return stripped
    except QueryError as exc:
        head = stripped.split(".", 1)[0].lower()
        if not stripped or not (stripped[0].isalpha() or stripped[0] == "_") or head in _DOTTED:
            raise
        import difflib

        if difflib.get_close_matches(head, [*_DOTTED, *_SIMPLE], n=1, cutoff=0.75):
            raise exc
    name = stripped
    if all(_name_char(c) for c in name):
        return f"metrics.{name}"
    return "metrics." + json.dumps(name, ensure_ascii=False)


def qualify_sort(sort: str) -> str:
    """A ``--sort`` text with its bare names qualified (`qualify`): ``-val_acc, name`` ->
    ``-metrics.val_acc, name``."""
    keys = []
    for part in (p.strip() for p in sort.split(",")):
        if not part:
            continue
        sign = part[0] if part[0] in "+-" else ""
        keys.append(sign + qualify(part[len(sign):]))
    if not keys:
        raise QueryError("sort names no field; give keys such as -val_acc, started")
    return ", ".join(keys)


# -- parsing ---------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def keyword(self, word: str) -> bool:
        if self.tok.kind == "keyword" and self.tok.value == word:
            self.i += 1
            return True
        return False

    def parse(self) -> Node:
        node = self.or_expr()
        tok = self.tok
        if tok.kind == ")":
            raise _error("unexpected ')'", tok.pos, "remove it or add the '(' it closes")
        if tok.kind != "end":
            raise _error(f"unexpected {_shown(tok)} after a complete condition", tok.pos,
                         "join conditions with and / or, e.g. status = 'failed' and tag = 'sweep'")
        return node

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.keyword("or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.not_expr()]
        while self.keyword("and"):
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def not_expr(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _error("the condition is nested too deeply", self.tok.pos, f"use at most {MAX_DEPTH} levels")
        try:
            if self.keyword("not"):
                return Not(self.not_expr())
            tok = self.tok
            if tok.kind == "(":
                self.take()
                node = self.or_expr()
                if self.tok.kind != ")":
                    raise _error(f"'(' is not closed (found {_shown(self.tok)})", tok.pos, "add ')'")
                self.take()
                return node
            return self.predicate()
        finally:
            self.depth -= 1

    def predicate(self) -> Node:
        tok = self.take()
        if tok.kind != "field":
            if tok.kind == "keyword" and tok.value in ("true", "false", "null"):
                raise _error(f"{tok.text!r} is a value, not a field", tok.pos, f"a condition starts with a field: {FIELDS_HELP}")
            raise _error(f"expected a field, found {_shown(tok)}", tok.pos,
                         f"a condition is FIELD OP VALUE, e.g. metrics.val_loss < 0.2 (fields: {FIELDS_HELP})")
        field = field_of(tok.value, tok.text, tok.pos)
        op = self.tok
        if op.kind == "op":
            self.take()
            value = self.value(field)
            node = self.compare(field, op.value, value, op.pos)
            return Not(node) if op.value == "!=" else node
        if op.kind == "keyword" and op.value == "is":
            self.take()
            negate = self.keyword("not")
            if not self.keyword("null"):
                raise _error(f"expected null after 'is', found {_shown(self.tok)}", self.tok.pos,
                             f"write {field.text} is null or {field.text} is not null")
            node_null: Node = IsNull(field)
            return Not(node_null) if negate else node_null
        negate = False
        if op.kind == "keyword" and op.value == "not":
            self.take()
            negate = True
            if not (self.tok.kind == "keyword" and self.tok.value == "in"):
                raise _error(f"expected 'in' after 'not', found {_shown(self.tok)}", self.tok.pos,
                             f"write {field.text} not in (...), or put not before the condition")
        if self.keyword("in"):
            node_in = self.in_list(field, op.pos)
            return Not(node_in) if negate else node_in
        raise _error(f"expected an operator after {field.text!r}, found {_shown(op)}", op.pos,
                     f"use {OPERATORS_HELP}")

    def value(self, field: Field) -> tuple[Any, _Token]:
        tok = self.take()
        if tok.kind in ("string", "number"):
            return tok.value, tok
        if tok.kind == "keyword" and tok.value in ("true", "false"):
            return tok.value == "true", tok
        if tok.kind == "keyword" and tok.value == "null":
            raise _error("null cannot be compared", tok.pos, f"write {field.text} is null or {field.text} is not null")
        if tok.kind == "field":
            raise _error(f"expected a value, found {_shown(tok)}", tok.pos,
                         f"quote text values, e.g. {field.text} = '{tok.text}'")
        raise _error(f"expected a value, found {_shown(tok)}", tok.pos, f"give {VALUE_HELP}")

    def in_list(self, field: Field, pos: int) -> Node:
        if self.tok.kind != "(":
            raise _error(f"expected '(' after in, found {_shown(self.tok)}", self.tok.pos,
                         f"write {field.text} in ('a', 'b')")
        self.take()
        parts: list[Node] = []
        while True:
            parts.append(self.compare(field, "=", self.value(field), pos))
            if len(parts) > MAX_IN:
                raise _error("the in (...) list is too long", pos, f"give at most {MAX_IN} values")
            sep = self.take()
            if sep.kind == ")":
                break
            if sep.kind != ",":
                raise _error(f"expected ',' or ')' in the in (...) list, found {_shown(sep)}", sep.pos,
                             "separate values with commas and close the list with ')'")
            if self.tok.kind == ")":
                self.take()
                break
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def compare(self, field: Field, op: str, value_tok: tuple[Any, _Token], pos: int) -> Compare:
        value, tok = value_tok
        op = "=" if op == "!=" else op
        kind = field.kind
        typed = "a number" if _is_number(value) else "true/false" if isinstance(value, bool) else "text"
        if kind == "tag":
            if op not in ("=", "~") or not isinstance(value, str):
                raise _error(f"tag {op} {tok.text}", pos,
                             "tag takes a quoted tag with =, !=, ~ (starts with), in (...) or is null, e.g. tag = 'sweep'")
        elif op == "~" and not isinstance(value, str):
            raise _error(f"~ {tok.text}", pos, f"~ means 'starts with' and takes quoted text, e.g. {field.text} ~ 'abc'")
        elif kind == "metric":
            if not _is_number(value):
                raise _error(f"{field.text} is a number but {tok.text} is {typed}", tok.pos,
                             f"compare it with a number, e.g. {field.text} < 0.2")
            if op == "~":
                raise _error(f"~ on the number {field.text}", pos, "use =, !=, <, <=, >, >=")
        elif kind in _TEXT_KINDS or kind in _TIME_KINDS:
            if not isinstance(value, str):
                raise _error(f"{field.text} is text but {tok.text} is {typed}", tok.pos,
                             f"quote the value, e.g. {field.text} = '{tok.text}'")
            if kind == "status" and op != "~" and value not in records.RUN_STATUSES:
                raise _error(f"{tok.text} is not a run status", tok.pos, f"use one of {', '.join(records.RUN_STATUSES)}")
            if kind in _TIME_KINDS and op != "~":
                value = _time(value, tok)
        elif kind == "param" and isinstance(value, bool):
            raise _error(f"{field.text} is text but {tok.text} is true/false", tok.pos,
                         f"params hold text: compare with quoted text, e.g. {field.text} = '{tok.text}'")
        if isinstance(value, bool) and op in _ORDER_OPS:
            raise _error(f"{op} {tok.text}", pos, "true and false compare with = and != only")
        if isinstance(value, float) and not math.isfinite(value):
            raise _error(f"{tok.text} is not a finite number", tok.pos, "give a finite number")
        return Compare(field, op, value, pos)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _shown(tok: _Token) -> str:
    return "the end of the condition" if tok.kind == "end" else repr(tok.text)


def _time(value: str, tok: _Token) -> str:
    found = iso_time(value)
    if found is None:
        raise _error(f"{tok.text} is not a date or time", tok.pos,
                     "use ISO 8601, e.g. '2026-01-31' or '2026-01-31T12:00:00Z' (times without a zone are UTC)")
    return found


def iso_time(value: Any) -> str | None:
    """An ISO 8601 date or time (str, datetime or date) as the cache stores times; None if not one."""
    if isinstance(value, str):
        try:
            value = _dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    elif isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        value = _dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, _dt.datetime):
        return None
    return codec.iso_utc(value)


def parse(text: Any) -> Node | None:
    """The AST of a filter expression; None for None or blank text. Bad text raises a one-line
    `QueryError` naming the problem, its 1-based position and the fix."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise QueryError(f"where must be a filter expression (a string), got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise QueryError(f"the filter is {len(text)} characters long; the limit is {MAX_LENGTH}")
    if not text.strip():
        return None
    return _Parser(text).parse()


# -- compiling to SQL ------------------------------------------------------------------------------

_SQL_OPS = {"=": "=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def field_sql(field: Field) -> tuple[str, list[Any]]:
    """The SQL value of a field on a row of ``runs`` (``tag`` has none: it is a set)."""
    kind = field.kind
    if kind == "metric":
        return "(SELECT value FROM scalar_metrics WHERE run_id = runs.id AND name = ?)", [field.key[0]]
    if kind == "param":
        return "(SELECT value FROM run_params WHERE run_id = runs.id AND name = ?)", [field.key[0]]
    if kind == "config":
        return "json_extract(runs.config, ?)", [json_path(field.key)]
    if kind == "tag":
        raise _error("tag is a set of tags", field.pos, "sort or show by another field; tag only filters")
    return f"runs.{_COLUMNS[kind]}", []


def json_path(parts: Sequence[str]) -> str:
    """A SQLite JSON path for nested keys, each quoted (``$."optimizer"."name"``)."""
    for part in parts:
        if '"' in part:
            raise QueryError(f"config key {part!r} contains a double quote, which config paths cannot name")
    return "$" + "".join(f'."{p}"' for p in parts)


def to_sql(node: Node) -> tuple[str, list[Any]]:
    """``(sql, params)``: a condition on a row of ``runs`` that is 1 or 0, never NULL."""
    if isinstance(node, And) or isinstance(node, Or):
        joined = " AND " if isinstance(node, And) else " OR "
        pieces = [to_sql(p) for p in node.parts]
        return "(" + joined.join(s for s, _ in pieces) + ")", [x for _, ps in pieces for x in ps]
    if isinstance(node, Not):
        inner, params = to_sql(node.part)
        return f"(NOT {inner})", params
    if isinstance(node, IsNull):
        return _null_sql(node.field)
    sql, params = _compare_sql(node)
    return f"ifnull(({sql}), 0)", params


def _null_sql(field: Field) -> tuple[str, list[Any]]:
    if field.kind == "tag":
        return "(ifnull(json_array_length(runs.tags), 0) = 0)", []
    if field.kind == "config":
        path = json_path(field.key)
        return "ifnull(json_type(runs.config, ?) = 'null', 1)", [path]
    expr, params = field_sql(field)
    return f"({expr} IS NULL)", params


def _compare_sql(node: Compare) -> tuple[str, list[Any]]:
    field, op, value = node.field, node.op, node.value
    if field.kind == "tag":
        test = "value = ?" if op == "=" else "substr(value, 1, ?) = ?"
        params: list[Any] = [value] if op == "=" else [len(str(value)), value]
        return f"EXISTS (SELECT 1 FROM json_each(runs.tags) WHERE {test})", params
    expr, params = field_sql(field)
    if field.kind == "param" and _is_number(value):
        expr = f"gv_number({expr})"
    guard = ""
    if field.kind == "config":  # json_extract gives true as 1 and '1' as 1: the JSON type tells them apart
        types = ("'integer', 'real'" if _is_number(value) else "'text'" if isinstance(value, str)
                 else "'true'" if value else "'false'")
        guard = f"json_type(runs.config, ?) IN ({types}) AND "
        params = [json_path(field.key), *params]
    if isinstance(value, bool):  # the JSON type is the whole test
        return f"json_type(runs.config, ?) = '{'true' if value else 'false'}'", [json_path(field.key)]
    if op == "~":
        return f"{guard}substr({expr}, 1, ?) = ?", [*params, len(str(value)), value]
    return f"{guard}{expr} {_SQL_OPS[op]} ?", [*params, value]


# -- evaluating on live runs -----------------------------------------------------------------------

def live_value(field: Field, state: dict[str, Any]) -> Any:
    """A field's value on a live run's state (as `gitvault.runs.spool` reads it), shaped like the cache's:
    NaN metrics None, params as text, booleans kept (`matches` and `sort_value` tell them apart)."""
    kind = field.kind
    if kind == "metric":
        entry = (state.get("metrics") or {}).get(field.key[0])
        value = entry.get("value") if isinstance(entry, dict) else entry
        if isinstance(value, bool):
            return float(value)
        if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
            return value
        return None
    if kind == "param":
        params = state.get("params") or {}
        return param_text(params[field.key[0]]) if field.key[0] in params else None
    if kind == "config":
        value = state.get("config")
        for part in field.key:
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return value
    if kind == "tag":
        return [str(t) for t in state.get("tags") or []]
    if kind == "experiment":
        return state.get("experiment_path")
    if kind == "started":
        return state.get("started_at")
    if kind == "ended":
        return state.get("ended_at")
    return state.get(_COLUMNS[kind])


def matches(node: Node, state: dict[str, Any]) -> bool:
    """The same test as `to_sql`, on a live run's state."""
    if isinstance(node, And):
        return all(matches(p, state) for p in node.parts)
    if isinstance(node, Or):
        return any(matches(p, state) for p in node.parts)
    if isinstance(node, Not):
        return not matches(node.part, state)
    if isinstance(node, IsNull):
        value = live_value(node.field, state)
        return not value if node.field.kind == "tag" else value is None
    return _compare(node, live_value(node.field, state))


def _compare(node: Compare, value: Any) -> bool:
    op, want = node.op, node.value
    if node.field.kind == "tag":
        return any(t == want if op == "=" else t.startswith(str(want)) for t in value)
    if node.field.kind == "param" and _is_number(want):
        value = number_of(value)
    if value is None:
        return False
    if isinstance(want, bool):
        return isinstance(value, bool) and value == want
    if _is_number(want):
        if not _is_number(value):
            return False
    elif not isinstance(value, str):
        return False
    if op == "~":
        return str(value).startswith(str(want))
    return bool(_PY_OPS[op](value, want))


_PY_OPS: dict[str, Callable[[Any, Any], Any]] = {"=": operator.eq, "<": operator.lt, "<=": operator.le,
                                                  ">": operator.gt, ">=": operator.ge}


# -- sorting ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SortKey:
    field: Field
    descending: bool

    @property
    def text(self) -> str:
        return ("-" if self.descending else "") + self.field.text


DEFAULT_SORT = "-started"


def parse_sort(sort: Any) -> list[SortKey]:
    """Sort keys from ``"-metrics.val_acc, started"`` or a list of such keys; None = newest first."""
    if sort is None or (isinstance(sort, str) and not sort.strip()):
        sort = DEFAULT_SORT
    if isinstance(sort, str):
        text = sort
    elif isinstance(sort, (list, tuple)) and all(isinstance(s, str) for s in sort):
        text = ", ".join(sort)
    else:
        raise QueryError(f"sort must be text like '-metrics.val_acc, started' or a list of keys, got {sort!r}")
    if len(text) > MAX_LENGTH:
        raise QueryError(f"the sort is {len(text)} characters long; the limit is {MAX_LENGTH}")
    keys: list[SortKey] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace() or ch == ",":
            i += 1
            continue
        descending = ch == "-"
        if ch in "+-":
            i += 1
        start = i
        if i >= len(text) or not (text[i].isalpha() or text[i] == "_"):
            shown = repr(text[i]) if i < len(text) else "the end"
            raise _error(f"expected a field to sort by, found {shown}", i + 1,
                         f"give keys such as -metrics.val_acc, started (fields: {SORT_HELP})")
        parts, i = _path(text, i)
        field = field_of(parts, text[start:i], start + 1)
        if field.kind == "tag":
            raise _error("runs cannot be sorted by tag", start + 1, f"sort by another field: {SORT_HELP}")
        if i < len(text) and not (text[i].isspace() or text[i] == ","):
            raise _error(f"unexpected {text[i]!r} in the sort", i + 1, "separate keys with commas, e.g. -metrics.acc, name")
        keys.append(SortKey(field, descending))
    if not keys:
        raise QueryError("sort names no field; give keys such as -metrics.val_acc, started")
    return keys


def sort_value(value: Any) -> Any:
    """A value as SQLite returns and orders it (booleans 0/1, nested JSON as compact text)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _rank(value: Any) -> int:
    return 0 if isinstance(value, (int, float)) else 1 if isinstance(value, str) else 2


def _cmp_one(a: Any, b: Any, descending: bool) -> int:
    if a is None or b is None:
        return (a is None) - (b is None)  # missing last in both directions
    ra, rb = _rank(a), _rank(b)
    if ra != rb:
        out = ra - rb
    elif ra == 2:
        out = (str(a) > str(b)) - (str(a) < str(b))
    else:
        out = (a > b) - (a < b)
    return -out if descending else out


def compare_keys(keys: Sequence[SortKey], a: Sequence[Any], b: Sequence[Any]) -> int:
    """Order of two rows given as (key values..., id), as the SQL of `order_sql` orders them."""
    for i, key in enumerate(keys):
        out = _cmp_one(a[i], b[i], key.descending)
        if out:
            return out
    out = (a[-1] > b[-1]) - (a[-1] < b[-1])
    return -out if keys[-1].descending else out


def sorted_rows(keys: Sequence[SortKey], rows: Iterable[Sequence[Any]]) -> list[Sequence[Any]]:
    def order(a: Sequence[Any], b: Sequence[Any]) -> int:
        return compare_keys(keys, a, b)

    return sorted(rows, key=functools.cmp_to_key(order))


def key_sql(keys: Sequence[SortKey]) -> list[tuple[str, list[Any]]]:
    return [field_sql(k.field) for k in keys]


def order_sql(keys: Sequence[SortKey], exprs: Sequence[str]) -> str:
    """ORDER BY terms: missing last (SQLite sorts NULL first ascending), id breaks ties."""
    terms = []
    for key, expr in zip(keys, exprs):
        if key.descending:
            terms.append(f"{expr} DESC")
        else:
            terms += [f"{expr} IS NULL", expr]
    terms.append("id DESC" if keys[-1].descending else "id")
    return ", ".join(terms)


def after_sql(keys: Sequence[SortKey], exprs: Sequence[str], last: Sequence[Any]) -> tuple[str, list[Any]]:
    """A condition true for rows that sort after ``last`` ((key values..., id))."""
    ors: list[str] = []
    params: list[Any] = []
    equal: list[str] = []
    equal_params: list[Any] = []
    for key, expr, value in zip(keys, exprs, last):
        if value is not None:
            ors.append("(" + " AND ".join([*equal, f"({expr} {'<' if key.descending else '>'} ? OR {expr} IS NULL)"]) + ")")
            params += [*equal_params, value]
            equal.append(f"{expr} = ?")
            equal_params.append(value)
        else:
            equal.append(f"{expr} IS NULL")
    ors.append("(" + " AND ".join([*equal, f"id {'<' if keys[-1].descending else '>'} ?"]) + ")")
    params += [*equal_params, last[-1]]
    return "(" + " OR ".join(ors) + ")", params


# -- cursors ---------------------------------------------------------------------------------------

_CURSOR_PREFIX = "c1."


def make_cursor(keys: Sequence[SortKey], row: Sequence[Any]) -> str:
    """An opaque cursor: the sort and the (key values..., id) of the last row of a page."""
    payload = json.dumps({"s": [k.text for k in keys], "k": list(row)}, separators=(",", ":"), ensure_ascii=False)
    return _CURSOR_PREFIX + base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def read_cursor(cursor: Any, keys: Sequence[SortKey]) -> list[Any]:
    """The (key values..., id) a cursor carries; it must come from a page with the same sort."""
    bad = QueryError("cursor is not a next_cursor from runs(); start again without a cursor")
    if not isinstance(cursor, str) or not cursor.startswith(_CURSOR_PREFIX):
        raise bad
    body = cursor[len(_CURSOR_PREFIX):]
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode())
    except (ValueError, UnicodeDecodeError):
        raise bad from None
    if not isinstance(data, dict) or not isinstance(data.get("k"), list) or not isinstance(data.get("s"), list):
        raise bad
    row = data["k"]
    if len(row) != len(keys) + 1 or not isinstance(row[-1], str) or any(
            not (v is None or isinstance(v, (str, int, float)) and not isinstance(v, bool)) for v in row):
        raise bad
    if data["s"] != [k.text for k in keys]:
        raise QueryError(f"cursor belongs to a page sorted by {', '.join(map(str, data['s']))}, not by "
                         f"{', '.join(k.text for k in keys)}; pass the same sort or start without a cursor")
    return row
