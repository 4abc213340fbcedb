"""Client-side query language of the Glance module.

Glance's search endpoints take a ``queryString`` written in a small language
of conditions (``field OP value``) joined with ``AND``/``OR``.  This module
parses that language (in the lenient, superset form that ``stare`` users
know), checks it against the catalogue of searchable fields of a *mode*
(``analysis``, ``paper``, ...), and writes it back in one canonical form
that avoids the known quirks of the real server.  It does no network I/O.

Parsing
-------
>>> from astroquery_ext.glance.dsl import parse, F, modes, fields
>>> expr = parse('status = "Phase 0 Active" and groups.leading_group.name in [SUSY, EXOT]',
...              "analysis")
>>> expr.to_dsl()
'status = "Phase 0 Active" AND ( groups.leadingGroup.name = SUSY OR groups.leadingGroup.name = EXOT )'
>>> expr
And(Comparison('status', '=', 'Phase 0 Active'), Or(Comparison('groups.leadingGroup.name', '=', 'SUSY'), Comparison('groups.leadingGroup.name', '=', 'EXOT')))

Errors are :class:`DSLError` (a :class:`ValueError`); syntax errors point
at the offending place:

>>> parse("status == Active", "analysis")
Traceback (most recent call last):
  ...
astroquery_ext.glance.dsl.DSLError: invalid query at column 11: expected AND, OR or the end of the query, found 'Active'
    status == Active
              ^
hint: did you mean '='? The operators are =, !=, contain, not-contain, in [...], not in [...]

>>> parse("referenceCod = ANA-SUSY-2019-01", "analysis")
Traceback (most recent call last):
  ...
astroquery_ext.glance.dsl.DSLError: unknown field 'referenceCod' for mode 'analysis'; did you mean 'referenceCode'?
    referenceCod = ANA-SUSY-2019-01
    ^^^^^^^^^^^^

Building queries in Python
--------------------------
:class:`F` names a field; comparing it builds a
:class:`Comparison`; ``&`` and ``|`` combine expressions (as in numpy, use
``&``/``|``, not ``and``/``or``, and parenthesise comparisons).

>>> q = (F("status") == "Phase 0 Active") & F("metadata.keywords.name").contains("Higgs")
>>> q.to_dsl(mode="analysis")
'status = "Phase 0 Active" AND metadata.keywords.name contain Higgs'
>>> q2 = F("groups.leading_group.name").isin(["SUSY", "EXOT"]) & (F("phase_0.state") != "closed")
>>> q2.to_dsl(mode="analysis")
'( groups.leadingGroup.name = SUSY OR groups.leadingGroup.name = EXOT ) AND phase0.state != closed'
>>> q2 == parse("groups.leadingGroup.name in [SUSY,EXOT] AND phase0.state != closed", "analysis")
True
>>> (F("analysis_team.is_contact_editor") == True).to_dsl(mode="analysis")
'analysisTeam.isContactEditor = true'
>>> (F("publicShortTitle") == None).to_dsl()          # __EMPTY__ compares with NULL
'publicShortTitle = __EMPTY__'

Builder expressions are checked against a mode by :meth:`Expression.validate`
or by ``to_dsl(mode=...)``; ``to_dsl()`` with no mode checks syntax only.

>>> (F("analysisTeam.isContactEditor").contains("x")).to_dsl(mode="analysis")
Traceback (most recent call last):
  ...
astroquery_ext.glance.dsl.DSLError: field 'analysisTeam.isContactEditor' is boolean: only '=' and '!=' are allowed (got 'contain')

The catalogue:

>>> modes()
('analysis', 'confnote', 'leadinggroup', 'paper', 'plot', 'publication', 'pubnote', 'subgroup', 'trigger')
>>> fields("trigger")
('category.name', 'name', 'year')

Canonical form (what :meth:`Expression.to_dsl` sends)
-----------------------------------------------------
* ``field op value`` with single spaces; fields bare, in camelCase;
  operators lower-case; ``AND``/``OR`` upper-case.
* A value is bare only if it is made of letters, digits and ``_ . : / @ -``
  and is not a word of the language (``and``, ``or``, ``contain``,
  ``not-contain``, ``in``, ``not``); otherwise it is double-quoted.  Quoting
  is always allowed by the server, so quoting anything unusual is the safe
  side of its undocumented tokenizer.  ``__EMPTY__`` is always bare.
* ``AND`` binds tighter than ``OR``.  An ``OR`` group inside an ``AND`` is
  written ``( ... )`` with a space inside each parenthesis: a parenthesis
  touching a bare token makes the real server fail (ATGLANCE-8337).  No other
  parentheses are written.
* ``in [...]`` / ``not in [...]`` are expanded into ``OR`` of ``=`` / ``AND``
  of ``!=`` (the server has no list operator).
* Boolean values are written ``true``/``false``.

Values that contain ``"``, a tab or a line break cannot be expressed at all
(the language has no escapes) and raise :class:`DSLError`.  Values with
``+``, ``?`` or ``%XX`` are sent but cannot match on the real server, which
URL-decodes the query twice (ATGLANCE-8333); they emit a :class:`DSLWarning`.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import functools
import math
import numbers
import re
import sys
import tomllib
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "EMPTY",
    "OPERATORS",
    "And",
    "Comparison",
    "DSLError",
    "DSLWarning",
    "Expression",
    "F",
    "Or",
    "boolean_fields",
    "fields",
    "modes",
    "normalize_field",
    "parse",
]

#: The value that compares a field with NULL (``field = __EMPTY__``).
EMPTY = "__EMPTY__"

#: The comparison operators of the server language, in canonical spelling.
OPERATORS = ("=", "!=", "contain", "not-contain")

_OPERATOR_LIST = "=, !=, contain, not-contain, in [...], not in [...]"
_MAX_DEPTH = 200  # nesting of parentheses the parser accepts (it recurses)
_CATALOGUE_PATH = Path(__file__).with_name("data") / "query-fields.toml"

# Fields present in the catalogue that the server refuses to filter on
# (api.yml: filtering publications on these answers 400).
_REJECTED_FIELDS = {
    "publication": {
        "temporaryReferenceCode": "use 'referenceCode', which matches the temporary or final code",
        "finalReferenceCode": "use 'referenceCode', which matches the temporary or final code",
    },
}


# --------------------------------------------------------------------------
# errors


class DSLError(ValueError):
    """An invalid query: bad syntax, unknown field, or unusable operator/value.

    Attributes
    ----------
    reason : str
        The one-line explanation, without the query excerpt.
    query : str or None
        The query text, when the error comes from :func:`parse`.
    position : int or None
        0-based offset into ``query`` of the problem.
    end : int or None
        End offset of the offending token, when it spans more than one character.
    hint : str or None
        A suggestion, when there is one.
    """

    def __init__(self, reason: str, *, query: str | None = None, position: int | None = None,
                 end: int | None = None, hint: str | None = None):
        self.reason = reason
        self.query = query
        self.position = position
        self.end = end
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        lines = [self.reason]
        if self.query is not None and self.position is not None:
            q, pos = self.query, self.position
            start = q.rfind("\n", 0, pos) + 1
            stop = q.find("\n", pos)
            stop = len(q) if stop < 0 else stop
            line = q[start:stop]
            shown = "".join(" " if c in "\r\f\v" else c for c in line)
            pad = "".join("\t" if c == "\t" else " " for c in line[: pos - start])
            width = 1 if self.end is None else max(1, min(self.end, stop) - pos)
            lines += ["    " + shown, "    " + pad + "^" * width]
        if self.hint:
            lines.append("hint: " + self.hint)
        return "\n".join(lines)


class DSLWarning(UserWarning):
    """A query that is valid but will not do what it says on the real server."""


# --------------------------------------------------------------------------
# catalogue


@functools.cache
def _catalogue() -> dict[str, tuple[tuple[str, ...], frozenset[str]]]:
    with open(_CATALOGUE_PATH, "rb") as fh:
        raw = tomllib.load(fh)
    out = {}
    for mode, table in raw.items():
        rejected = _REJECTED_FIELDS.get(mode, {})
        names = tuple(sorted(f for f in table.get("fields", ()) if f not in rejected))
        out[mode] = (names, frozenset(table.get("boolean_fields", ())))
    return out


def modes() -> tuple[str, ...]:
    """The query modes (one per search endpoint), sorted."""
    return tuple(sorted(_catalogue()))


def _mode(mode: str) -> str:
    if isinstance(mode, str) and mode.lower() in _catalogue():
        return mode.lower()
    close = difflib.get_close_matches(str(mode).lower(), modes(), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise DSLError(f"unknown query mode {mode!r}{hint} (modes: {', '.join(modes())})")


def fields(mode: str) -> tuple[str, ...]:
    """The searchable fields of ``mode`` (camelCase dot-paths, sorted)."""
    return _catalogue()[_mode(mode)][0]


def boolean_fields(mode: str) -> tuple[str, ...]:
    """The fields of ``mode`` that only take ``=``/``!=`` with ``true``/``false``."""
    return tuple(sorted(_catalogue()[_mode(mode)][1]))


def _suggest(name: str, candidates: Iterable[str]) -> list[str]:
    candidates = list(candidates)
    low = name.lower()
    found = [c for c in candidates if c.lower() == low]
    # a path suffix or an inner segment run: 'keywords.name' -> 'metadata.keywords.name'
    found += [c for c in candidates if low and f".{low}." in f".{c.lower()}." and c not in found]
    found += [c for c in difflib.get_close_matches(name, candidates, n=3) if c not in found]
    return found[:4]


def _did_you_mean(names: list[str]) -> str:
    if not names:
        return ""
    quoted = [repr(n) for n in names]
    if len(quoted) == 1:
        return f"; did you mean {quoted[0]}?"
    return f"; did you mean {', '.join(quoted[:-1])} or {quoted[-1]}?"


# --------------------------------------------------------------------------
# field names and values

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_CAMEL_GAP_RE = re.compile(r"(?<=[A-Za-z0-9])_(?=[0-9A-Z])")
_BARE_SAFE_RE = re.compile(r"[\w.:/@-]+")
_KEYWORDS = frozenset({"and", "or", "contain", "not-contain", "in", "not"})
_UNREPRESENTABLE = '"\n\r\t\f\v'
_DOUBLE_DECODED_RE = re.compile(r"[+?]|%[0-9A-Fa-f]{2}")


def _segment_to_camel(segment: str) -> str:
    # title-case every run of letters, drop the '_' between a letter/digit and a
    # digit/capital, then lower-case the first letter after leading underscores.
    s = _CAMEL_GAP_RE.sub("", segment.title())
    i = len(s) - len(s.lstrip("_"))
    return s[:i] + s[i : i + 1].lower() + s[i + 1 :]


def normalize_field(name: str) -> str:
    """Normalise a field path: each dot-segment containing ``_`` becomes camelCase.

    Segments without ``_`` are kept as written (the catalogue is case-sensitive).

    >>> normalize_field("phase_0.editorial_board.is_chair")
    'phase0.editorialBoard.isChair'
    >>> normalize_field("PUBLIC_SHORT_TITLE")
    'publicShortTitle'
    """
    if not isinstance(name, str):
        raise TypeError(f"a field name must be a str, not {type(name).__name__}")
    return ".".join(_segment_to_camel(s) if "_" in s else s for s in name.split("."))


def _check_field_syntax(name: str) -> None:
    if not _IDENT_RE.fullmatch(name):
        raise DSLError(f"invalid field name {name!r}: expected dot-separated identifiers "
                       "such as 'groups.leadingGroup.name'")


def _check_value_representable(value: str) -> None:
    bad = next((c for c in value if c in _UNREPRESENTABLE), None)
    if bad is not None:
        what = "a double quote" if bad == '"' else f"the control character {bad!r}"
        raise DSLError(f"value {value!r} contains {what}, which the Glance query language "
                       "cannot express (it has no escapes)")


def _coerce_value(value: object) -> str:
    """Turn a Python value from the builder into the DSL value string."""
    if value is None:
        return EMPTY
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, _dt.datetime):
        raise DSLError(f"{value!r}: the server matches dates on YYYY-MM-DD only; "
                       "pass a datetime.date (e.g. value.date())")
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, numbers.Number):
        if isinstance(value, float) and not math.isfinite(value):
            raise DSLError(f"cannot compare with the non-finite number {value!r}")
        return str(value)
    raise TypeError(f"cannot use a {type(value).__name__} as a query value; "
                    "use str, int, float, bool, datetime.date or None (for __EMPTY__)")


def _format_value(value: str) -> str:
    if value == EMPTY or (_BARE_SAFE_RE.fullmatch(value) and value.lower() not in _KEYWORDS):
        return value
    return f'"{value}"'


# --------------------------------------------------------------------------
# expression tree


class Expression:
    """Base class of query expressions: :class:`Comparison`, :class:`And`, :class:`Or`.

    Expressions are immutable and compare equal when they have the same
    structure.  ``a & b`` and ``a | b`` combine them.
    """

    __slots__ = ()

    def __and__(self, other: Expression) -> And:
        if not isinstance(other, Expression):
            return NotImplemented
        return And(self, other)

    def __or__(self, other: Expression) -> Or:
        if not isinstance(other, Expression):
            return NotImplemented
        return Or(self, other)

    def __bool__(self) -> bool:
        raise TypeError("a query expression has no truth value: combine expressions with "
                        "& and | (not 'and'/'or'), and parenthesise comparisons")

    def __str__(self) -> str:
        return self.to_dsl()

    def to_dsl(self, mode: str | None = None) -> str:
        """The canonical query string; validated against ``mode`` first if given."""
        if mode is not None:
            return self.validate(mode).to_dsl()
        return self._dsl()

    def validate(self, mode: str) -> Expression:
        """Check the expression against the catalogue of ``mode``.

        Returns the expression with values canonicalised for the mode
        (boolean values lower-cased); raises :class:`DSLError`.
        """
        raise NotImplementedError

    def comparisons(self) -> Iterator[Comparison]:
        """The comparisons of the expression, left to right."""
        raise NotImplementedError

    def _dsl(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True, slots=True, repr=False)
class Comparison(Expression):
    """``field op value``.

    ``field`` is normalised (snake_case segments to camelCase), ``op`` is one
    of :data:`OPERATORS` (any case), ``value`` a string (use :data:`EMPTY` for
    NULL).
    """

    field: str
    op: str
    value: str

    def __post_init__(self):
        field = normalize_field(self.field)
        _check_field_syntax(field)
        op = self.op.lower() if isinstance(self.op, str) else self.op
        if op not in OPERATORS:
            raise DSLError(f"unknown operator {self.op!r}; the operators are {', '.join(OPERATORS)}")
        if not isinstance(self.value, str):
            raise TypeError(f"Comparison value must be a str, not {type(self.value).__name__} "
                            "(the F(...) builder converts other types)")
        _check_value_representable(self.value)
        object.__setattr__(self, "field", field)
        object.__setattr__(self, "op", op)

    def __repr__(self) -> str:
        return f"Comparison({self.field!r}, {self.op!r}, {self.value!r})"

    def _dsl(self) -> str:
        return f"{self.field} {self.op} {_format_value(self.value)}"

    def comparisons(self) -> Iterator[Comparison]:
        yield self

    def validate(self, mode: str) -> Comparison:
        value = _check_comparison(self.field, self.op, self.value, _mode(mode))
        _check_value_semantics(self)
        return self if value == self.value else Comparison(self.field, self.op, value)


class _Junction(Expression):
    __slots__ = ()
    operands: tuple[Expression, ...]

    def __init__(self, *operands: Expression):
        flat: list[Expression] = []
        for op in operands:
            if isinstance(op, type(self)):
                flat.extend(op.operands)
            elif isinstance(op, Expression):
                flat.append(op)
            else:
                raise TypeError(f"{type(self).__name__} operands must be expressions, "
                                f"not {type(op).__name__}")
        if len(flat) < 2:
            raise DSLError(f"{type(self).__name__} needs at least two operands")
        object.__setattr__(self, "operands", tuple(flat))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.operands))})"

    def comparisons(self) -> Iterator[Comparison]:
        for op in self.operands:
            yield from op.comparisons()

    def validate(self, mode: str) -> Expression:
        mode = _mode(mode)
        return type(self)(*(op.validate(mode) for op in self.operands))


@dataclass(frozen=True, slots=True, init=False, repr=False)
class And(_Junction):
    """All operands hold.  ``And(a, And(b, c))`` is flattened to ``And(a, b, c)``."""

    operands: tuple[Expression, ...]

    def _dsl(self) -> str:
        return " AND ".join(f"( {op._dsl()} )" if isinstance(op, Or) else op._dsl()
                            for op in self.operands)


@dataclass(frozen=True, slots=True, init=False, repr=False)
class Or(_Junction):
    """Any operand holds.  ``Or(a, Or(b, c))`` is flattened to ``Or(a, b, c)``."""

    operands: tuple[Expression, ...]

    def _dsl(self) -> str:
        return " OR ".join(op._dsl() for op in self.operands)


def _any_of(items: list[Expression]) -> Expression:
    return items[0] if len(items) == 1 else Or(*items)


def _all_of(items: list[Expression]) -> Expression:
    return items[0] if len(items) == 1 else And(*items)


# --------------------------------------------------------------------------
# semantic checks


def _check_comparison(field: str, op: str, value: str, mode: str, *, query: str | None = None,
                      spans: dict[str, tuple[int, int]] | None = None) -> str:
    """Check ``field op value`` against ``mode``; return the canonical value."""
    spans = spans or {}

    def fail(reason: str, part: str, hint: str | None = None):
        start, end = spans.get(part, (None, None))
        raise DSLError(reason, query=query if start is not None else None,
                       position=start, end=end, hint=hint)

    names, booleans = _catalogue()[mode]
    if field not in names:
        rejected = _REJECTED_FIELDS.get(mode, {})
        if field in rejected:
            fail(f"field {field!r} cannot be searched in mode {mode!r} (the server "
                 f"answers 400); {rejected[field]}", "field")
        close = _suggest(field, names)
        fail(f"unknown field {field!r} for mode {mode!r}{_did_you_mean(close)}", "field",
             None if close else f"see fields({mode!r}) for the searchable fields")
    if field in booleans:
        if op not in ("=", "!="):
            fail(f"field {field!r} is boolean: only '=' and '!=' are allowed (got {op!r})", "op")
        if value != EMPTY:
            if value.lower() not in ("true", "false"):
                fail(f"field {field!r} is boolean: the value must be true or false "
                     f"(or {EMPTY}), not {value!r}", "value")
            value = value.lower()
    return value


def _check_value_semantics(c: Comparison, *, query: str | None = None,
                           spans: dict[str, tuple[int, int]] | None = None) -> None:
    """Mode-independent checks on a comparison's value."""
    if c.value == EMPTY and c.op in ("contain", "not-contain"):
        start, end = (spans or {}).get("op", (None, None))
        raise DSLError(f"{EMPTY} compares a field with NULL and only works with '=' and '!=' "
                       f"(got {c.op!r})", query=query if start is not None else None,
                       position=start, end=end)
    if _DOUBLE_DECODED_RE.search(c.value):
        warnings.warn(f"value {c.value!r} contains '+', '?' or a %XX escape: the Glance server "
                      "URL-decodes the query twice (ATGLANCE-8333), so it will not match as written",
                      DSLWarning, stacklevel=_caller_stacklevel())


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside this module."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    return level


