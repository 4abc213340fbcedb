"""The Glance sandbox's own server-side query engine (``queryString``).

Independent of any client-side parser: it reads what the real server is known
to accept (the ``queryString`` operators of its ``api.yml``) and is lenient about the rest.

Grammar, as parsed here::

    expr     := and ( OR and )*            OR binds loosest
    and      := term ( AND term )*
    term     := "(" expr ")" | cond
    cond     := field OP value | field LISTOP "[" item ("," item)* "]"
    field    := "quoted" | bare            dot-path, e.g. groups.leadingGroup.name
    OP       := = | != | contain | not-contain
    LISTOP   := in | not in                (an extension the real server lacks: only with list_operators)
    value    := "quoted" | bare            bare: up to whitespace, ( ) or "
    item     := "quoted" | bare            bare: up to , or ] (surrounding blanks dropped)

``AND``/``OR`` and the word operators are case-insensitive unless ``strict``
(then only upper-case ``AND``/``OR`` and lower-case operators). Matching is
case-insensitive. A path through a list matches when any element matches;
``!=``, ``not-contain`` and ``not in`` are the per-record complement of the
positive test ("no element matches"), and by default never match a record
whose field is null or empty (SQL-like; see ``null_matches_negation``).
``__EMPTY__`` as the value of ``=``/``!=`` tests for null/empty. Status and
state fields match both the display label and the raw value. Dates match on
``YYYY-MM-DD`` only, even for datetime fields.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from typing import Any, Callable, Iterable
from urllib.parse import unquote_plus

EMPTY = "__empty__"
_WS = " \t\r\n\f\v"
_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ]\d{2}:\d{2}")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class QueryError(ValueError):
    """A query the server rejects with 400."""


class QueryCrash(RuntimeError):
    """A query on which the real server crashes with 500 (emulated quirk)."""


@dataclasses.dataclass(frozen=True)
class Cond:
    field: str
    op: str          # "=", "!=", "contain", "not-contain", "in", "not in"
    values: tuple    # one value, or the list items; lower-cased


@dataclasses.dataclass(frozen=True)
class BoolOp:
    op: str          # "and" / "or"
    args: tuple


# -- parsing ---------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, strict: bool, list_operators: bool = True):
        self.s = text
        self.i = 0
        self.strict = strict
        self.list_operators = list_operators

    def error(self, msg: str) -> QueryError:
        near = self.s[self.i:self.i + 30]
        return QueryError(f"{msg} at position {self.i}" + (f" near '{near}'" if near else " (end of query)"))

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in _WS:
            self.i += 1

    def at_end(self) -> bool:
        self.ws()
        return self.i >= len(self.s)

    def word(self, word: str) -> bool:
        """Consume a keyword if it is next, followed by a boundary."""
        self.ws()
        end = self.i + len(word)
        chunk = self.s[self.i:end]
        if self.strict:
            ok = chunk == word
        else:
            ok = chunk.lower() == word.lower()
        if ok and (end >= len(self.s) or self.s[end] in _WS + '("['):
            self.i = end
            return True
        return False

    def quoted(self) -> str:
        assert self.s[self.i] == '"'
        end = self.s.find('"', self.i + 1)
        if end < 0:
            raise self.error("unterminated quoted string")
        text = self.s[self.i + 1:end]
        self.i = end + 1
        return text

    def parse(self) -> Any:
        if self.at_end():
            raise self.error("empty query")
        node = self.expr()
        if not self.at_end():
            raise self.error("expected AND or OR")
        return node

    def expr(self) -> Any:
        args = [self.conj()]
        while self.word("OR"):
            args.append(self.conj())
        return args[0] if len(args) == 1 else BoolOp("or", tuple(args))

    def conj(self) -> Any:
        args = [self.term()]
        while self.word("AND"):
            args.append(self.term())
        return args[0] if len(args) == 1 else BoolOp("and", tuple(args))

    def term(self) -> Any:
        self.ws()
        if self.i < len(self.s) and self.s[self.i] == "(":
            self.i += 1
            node = self.expr()
            self.ws()
            if self.i >= len(self.s) or self.s[self.i] != ")":
                raise self.error("missing ')'")
            self.i += 1
            return node
        return self.cond()

    def field(self) -> str:
        self.ws()
        if self.i >= len(self.s):
            raise self.error("expected a field name")
        if self.s[self.i] == '"':
            return self.quoted().strip()
        m = _FIELD.match(self.s, self.i)
        if not m:
            raise self.error("expected a field name")
        self.i = m.end()
        return m.group(0)

    def operator(self) -> str:
        self.ws()
        s = self.s
        if s.startswith("!=", self.i):
            self.i += 2
            return "!="
        if s.startswith("=", self.i):
            if s.startswith("==", self.i):
                raise self.error("unknown operator '=='")
            self.i += 1
            return "="
        m = re.compile(r"(not-contain|contain|not[ \t]+in|in)(?=[\s\"\[(]|$)",
                       0 if self.strict else re.IGNORECASE).match(s, self.i)
        if not m:
            raise self.error("expected an operator (=, !=, contain, not-contain, in, not in)")
        self.i = m.end()
        return " ".join(m.group(1).lower().split())

    def value(self) -> str:
        self.ws()
        if self.i >= len(self.s):
            raise self.error("expected a value")
        if self.s[self.i] == '"':
            return self.quoted()
        start = self.i
        while self.i < len(self.s) and self.s[self.i] not in _WS + '()"':
            self.i += 1
        if self.i == start:
            raise self.error("expected a value")
        return self.s[start:self.i]

    def items(self) -> list[str]:
        self.ws()
        if self.i >= len(self.s) or self.s[self.i] != "[":
            raise self.error("expected '[' after in")
        self.i += 1
        items = []
        while True:
            self.ws()
            if self.i < len(self.s) and self.s[self.i] == '"':
                items.append(self.quoted())
            else:
                start = self.i
                while self.i < len(self.s) and self.s[self.i] not in ',]"':
                    self.i += 1
                item = self.s[start:self.i].strip(_WS)
                if not item:
                    raise self.error("empty list item")
                items.append(item)
            self.ws()
            if self.i < len(self.s) and self.s[self.i] == ",":
                self.i += 1
                continue
            if self.i < len(self.s) and self.s[self.i] == "]":
                self.i += 1
                return items
            raise self.error("expected ',' or ']' in list")

    def cond(self) -> Cond:
        field = self.field()
        start = self.i
        op = self.operator()
        if op in ("in", "not in") and not self.list_operators:
            self.i = start
            raise self.error("expected an operator (=, !=, contain, not-contain)")
        if op in ("in", "not in"):
            vals = self.items()
        else:
            vals = [self.value()]
        return Cond(field, op, tuple(v.lower() for v in vals))


def check_paren_quirk(text: str) -> None:
    """ATGLANCE-8337: a parenthesis touching a bare token makes the real server fail."""
    quoted = False
    for k, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "(":
            nxt = text[k + 1:k + 2]
            if nxt and nxt not in _WS + '("':
                raise QueryCrash("parenthesis directly followed by a bare token")
        elif not quoted and ch == ")":
            prev = text[k - 1:k] if k else ""
            if prev and prev not in _WS + ')"':
                raise QueryCrash("parenthesis directly preceded by a bare token")


def parse(text: str, *, strict: bool = False, paren_quirk: bool = False,
          double_decode: bool = False, list_operators: bool = True) -> Any:
    """Parse a ``queryString`` into a tree of `Cond`/`BoolOp`; raise `QueryError` (400)."""
    if double_decode:  # ATGLANCE-8333: the real server URL-decodes twice
        # so '+' becomes a blank, and a '?' reaches the match mangled: neither ever matches.
        text = unquote_plus(text).replace("?", "\ufffd")
    if paren_quirk:
        check_paren_quirk(text)
    return _Parser(text, strict, list_operators).parse()


def fields_of(node: Any) -> Iterable[Cond]:
    if isinstance(node, Cond):
        yield node
    else:
        for arg in node.args:
            yield from fields_of(arg)


# -- evaluation ------------------------------------------------------------------


def _leaves(obj: Any, parts: list[str], k: int, out: list) -> None:
    if obj is None:
        return
    if isinstance(obj, list):
        for el in obj:
            _leaves(el, parts, k, out)
        return
    if k == len(parts):
        out.append(obj)
        return
    if isinstance(obj, dict):
        _leaves(obj.get(parts[k]), parts, k + 1, out)


def leaf_values(record: dict, path: str) -> list:
    """Every non-null value at a dot-path; lists anywhere along the path fan out."""
    out: list = []
    _leaves(record, path.split("."), 0, out)
    return out


def _norm(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    m = _DATETIME.match(text)
    if m:  # ATGLANCE-8333: dates match on YYYY-MM-DD only
        return m.group(1)
    return text.lower()


def field_catalogue(records: list[dict]) -> tuple[set[str], set[str]]:
    """(all searchable dot-paths, boolean ones), from the records themselves."""
    kinds: dict[str, set] = {}

    def walk(obj: Any, prefix: str) -> None:
        if isinstance(obj, list):
            for el in obj:
                walk(el, prefix)
            if not obj and prefix:
                kinds.setdefault(prefix, set())
            return
        if isinstance(obj, dict) and (obj or not prefix):
            for key, val in obj.items():
                walk(val, f"{prefix}.{key}" if prefix else key)
            return
        if prefix:
            kinds.setdefault(prefix, set()).add(type(obj).__name__ if obj is not None else "none")

    for rec in records:
        walk(rec, "")
    # paths that are only ever containers in some records and leaves (None/[]/{}) in others
    containers = {p.rsplit(".", 1)[0] for p in kinds if "." in p}
    fields = set(kinds)
    booleans = {p for p, k in kinds.items() if "bool" in k and k <= {"bool", "none"}}
    return fields | containers, booleans


class Collection:
    """The records of one endpoint with cached per-field value sets and sort orders."""

    def __init__(self, mode: str, records: list[dict], *, equivalents: dict[str, dict[str, set[str]]],
                 fields: set[str] | None = None, booleans: set[str] | None = None,
                 rejected: dict[str, str] | None = None,
                 getters: dict[str, Callable[[dict], list]] | None = None):
        self.mode = mode
        self.records = records
        if fields is None or booleans is None:
            cat_fields, cat_booleans = field_catalogue(records)
            fields = cat_fields if fields is None else fields
            booleans = cat_booleans if booleans is None else booleans
        self.fields, self.booleans = set(fields), set(booleans)
        self.rejected = dict(rejected or {})
        self.getters = dict(getters or {})
        self.equivalents = equivalents  # field -> label (lower) -> {label, raw values} (lower)
        self._columns: dict[str, list[frozenset]] = {}
        self._orders: dict[tuple[str, bool], list[int]] = {}
        self._lock = threading.Lock()

    def _values(self, record: dict, path: str) -> list:
        getter = self.getters.get(path)
        return getter(record) if getter else leaf_values(record, path)

    def column(self, path: str) -> list[frozenset]:
        col = self._columns.get(path)
        if col is None:
            eq = self.equivalents.get(path)
            col = []
            for rec in self.records:
                vals = {_norm(v) for v in self._values(rec, path)}
                if eq:
                    vals = set().union(*(eq.get(v, {v}) for v in vals)) if vals else vals
                col.append(frozenset(vals))
            with self._lock:
                self._columns[path] = col
        return col

    def check_field(self, path: str) -> None:
        if path in self.rejected:
            raise QueryError(self.rejected[path])
        if path not in self.fields:
            raise QueryError(f"Unknown field '{path}' for {self.mode} search")

    def select(self, node: Any, *, null_matches_negation: bool = False) -> set[int] | None:
        """Indices of matching records (None: all)."""
        if node is None:
            return None
        for cond in fields_of(node):
            self.check_field(cond.field)
            if cond.field in self.booleans:
                if cond.op not in ("=", "!=", "in", "not in"):
                    raise QueryError(f"Field '{cond.field}' is boolean: only '=' and '!=' are supported, "
                                     f"got '{cond.op}'")
                bad = [v for v in cond.values if v not in ("true", "false", EMPTY)]
                if bad:
                    raise QueryError(f"Field '{cond.field}' is boolean: value must be true or false, got '{bad[0]}'")
        return self._eval(node, null_matches_negation)

    def _eval(self, node: Any, nulls: bool) -> set[int]:
        if isinstance(node, BoolOp):
            sets = [self._eval(a, nulls) for a in node.args]
            if node.op == "and":
                out = sets[0]
                for s in sets[1:]:
                    out = out & s
                return out
            return set().union(*sets)
        col = self.column(node.field)
        op, vals = node.op, node.values
        if op in ("=", "!=") and vals[0] == EMPTY:
            hit = [i for i, v in enumerate(col) if not v]
            return set(hit) if op == "=" else set(range(len(col))) - set(hit)
        if op in ("=", "in"):
            return {i for i, v in enumerate(col) if any(x in v for x in vals)}
        if op in ("!=", "not in"):
            return {i for i, v in enumerate(col) if (v or nulls) and not any(x in v for x in vals)}
        target = vals[0]
        if op == "contain":
            return {i for i, v in enumerate(col) if any(target in s for s in v)}
        if op == "not-contain":
            return {i for i, v in enumerate(col) if (v or nulls) and not any(target in s for s in v)}
        raise QueryError(f"unknown operator {op!r}")  # pragma: no cover

    def order(self, sort_by: str | None, desc: bool) -> list[int]:
        """Record indices in the requested order; records without the field go last."""
        if not sort_by:
            return list(range(len(self.records)))
        self.check_field(sort_by)
        key = (sort_by, desc)
        cached = self._orders.get(key)
        if cached is not None:
            return cached
        firsts = []
        for rec in self.records:
            vals = self._values(rec, sort_by)
            firsts.append(_norm(vals[0]) if vals else None)
        present = [i for i, v in enumerate(firsts) if v is not None]
        absent = [i for i, v in enumerate(firsts) if v is None]
        # case-insensitive; ties keep record order (also when reversed: sort is stable)
        present.sort(key=lambda i: firsts[i], reverse=desc)
        result = present + absent
        with self._lock:
            self._orders[key] = result
        return result
