"""The filter languages of Cloud Monitoring (ListTimeSeries) and Cloud Logging (ListLogEntries,
TailLogEntries): a tokenizer, two parsers onto one small AST, and an evaluator.

Only what the console (and an operator typing a filter) plausibly sends is supported; anything
else is refused with a `FilterError` whose message names the problem, which the APIs turn into
INVALID_ARGUMENT, as the real services do.

Monitoring:  metric.type = "run.googleapis.com/request_count" AND resource.type = "cloud_run_revision"
             AND resource.labels.service_name = "s" AND resource.labels.revision_name = one_of("a", "b")
             AND metric.labels.response_code_class = "5xx" AND resource.label.location = starts_with("us-")
Logging:     logName = "projects/p/logs/x" resource.labels.service_name = "s" severity >= ERROR
             timestamp >= "2026-01-01T00:00:00Z" jsonPayload.action = "promote" textPayload : "timeout"
             (a OR b) -c NOT d
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote


class FilterError(ValueError):
    """A filter that cannot be parsed or names something unknown; the message says what."""


# ---------------------------------------------------------------------------------------------
# AST


@dataclass(frozen=True)
class Func:
    """A function used as a comparison value: starts_with("x"), one_of("a", "b"), ..."""

    name: str
    args: tuple[Any, ...]


Literal = str | float | int | Func


@dataclass(frozen=True)
class Compare:
    path: tuple[str, ...]  # normalized field path, e.g. ("resource", "labels", "service_name")
    op: str  # = != < <= > >= : =~ !~  (and "log_id" for logging's log_id("..."))
    value: Literal
    text: str = ""  # the literal as written, for messages


@dataclass(frozen=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    part: Node


@dataclass(frozen=True)
class Text:
    """A bare value (logging only): matches when any text of the entry contains it."""

    value: str


@dataclass(frozen=True)
class TrueNode:
    """The empty filter."""


Node = Compare | And | Or | Not | Text | TrueNode


# ---------------------------------------------------------------------------------------------
# Tokens

_OPS = ("!=", "<=", ">=", "=~", "!~", "=", "<", ">", ":")
_WORD = re.compile(r"[A-Za-z0-9_.*@/%+\-$]+")


@dataclass(frozen=True)
class _Tok:
    kind: str  # STR WORD OP ( ) , NOT- END
    text: str
    pos: int
    path: tuple[str, ...] = ()  # for WORD tokens that are field paths with quoted segments


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "(),":
            toks.append(_Tok(c, c, i))
            i += 1
            continue
        if c == '"' or c == "'":
            s, i = _read_string(text, i)
            toks.append(_Tok("STR", s, i))
            continue
        op = next((o for o in _OPS if text.startswith(o, i)), None)
        if op is not None:
            toks.append(_Tok("OP", op, i))
            i += len(op)
            continue
        if c == "-" and (i + 1 < n and (text[i + 1] == "(" or text[i + 1].isalpha())) and (
            not toks or toks[-1].kind in ("(", "WORD", "STR", ")", "NOT-")
        ):
            # a leading minus negates the term that follows (logging's -field="x")
            toks.append(_Tok("NOT-", "-", i))
            i += 1
            continue
        m = _WORD.match(text, i)
        if not m:
            raise FilterError(f"unexpected character {c!r} at position {i + 1} of the filter")
        start = i
        word = m.group(0)
        i = m.end()
        segments = [word]
        # field paths may quote a segment: labels."k8s.io/name"
        while word.endswith(".") and i < n and text[i] in "\"'":
            s, i = _read_string(text, i)
            segments.append(s)
            m2 = _WORD.match(text, i)
            word = m2.group(0) if (m2 and text[i] == ".") else ""
            if word and m2:  # a word implies the match
                segments.append(word)
                i = m2.end()
        path: tuple[str, ...] = ()
        if len(segments) > 1:
            parts: list[str] = []
            for k, seg in enumerate(segments):
                if k % 2 == 0:
                    parts.extend(p for p in seg.split(".") if p)
                else:
                    parts.append(seg)
            path = tuple(parts)
        toks.append(_Tok("WORD", "".join(segments), start, path))
    toks.append(_Tok("END", "", n))
    return toks


def _read_string(text: str, i: int) -> tuple[str, int]:
    quote = text[i]
    j = i + 1
    out: list[str] = []
    while j < len(text):
        c = text[j]
        if c == "\\" and j + 1 < len(text):
            nxt = text[j + 1]
            out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
            j += 2
            continue
        if c == quote:
            return "".join(out), j + 1
        out.append(c)
        j += 1
    raise FilterError(f"unterminated string starting at position {i + 1} of the filter")


# ---------------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, text: str, dialect: str):
        self.text = text
        self.dialect = dialect  # "monitoring" | "logging"
        self.toks = _tokenize(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def is_kw(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "WORD" and tok.text == word and not tok.path

    def parse(self) -> Node:
        if self.peek().kind == "END":
            return TrueNode()
        node = self.expr()
        tok = self.peek()
        if tok.kind != "END":
            raise FilterError(f"unexpected {tok.text!r} at position {tok.pos + 1} of the filter")
        return node

    # Logging: NOT binds tightest, then OR, then AND (as Cloud Logging documents);
    # Monitoring: NOT, AND, OR (the usual order). Logging also allows AND to be implicit.
    def expr(self) -> Node:
        if self.dialect == "logging":
            return self._chain("AND", self._or_level, And, implicit=True)
        return self._chain("OR", self._and_level, Or, implicit=False)

    def _or_level(self) -> Node:
        return self._chain("OR", self.unary, Or, implicit=False)

    def _and_level(self) -> Node:
        return self._chain("AND", self.unary, And, implicit=False)

    def _chain(self, kw: str, sub: Callable[[], Node], cls: type, implicit: bool) -> Node:
        parts = [sub()]
        while True:
            if self.is_kw(kw):
                self.take()
                parts.append(sub())
            elif implicit and self._starts_term():
                parts.append(sub())
            else:
                break
        return parts[0] if len(parts) == 1 else cls(tuple(parts))

    def _starts_term(self) -> bool:
        tok = self.peek()
        if tok.kind in ("(", "STR", "NOT-"):
            return True
        return tok.kind == "WORD" and tok.text not in ("AND", "OR")

    def unary(self) -> Node:
        tok = self.peek()
        if tok.kind == "NOT-" or self.is_kw("NOT"):
            self.take()
            return Not(self.unary())
        if tok.kind == "(":
            self.take()
            if self.peek().kind == ")":
                raise FilterError(f"empty parentheses at position {tok.pos + 1} of the filter")
            node = self.expr()
            close = self.take()
            if close.kind != ")":
                raise FilterError(f"missing ')' for the '(' at position {tok.pos + 1} of the filter")
            return node
        return self.comparison()

    def comparison(self) -> Node:
        tok = self.take()
        if tok.kind == "END":
            raise FilterError("the filter ends where a comparison was expected")
        if tok.kind not in ("WORD", "STR"):
            raise FilterError(f"unexpected {tok.text!r} at position {tok.pos + 1} of the filter")
        if tok.kind == "WORD" and tok.text in ("AND", "OR"):
            raise FilterError(f"{tok.text} at position {tok.pos + 1} has nothing on its left")
        nxt = self.peek()
        if tok.kind == "WORD" and nxt.kind == "(" and self.dialect == "logging":
            func = self._func(tok)
            if func.name == "log_id" and len(func.args) == 1 and isinstance(func.args[0], str):
                return Compare(("logName",), "log_id", func.args[0], tok.text)
            raise FilterError(f"unsupported function {func.name}() in the filter")
        if nxt.kind != "OP":
            if self.dialect == "logging":
                return Text(tok.text)
            raise FilterError(
                f"expected a comparison operator after {tok.text!r} at position {tok.pos + 1} of the filter"
            )
        if tok.kind == "STR":
            raise FilterError(f"a field name cannot be quoted: {tok.text!r} at position {tok.pos + 1}")
        op = self.take().text
        vtok = self.take()
        if vtok.kind == "STR":
            value: Literal = vtok.text
        elif vtok.kind == "WORD" and self.peek().kind == "(":
            value = self._func(vtok)
        elif vtok.kind == "WORD" and vtok.text not in ("AND", "OR", "NOT"):
            value = _number_or_word(vtok.text)
        else:
            where = "the end" if vtok.kind == "END" else f"position {vtok.pos + 1}"
            raise FilterError(f"missing value after {tok.text} {op} (at {where} of the filter)")
        path = tok.path or tuple(tok.text.split("."))
        if any(not seg for seg in path):
            raise FilterError(f"malformed field name {tok.text!r} in the filter")
        return Compare(path, op, value, vtok.text)

    def _func(self, name_tok: _Tok) -> Func:
        self.take()  # (
        args: list[Any] = []
        while True:
            tok = self.take()
            if tok.kind == ")" and not args:
                break
            if tok.kind == "STR":
                args.append(tok.text)
            elif tok.kind == "WORD":
                args.append(_number_or_word(tok.text))
            else:
                raise FilterError(f"malformed arguments to {name_tok.text}() at position {tok.pos + 1}")
            sep = self.take()
            if sep.kind == ")":
                break
            if sep.kind != ",":
                raise FilterError(f"expected ',' or ')' in {name_tok.text}() at position {sep.pos + 1}")
        return Func(name_tok.text, tuple(args))


def _number_or_word(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


# ---------------------------------------------------------------------------------------------
# Monitoring


_MON_FUNCS = {"starts_with", "ends_with", "has_substring", "one_of", "monitoring.regex.full_match"}
_MON_TOP = {"metric", "resource", "project", "metadata"}


def parse_monitoring(text: str) -> Node:
    """Parse a Cloud Monitoring time-series filter; `resource.label.x` == `resource.labels.x`."""
    node = _Parser(text, "monitoring").parse()
    return _rewrite(node, _monitoring_compare)


def _monitoring_compare(cmp: Compare) -> Compare:
    path = cmp.path
    head = path[0]
    name = ".".join(path)
    if head not in _MON_TOP:
        raise FilterError(f"unknown field {name!r} in the filter (expected metric.type, resource.type, "
                          "resource.labels.NAME or metric.labels.NAME)")
    if head == "metadata":
        raise FilterError(f"the emulator does not support metadata fields in filters ({name!r})")
    if head == "project":
        if len(path) != 1:
            raise FilterError(f"unknown field {name!r} in the filter")
    elif len(path) == 2 and path[1] == "type":
        pass
    elif len(path) == 3 and path[1] in ("label", "labels"):
        path = (head, "labels", path[2])
    else:
        raise FilterError(f"unknown field {name!r} in the filter (expected {head}.type or {head}.labels.NAME)")
    if cmp.op not in ("=", "!=", "<", "<=", ">", ">=", ":"):
        raise FilterError(f"operator {cmp.op!r} is not supported in a Monitoring filter ({name})")
    value = cmp.value
    if isinstance(value, Func):
        if value.name not in _MON_FUNCS:
            raise FilterError(f"unknown function {value.name}() in the filter")
        if not value.args or not all(isinstance(a, str) for a in value.args):
            raise FilterError(f"{value.name}() takes quoted strings")
        if value.name != "one_of" and len(value.args) != 1:
            raise FilterError(f"{value.name}() takes exactly one string")
        if cmp.op not in ("=", "!="):
            raise FilterError(f"{value.name}() can only be used with = or != ({name})")
        if value.name == "monitoring.regex.full_match":
            try:
                re.compile(value.args[0])
            except re.error as exc:
                raise FilterError(f"bad regular expression in monitoring.regex.full_match(): {exc}") from None
    return Compare(path, cmp.op, value, cmp.text)


def metric_type_of(node: Node) -> str:
    """The one metric type a Monitoring filter selects (a top-level `metric.type = "..."`)."""
    found = [c.value for c in conjuncts(node)
             if isinstance(c, Compare) and c.path == ("metric", "type") and c.op == "=" and isinstance(c.value, str)]
    if len(found) != 1:
        raise FilterError('the filter must select exactly one metric type with metric.type = "..."')
    return found[0]


# ---------------------------------------------------------------------------------------------
# Logging


SEVERITIES = {
    "DEFAULT": 0, "DEBUG": 100, "INFO": 200, "NOTICE": 300, "WARNING": 400,
    "ERROR": 500, "CRITICAL": 600, "ALERT": 700, "EMERGENCY": 800,
}

_LOG_TOP = {
    "logName", "resource", "timestamp", "receiveTimestamp", "severity", "insertId", "httpRequest",
    "labels", "operation", "trace", "spanId", "traceSampled", "sourceLocation", "textPayload",
    "jsonPayload", "protoPayload",
}
_CAMEL_CHILDREN = {"httpRequest", "operation", "sourceLocation"}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def parse_logging(text: str) -> Node:
    """Parse a Cloud Logging filter (the subset in this module's docstring)."""
    node = _Parser(text, "logging").parse()
    return _rewrite(node, _logging_compare)


def _logging_compare(cmp: Compare) -> Compare:
    if cmp.op == "log_id":
        return cmp
    path = list(cmp.path)
    path[0] = _camel(path[0])
    name = ".".join(cmp.path)
    if path[0] not in _LOG_TOP:
        raise FilterError(f"unknown field {name!r} in the filter")
    if path[0] in _CAMEL_CHILDREN and len(path) > 1:
        path[1] = _camel(path[1])
    if path[0] == "resource" and len(path) > 1 and path[1] == "label":
        path[1] = "labels"
    value = cmp.value
    if isinstance(value, Func):
        raise FilterError(f"unsupported function {value.name}() in the filter")
    if cmp.op in ("=~", "!~"):
        try:
            re.compile(str(value))
        except re.error as exc:
            raise FilterError(f"bad regular expression for {name}: {exc}") from None
    if path[0] == "severity" and cmp.op != ":":
        value = severity_number(value)
    elif path[0] in ("timestamp", "receiveTimestamp") and cmp.op not in (":", "=~", "!~"):
        value = parse_timestamp(str(value))
    return Compare(tuple(path), cmp.op, value, cmp.text)


def severity_number(value: Any) -> int:
    if isinstance(value, (int, float)):
        return int(value)
    number = SEVERITIES.get(str(value).upper())
    if number is None:
        raise FilterError(f"unknown severity {value!r} (use one of {', '.join(SEVERITIES)} or a number)")
    return number


def parse_timestamp(text: str) -> float:
    """RFC 3339 (`2026-03-01T12:00:00Z`, `...+02:00`, fractional seconds) → unix seconds."""
    raw = text.strip()
    s = raw[:-1] + "+00:00" if raw[-1:] in ("Z", "z") else raw
    m = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)", s)
    frac = 0.0
    if m:
        s = m.group(1) + m.group(3)
        frac = float(m.group(2)) if m.group(2) else 0.0
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise FilterError(f"{raw!r} is not an RFC 3339 timestamp (e.g. \"2026-03-01T12:00:00Z\")") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp() + frac