# --------------------------------------------------------------------------
# builder


class F:
    """A field of the query language, for building expressions in Python.

    >>> F("reference_code") == "ANA-SUSY-2019-01"
    Comparison('referenceCode', '=', 'ANA-SUSY-2019-01')
    >>> F("status").notin(["closed", "Phase 0 Active"]).to_dsl()
    'status != closed AND status != "Phase 0 Active"'
    """

    __slots__ = ("name",)
    __hash__ = None  # type: ignore[assignment]  # == builds an expression

    def __init__(self, name: str):
        name = normalize_field(name)
        _check_field_syntax(name)
        self.name = name

    def __repr__(self) -> str:
        return f"F({self.name!r})"

    def __eq__(self, value: object) -> Comparison:  # type: ignore[override]
        return Comparison(self.name, "=", _coerce_value(value))

    def __ne__(self, value: object) -> Comparison:  # type: ignore[override]
        return Comparison(self.name, "!=", _coerce_value(value))

    def contains(self, value: object) -> Comparison:
        """Case-insensitive substring match (``contain``)."""
        return Comparison(self.name, "contain", _coerce_value(value))

    def not_contains(self, value: object) -> Comparison:
        """``not-contain``."""
        return Comparison(self.name, "not-contain", _coerce_value(value))

    def is_empty(self) -> Comparison:
        """The field is NULL (``= __EMPTY__``)."""
        return Comparison(self.name, "=", EMPTY)

    def not_empty(self) -> Comparison:
        """The field is not NULL (``!= __EMPTY__``)."""
        return Comparison(self.name, "!=", EMPTY)

    def isin(self, values: Iterable[object]) -> Expression:
        """Equal to any of ``values`` (an ``OR`` of ``=``)."""
        return _any_of([self == v for v in self._values(values)])

    def notin(self, values: Iterable[object]) -> Expression:
        """Equal to none of ``values`` (an ``AND`` of ``!=``)."""
        return _all_of([self != v for v in self._values(values)])

    def _values(self, values: Iterable[object]) -> list[object]:
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise TypeError("isin()/notin() take a list of values, not a single value")
        values = list(values)
        if not values:
            raise DSLError(f"isin()/notin() on {self.name!r} needs at least one value")
        return values


# --------------------------------------------------------------------------
# parser: a context-sensitive scanner driven by a recursive-descent parser
#
#   expression := and_expr ( OR and_expr )*
#   and_expr   := term ( AND term )*
#   term       := "(" expression ")" | field OP value | field LISTOP "[" item ("," item)* "]"

_WS = " \t\f\r\n"
_STRING_RE = re.compile(r'"([^"\n\r\t\f\v]*)"')
_VALUE_RE = re.compile(r'[^\s()"]+')
_ITEM_RE = re.compile(r'[^\s()",\[\]]+')
_OP_RE = re.compile(r"!=|=|(?i:not-contain|contain)")
_LISTOP_RE = re.compile(r"(?i:not\s+in|in)")
_CONJ_RE = re.compile(r"(?i:and|or)")
_WORDCHAR_RE = re.compile(r"[A-Za-z0-9_]")
_WORD_RE = re.compile(r"[A-Za-z0-9_-]+")
_NONSPACE_RE = re.compile(r"\S{1,20}")
_OPWORD_RE = re.compile(r"[^\s\"()\[\]]+")
_OPERATOR_LIKE = ("=", "!=", "contain", "not-contain", "in", "not in")
_UNTERMINATED = ("unterminated quoted string (a quoted string ends on the same line, "
                 "cannot contain tabs and has no escape for '\"')")