def log_name_matches(actual: str, wanted: str) -> bool:
    """logName comparison that treats `%2F` and `/` in the log id alike."""
    return actual == wanted or unquote(actual) == unquote(wanted)


# ---------------------------------------------------------------------------------------------
# Rewriting, inspection, evaluation


def _rewrite(node: Node, fn: Callable[[Compare], Compare]) -> Node:
    if isinstance(node, Compare):
        return fn(node)
    if isinstance(node, And):
        return And(tuple(_rewrite(p, fn) for p in node.parts))
    if isinstance(node, Or):
        return Or(tuple(_rewrite(p, fn) for p in node.parts))
    if isinstance(node, Not):
        return Not(_rewrite(node.part, fn))
    return node


def conjuncts(node: Node) -> list[Node]:
    """The terms that must all hold (the top-level AND), for narrowing work before evaluating."""
    if isinstance(node, And):
        out: list[Node] = []
        for part in node.parts:
            out.extend(conjuncts(part))
        return out
    if isinstance(node, TrueNode):
        return []
    return [node]


def allowed_values(node: Node, path: tuple[str, ...]) -> set[str] | None:
    """The values a top-level conjunct pins `path` to (`= "x"` or `= one_of(...)`), else None."""
    allowed: set[str] | None = None
    for term in conjuncts(node):
        if not isinstance(term, Compare) or term.path != path or term.op != "=":
            continue
        if isinstance(term.value, str):
            vals = {term.value}
        elif isinstance(term.value, Func) and term.value.name == "one_of":
            vals = {str(a) for a in term.value.args}
        elif isinstance(term.value, (int, float)):
            vals = {str(term.value)}
        else:
            continue
        allowed = vals if allowed is None else allowed & vals
    return allowed