class _Parser:
    def __init__(self, text: str, mode: str | None):
        self.text = text
        self.mode = mode
        self.pos = 0
        self.depth = 0
        # (op, op_start, value_start, value_end) of the last condition, for hints
        self.last: tuple[str, int, int, int] | None = None

    # -- scanning helpers
    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WS:
            self.pos += 1

    def _match(self, regex: re.Pattern[str]) -> re.Match[str] | None:
        return regex.match(self.text, self.pos)

    def _at(self, chars: str) -> bool:
        return self.pos < len(self.text) and self.text[self.pos] in chars

    def _found(self, pos: int) -> str:
        if pos >= len(self.text):
            return "the end of the query"
        m = _NONSPACE_RE.match(self.text, pos)
        return repr(m.group()) if m else repr(self.text[pos])

    def _where(self, pos: int) -> str:
        line = self.text.count("\n", 0, pos) + 1
        col = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return f"column {col}" if "\n" not in self.text else f"line {line}, column {col}"

    def _fail(self, expected: str, hint: str | None = None, *, pos: int | None = None,
              end: int | None = None, found: str | None = None) -> DSLError:
        pos = self.pos if pos is None else pos
        found = self._found(pos) if found is None else found
        return DSLError(f"invalid query at {self._where(pos)}: expected {expected}, found {found}",
                        query=self.text, position=pos, end=end, hint=hint)

    def _glued_word(self, m: re.Match[str]) -> re.Match[str] | None:
        """The identifier run when a keyword match is followed by a word character."""
        if m.group()[-1].isalpha() and _WORDCHAR_RE.match(self.text, m.end()):
            return _WORD_RE.match(self.text, m.start())
        return None

    # -- grammar
    def parse(self) -> Expression:
        self._skip()
        if self.pos >= len(self.text):
            raise self._fail("a condition such as 'status = Active'", "the query is empty")
        expr = self._or()
        self._skip()
        if self.pos < len(self.text):  # pragma: no cover - _conjunction reports it
            raise self._fail("AND, OR or the end of the query")
        return expr

    def _or(self) -> Expression:
        items = [self._and()]
        while self._conjunction("or"):
            items.append(self._and())
        return _any_of(items)

    def _and(self) -> Expression:
        items = [self._term()]
        while self._conjunction("and"):
            items.append(self._term())
        return _all_of(items)

    def _conjunction(self, word: str) -> bool:
        """Consume ``word`` (AND/OR) if it comes next; else check that what comes is legal."""
        self._skip()
        if self.pos >= len(self.text):
            return False
        expected = "AND, OR" + (", ')'" if self.depth else "") + " or the end of the query"
        m = self._match(_CONJ_RE)
        if m:
            glued = self._glued_word(m)
            if glued:
                kw = m.group().upper()
                raise self._fail(expected, pos=m.start(), end=glued.end(),
                                 hint=f"put a space after {kw!r}: "
                                      f"'{kw} {self.text[m.end():glued.end()]}'")
            if m.group().lower() == word:
                self.pos = m.end()
                return True
            return False  # the other conjunction: the caller takes it
        if self._at(")"):
            if self.depth:
                return False
            raise self._fail(expected, "this ')' has no matching '('")
        raise self._fail(expected, self._chain_hint())

    def _chain_hint(self) -> str:
        text, pos = self.text, self.pos
        glued = text[pos - 1] not in _WS
        if text[pos] == "(" and glued:
            return "quote a value that contains parentheses, e.g. \"x(y)\""
        if text[pos] == '"' and glued:
            return "a quoted string must be the whole value; there is no escape for '\"'"
        if self.last is not None:
            op, op_start, v_start, v_end = self.last
            typed = re.sub(r"\s+", "", text[op_start:v_end]).lower()
            if text[v_start] != '"':
                if typed in ("==", "===", "=!", "!=="):
                    return "did you mean '='? The operators are " + _OPERATOR_LIST
                if op[-1].isalpha() and text[op_start + len(op)] not in _WS:
                    guess = difflib.get_close_matches(typed, ("contain", "not-contain"), n=1)
                    if guess:
                        return f"did you mean {guess[0]!r}? The operators are " + _OPERATOR_LIST
                end = pos
                for word in _VALUE_RE.finditer(text, pos):
                    if text[end:word.start()].strip(_WS) or word.group().lower() in ("and", "or"):
                        break
                    end = word.end()
                if end > pos and not glued:
                    return (f"quote a value that contains spaces: \"{text[v_start:end]}\"; "
                            "to chain conditions, use AND or OR")
        return "to chain conditions, use AND or OR"

    def _term(self) -> Expression:
        self._skip()
        if self._at("("):
            opened = self.pos
            self.pos += 1
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise DSLError(f"invalid query at {self._where(opened)}: parentheses nested more "
                               f"than {_MAX_DEPTH} deep", query=self.text, position=opened)
            self._skip()
            if self._at(")"):
                raise self._fail("a condition", "empty parentheses")
            expr = self._or()
            self._skip()
            if not self._at(")"):  # only the end of the query gets here
                raise self._fail("')'", f"to close the '(' at {self._where(opened)}")
            self.pos += 1
            self.depth -= 1
            return expr
        field, fspan = self._field()
        self._skip()
        op_start = self.pos
        m = self._match(_OP_RE) or self._match(_LISTOP_RE)
        if m is None or self._glued_word(m):
            end = self._glued_word(m).end() if m else None
            raise self._fail(f"an operator after field {self.text[fspan[0]:fspan[1]]!r}",
                             self._operator_hint(), end=end)
        self.pos = m.end()
        spans = {"field": fspan, "op": (op_start, m.end())}
        word = m.group().lower()
        if word in ("=", "!=", "contain", "not-contain"):
            value, spans["value"] = self._value(m.group())
            self.last = (m.group(), op_start, *spans["value"])
            return self._comparison(field, m.group(), value, spans)
        negate = word != "in"
        comps = [self._comparison(field, "!=" if negate else "=", v, {**spans, "value": span})
                 for v, span in self._items()]
        self.last = None
        return _all_of(comps) if negate else _any_of(comps)

    def _operator_hint(self) -> str:
        m = _OPWORD_RE.match(self.text, self.pos)
        got = m.group().lower().replace("_", "-") if m else ""
        guess = None
        if not got:
            pass
        elif got.startswith("=="):
            guess = "="
        elif got[0] in "<>":
            return "there are no range operators; the operators are " + _OPERATOR_LIST
        elif got in ("not", "!"):
            rest = self.text[m.end():].lstrip()
            guess = "not in" if rest[:2].lower() == "in" else "not-contain"
        elif got.startswith(("notin", "not-in")):
            guess = "not in"
        elif got in ("is", "eq", "equals", "like", "has", "includes"):
            guess = "=" if got in ("is", "eq", "equals") else "contain"
        else:
            close = difflib.get_close_matches(got, _OPERATOR_LIKE, n=1)
            guess = close[0] if close else None
        lead = f"did you mean {guess!r}? " if guess else ""
        return f"{lead}The operators are {_OPERATOR_LIST}"

    def _field(self) -> tuple[str, tuple[int, int]]:
        start = self.pos
        m = self._match(_IDENT_RE)
        if m:
            self.pos = m.end()
            return m.group(), (start, m.end())
        m = self._match(_STRING_RE)
        if m:
            self.pos = m.end()
            return m.group(1), (start, m.end())
        if self._at('"'):
            raise self._fail("a field name", _UNTERMINATED)
        hint = None
        if self.pos >= len(self.text) or self._at(")"):
            hint = "AND, OR and '(' must be followed by a condition"
        raise self._fail("a field name or '('", hint)

    def _value(self, op: str) -> tuple[str, tuple[int, int]]:
        self._skip()
        start = self.pos
        m = self._match(_STRING_RE)
        if m:
            self.pos = m.end()
            return m.group(1), (start, m.end())
        m = self._match(_VALUE_RE)
        if m:
            self.pos = m.end()
            return m.group(), (start, m.end())
        hint = None
        if self._at('"'):
            hint = _UNTERMINATED
        elif self._at("()"):
            hint = "quote a value that contains parentheses"
        raise self._fail(f"a value after {op!r}", hint)

    def _items(self) -> list[tuple[str, tuple[int, int]]]:
        self._skip()
        if not self._at("["):
            raise self._fail("'[' to start the list of values", "write: field in [a, b, \"c d\"]")
        self.pos += 1
        items = []
        while True:
            self._skip()
            start = self.pos
            m = self._match(_STRING_RE) or self._match(_ITEM_RE)
            if not m:
                hint = None
                if self._at("]"):
                    hint = "remove the trailing ','" if items else "a list needs at least one value"
                elif self._at('"'):
                    hint = _UNTERMINATED
                elif self._at("(["):
                    hint = "quote list items that contain brackets, parentheses or commas"
                raise self._fail("a list item", hint)
            self.pos = m.end()
            value = m.group(1) if m.re is _STRING_RE else m.group()
            items.append((value, (start, m.end())))
            self._skip()
            if self._at(","):
                self.pos += 1
            elif self._at("]"):
                self.pos += 1
                return items
            else:
                raise self._fail("',' or ']'", "quote list items that contain spaces: [\"a b\", c]")

    def _comparison(self, raw_field: str, op: str, value: str,
                    spans: dict[str, tuple[int, int]]) -> Comparison:
        field = normalize_field(raw_field)
        if self.mode is not None:
            value = _check_comparison(field, op.lower(), value, self.mode,
                                      query=self.text, spans=spans)
        try:
            c = Comparison(field, op, value)
        except DSLError as exc:  # a quoted field that is not an identifier
            start, end = spans["field"]
            raise DSLError(exc.reason, query=self.text, position=start, end=end) from None
        _check_value_semantics(c, query=self.text, spans=spans)
        return c


def parse(query: str | Expression, mode: str | None) -> Expression:
    """Parse a Glance query string and check it against the fields of ``mode``.

    Parameters
    ----------
    query : str or Expression
        The query, e.g. ``'status = "Phase 0 Active" AND metadata.keywords.name contain Higgs'``.
        An :class:`Expression` is validated against ``mode`` and returned.
    mode : str or None
        One of :func:`modes`.  ``None`` checks the syntax only (field names are
        normalised but not looked up).

    Returns
    -------
    Expression
        Call :meth:`Expression.to_dsl` for the canonical string to send.

    Raises
    ------
    DSLError
        Invalid syntax (the message points at the place), an unknown field
        (with suggestions), or an operator or value the field does not take.
    """
    if mode is not None:
        mode = _mode(mode)
    if isinstance(query, Expression):
        return query if mode is None else query.validate(mode)
    if not isinstance(query, str):
        raise TypeError(f"query must be a str or an Expression, not {type(query).__name__}")
    return _Parser(query, mode).parse()