def time_bounds(node: Node, path: tuple[str, ...] = ("timestamp",)) -> tuple[float | None, float | None]:
    """(lowest, highest) a top-level conjunct allows for a numeric field such as timestamp."""
    lo: float | None = None
    hi: float | None = None
    for term in conjuncts(node):
        if not isinstance(term, Compare) or term.path != path or not isinstance(term.value, (int, float)):
            continue
        v = float(term.value)
        if term.op in (">", ">=", "="):
            lo = v if lo is None else max(lo, v)
        if term.op in ("<", "<=", "="):
            hi = v if hi is None else min(hi, v)
    return lo, hi


_MISSING = object()


def lookup(record: Any, path: tuple[str, ...]) -> Any:
    cur = record
    for seg in path:
        if isinstance(cur, dict):
            if seg not in cur:
                return _MISSING
            cur = cur[seg]
        else:
            return _MISSING
    return cur


def matches(node: Node, record: dict) -> bool:
    """Does the record (nested dicts keyed like the filter's field paths) satisfy the filter?"""
    if isinstance(node, Compare):
        return _compare(lookup(record, node.path), node)
    if isinstance(node, And):
        return all(matches(p, record) for p in node.parts)
    if isinstance(node, Or):
        return any(matches(p, record) for p in node.parts)
    if isinstance(node, Not):
        return not matches(node.part, record)
    if isinstance(node, Text):
        needle = node.value.lower()
        return any(needle in s.lower() for s in _texts(record))
    return True


def _texts(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _texts(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _texts(v)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def _compare(actual: Any, cmp: Compare) -> bool:
    op, want = cmp.op, cmp.value
    if op == "log_id":
        if not isinstance(actual, str):
            return False
        return unquote(actual).endswith("/logs/" + unquote(str(want)))
    if actual is _MISSING or actual is None:
        if op == ":" and want == "*":
            return False
        return op in ("!=", "!~")
    if isinstance(actual, (list, tuple)):
        if op in ("!=", "!~"):
            return all(_compare(a, cmp) for a in actual)
        return any(_compare(a, cmp) for a in actual)
    if isinstance(want, Func):
        return _func_match(actual, want) == (op == "=")
    if op == ":":
        if want == "*":
            return True
        if isinstance(actual, dict):
            return str(want) in actual
        return str(want).lower() in _as_text(actual).lower()
    if op in ("=~", "!~"):
        found = re.search(str(want), _as_text(actual)) is not None
        return found == (op == "=~")
    if cmp.path == ("logName",) and op in ("=", "!=") and isinstance(actual, str):
        return log_name_matches(actual, str(want)) == (op == "=")
    a, b = _coerce(actual, want)
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    try:
        if op == "<":
            return a < b
        if op == "<=":
            return a <= b
        if op == ">":
            return a > b
        if op == ">=":
            return a >= b
    except TypeError:
        return False
    return False


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _coerce(actual: Any, want: Any) -> tuple[Any, Any]:
    if isinstance(actual, bool):
        return _as_text(actual), _as_text(want).lower()
    if isinstance(actual, (int, float)):
        if isinstance(want, (int, float)):
            return actual, want
        try:
            return actual, float(str(want))
        except ValueError:
            return _as_text(actual), str(want)
    if isinstance(want, (int, float)):
        try:
            return float(str(actual)), want
        except ValueError:
            return str(actual), _as_text(want)
    return str(actual), str(want)


def _func_match(actual: Any, func: Func) -> bool:
    text = _as_text(actual)
    arg = str(func.args[0])
    if func.name == "starts_with":
        return text.startswith(arg)
    if func.name == "ends_with":
        return text.endswith(arg)
    if func.name == "has_substring":
        return arg in text
    if func.name == "one_of":
        return text in {str(a) for a in func.args}
    if func.name == "monitoring.regex.full_match":
        return re.fullmatch(arg, text) is not None
    return False
