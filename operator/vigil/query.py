"""AlertRule.query: Sentry search syntax, parsed once and matched against ingested events. Pure.

Grammar (Sentry documents that AND binds tighter than OR: "x AND y OR z" is "(x AND y) OR z"):
    query  := [or]
    or     := and ("OR" and)*
    and    := term (["AND"] term)*             adjacent terms are ANDed implicitly
    term   := "(" or ")" | filter | text
    filter := ["!"] key ":" [op] value         op: > >= < <=; value: bare, "quoted" or [a, b]
AND/OR are keywords only in upper case, as in Sentry. Choices where Sentry leaves room:
- Values match whole and case-sensitively; `*` is any run of characters, `\\*` a literal star.
  `message:` and free text match case-insensitively as substrings (Sentry's CONTAINS).
- Adjacent bare words are one phrase (`example error` is a single token, as Sentry's docs put
  it); a "quoted phrase" stands alone. Free text looks at message, transaction and exceptions.
- `!f` is the plain logical NOT of `f`: `!environment:staging` also matches events without one.
- `is:unresolved` matches unless the event's `group_status` is "resolved"; any other `is:x`
  means `group_status == x` (at ingest the group's status is all we can know).
- A key that is not a field of the event is a tag (Sentry's rule); `tags[k]` is always a tag.
- Refused as Sentry refuses them: lists on `is`/`has`, wildcards in lists, comparisons on text.
  Also refused: empty values (`key:`, `key:""`; use `has:`), `!` before anything but a filter.
- Bare values end at whitespace or a parenthesis: quote values containing those.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NamedTuple, Union

__all__ = ["And", "Filter", "FreeText", "Node", "Or", "Query", "QueryError", "parse"]

COMPARISONS = (">", ">=", "<", "<=")
MAX_DEPTH = 50  # parenthesis nesting; deeper would exhaust the recursion of parser and matcher
_FILTER_HEAD = re.compile(r'(!?)(tags\[[^\]\s]*\]|[^\s():"\[\]]*):')
_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*|tags\[[A-Za-z0-9_.:\-]+\]")
_OPERATOR = re.compile(r"[<>=!]*")
_BARE = re.compile(r"[^\s()]*")
_SPACE = re.compile(r"\s*")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_LIST_ITEM = re.compile(r'[^\s,\[\]()"]*')
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|min|m|hr|h|d|w)")
_MS_PER_UNIT = {"ms": 1, "s": 1e3, "m": 6e4, "min": 6e4, "h": 3.6e6, "hr": 3.6e6, "d": 8.64e7, "w": 6.048e8}
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NEEDS_QUOTES = re.compile(r'[\s()\[\],"]|^[<>=!]|^$')  # backslashes are literal in bare values
_ALIASES = {"event.type": "type", "user.ip": "user.ip_address"}
_USER_IDS = ("id", "email", "username", "ip_address")


class QueryError(ValueError):
    """A malformed query; the message names the problem and its character offset."""


@dataclass(frozen=True)
class Filter:
    key: str
    op: str = "="  # "=", a comparison, or "has" (then `key` is the key whose presence is tested)
    values: tuple[str, ...] = ()  # any-of; one value unless written as a list
    negated: bool = False

    def matches(self, event: Mapping[str, Any]) -> bool:
        return self._holds(event) != self.negated

    def _holds(self, event: Mapping[str, Any]) -> bool:
        if self.op == "has":
            return bool(_lookup(event, self.key))
        if self.key == "is":
            status = event.get("group_status")
            return status != "resolved" if self.values[0] == "unresolved" else status == self.values[0]
        found = _lookup(event, self.key)
        if self.op in COMPARISONS:
            return any(_compare(actual, self.op, self.values[0]) for actual in found)
        return any(_equals(actual, value, self.key) for actual in found for value in self.values)

    def __str__(self) -> str:
        bang = "!" if self.negated else ""
        if self.op == "has":
            return f"{bang}has:{self.key}"
        if len(self.values) > 1:
            return f"{bang}{self.key}:[{', '.join(map(_quote, self.values))}]"
        op = self.op if self.op in COMPARISONS else ""
        return f"{bang}{self.key}:{op}{_quote(self.values[0])}"


@dataclass(frozen=True)
class FreeText:
    text: str

    def matches(self, event: Mapping[str, Any]) -> bool:
        pattern = _wildcard(self.text, fold=True)
        return any(pattern.search(hay) for hay in _free_text_fields(event))

    def __str__(self) -> str:
        return _quote(self.text, always=True)  # quoted, so adjacent phrases stay apart on re-parse


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]

    def matches(self, event: Mapping[str, Any]) -> bool:
        return all(child.matches(event) for child in self.children)

    def __str__(self) -> str:
        return " ".join(f"({c})" if isinstance(c, Or) else str(c) for c in self.children)


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]

    def matches(self, event: Mapping[str, Any]) -> bool:
        return any(child.matches(event) for child in self.children)

    def __str__(self) -> str:
        return " OR ".join(map(str, self.children))  # AND binds tighter: no parentheses needed


Node = Union[Filter, FreeText, And, Or]


@dataclass(frozen=True)
class Query:
    root: Node = And(())  # the empty AND: matches every event

    def matches(self, event: Mapping[str, Any]) -> bool:
        return self.root.matches(event)

    @property
    def keys(self) -> frozenset[str]:
        """The keys filtered on, as written (`has:k` gives k); free text names none."""
        return frozenset(node.key for node in _walk(self.root) if isinstance(node, Filter))

    def __str__(self) -> str:
        return str(self.root)


def parse(query: str) -> Query:
    return Query(_Parser(_tokenize(query), len(query)).parse())


# --- tokenizer ---------------------------------------------------------------------------------


class _Token(NamedTuple):
    kind: str  # "(", ")", "AND", "OR", "WORD" (a bare free-text word), "TERM" (a finished node)
    pos: int
    value: Any = None


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
        elif text[i] in "()":
            tokens.append(_Token(text[i], i))
            i += 1
        elif text[i] == '"':
            phrase, end = _quoted(text, i)
            if not phrase:
                raise QueryError(f"empty quoted text at {i}")
            tokens.append(_Token("TERM", i, FreeText(phrase)))
            i = _check_end(text, end)
        elif head := _FILTER_HEAD.match(text, i):
            node, end = _filter(text, i, head)
            tokens.append(_Token("TERM", i, node))
            i = end
        else:
            word = _BARE.match(text, i).group()
            if word.startswith("!"):
                raise QueryError(f"negation needs a key:value filter at {i}")
            tokens.append(_Token(word if word in ("AND", "OR") else "WORD", i, word))
            i += len(word)
    return tokens


def _filter(text: str, start: int, head: re.Match[str]) -> tuple[Filter, int]:
    negated, key, i = head.group(1) == "!", head.group(2), head.end()
    if not key:
        raise QueryError(f"missing key before ':' at {i - 1}")
    if not _KEY.fullmatch(key):
        raise QueryError(f"invalid key {key!r} at {start}")
    op = _OPERATOR.match(text, i).group()
    if op and op not in COMPARISONS:
        raise QueryError(f"unknown operator {op!r} at {i}")
    i += len(op)
    if i == len(text) or text[i].isspace() or text[i] in "()":
        raise QueryError(f"empty value for key {key} at {start}")
    if text[i] == "[":
        values, end = _list(text, i)
        end = _check_end(text, end)
    elif text[i] == '"':
        value, end = _quoted(text, i)
        values, end = (value,), _check_end(text, end)
    else:
        value = _BARE.match(text, i).group()
        values, end = (value,), i + len(value)
    if values == ("",):
        raise QueryError(f"empty value for key {key} at {start}")
    return _validated(key, op or "=", values, negated, start, is_list=text[i] == "["), end


def _validated(key: str, op: str, values: tuple[str, ...], negated: bool, at: int, is_list: bool) -> Filter:
    if is_list and (op != "=" or key in ("is", "has")):
        raise QueryError(f"a list cannot be used with {op if op != '=' else key + ':'} at {at}")
    if is_list and any(re.search(r"(?<!\\)\*", v) for v in values):
        raise QueryError(f"wildcards are not allowed in lists at {at}")
    if op != "=" and key in ("is", "has"):
        raise QueryError(f"{op} cannot be used with {key}: at {at}")
    if op != "=" and _bound(values[0]) is None:
        raise QueryError(f"{op} needs a number, duration or timestamp for key {key}, got {values[0]!r} at {at}")
    if key == "has":
        if not _KEY.fullmatch(values[0]):
            raise QueryError(f"has: needs a key, got {values[0]!r} at {at}")
        return Filter(values[0], "has", (), negated)
    return Filter(key, op, values, negated)


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The content of the quote opening at `start`, \\" and \\\\ unescaped, and the index past it."""
    if not (m := _QUOTED.match(text, start)):
        raise QueryError(f"unterminated quote at {start}")
    return re.sub(r'\\(["\\])', r"\1", m.group(1)), m.end()


def _list(text: str, start: int) -> tuple[tuple[str, ...], int]:
    items: list[str] = []
    i = start + 1
    while True:
        i = _SPACE.match(text, i).end()
        if i < len(text) and text[i] == "]" and not items:
            raise QueryError(f"empty list at {start}")
        if i < len(text) and text[i] == '"':
            item, i = _quoted(text, i)
        else:
            item = _LIST_ITEM.match(text, i).group()
            i += len(item)
        if not item and i < len(text):
            raise QueryError(f"empty list item at {i}")
        items.append(item)
        i = _SPACE.match(text, i).end()
        if i >= len(text):
            raise QueryError(f"unterminated list at {start}")
        if text[i] == "]":
            return tuple(items), i + 1
        if text[i] != ",":
            raise QueryError(f"expected ',' or ']' in list at {i}")
        i += 1


def _check_end(text: str, i: int) -> int:
    """A quote or list must be followed by a boundary: `key:"a"b` is a typo, not two terms."""
    if i < len(text) and not text[i].isspace() and text[i] not in "()":
        raise QueryError(f"unexpected {text[i]!r} after value at {i}")
    return i


# --- parser ------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, tokens: list[_Token], length: int) -> None:
        self.tokens, self.i, self.length, self.depth = tokens, 0, length, 0

    def parse(self) -> Node:
        if not self.tokens:
            return And(())
        node = self._or()
        if self.i < len(self.tokens):  # _or stops only at EOF or at a ")" nobody opened
            raise QueryError(f"unbalanced parenthesis at {self.tokens[self.i].pos}")
        return node

    def _peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _or(self) -> Node:
        items = [self._and()]
        while (tok := self._peek()) and tok.kind == "OR":
            self.i += 1
            items.append(self._and())
        return _join(Or, items)

    def _and(self) -> Node:
        items = [self._term()]
        while (tok := self._peek()) and tok.kind not in ("OR", ")"):
            if tok.kind == "AND":
                self.i += 1
            items.append(self._term())
        return _join(And, items)

    def _term(self) -> Node:
        prev = self.tokens[self.i - 1] if self.i else None
        tok = self._peek()
        if tok is None or tok.kind == ")":
            raise self._missing_term(prev, tok)
        self.i += 1
        if tok.kind in ("AND", "OR"):
            raise QueryError(f"unexpected {tok.kind} at {tok.pos}")
        if tok.kind == "TERM":
            return tok.value
        if tok.kind == "WORD":
            words = [tok.value]
            while (nxt := self._peek()) and nxt.kind == "WORD":
                words.append(nxt.value)
                self.i += 1
            return FreeText(" ".join(words))
        self.depth += 1  # tok is "("
        if self.depth > MAX_DEPTH:
            raise QueryError(f"parentheses nested deeper than {MAX_DEPTH} at {tok.pos}")
        node = self._or()
        if self._peek() is None:
            raise QueryError(f"unbalanced parenthesis at {tok.pos}")
        self.i += 1
        self.depth -= 1
        return node

    def _missing_term(self, prev: _Token | None, tok: _Token | None) -> QueryError:
        if prev is not None and prev.kind in ("AND", "OR"):
            return QueryError(f"nothing after {prev.kind} at {prev.pos}")
        if prev is not None and prev.kind == "(":
            return QueryError(f"{'empty parentheses' if tok else 'unbalanced parenthesis'} at {prev.pos}")
        return QueryError(f"unbalanced parenthesis at {tok.pos if tok else self.length}")


def _join(cls: type[And] | type[Or], items: list[Node]) -> Node:
    """One node for `items`: alone if single, nested groups of the same kind flattened."""
    if len(items) == 1:
        return items[0]
    return cls(tuple(c for item in items for c in (item.children if isinstance(item, cls) else (item,))))


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in getattr(node, "children", ()):
        yield from _walk(child)


# --- matcher -----------------------------------------------------------------------------------


def _lookup(event: Mapping[str, Any], key: str) -> list[Any]:
    """The event's values for `key`, none when absent (None and "" count as absent)."""
    if key.startswith("tags["):
        return _tag(event, key[5:-1])
    key = _ALIASES.get(key, key)
    if key in ("error.type", "error.value"):
        return _present(e.get(key[6:]) for e in _exceptions(event))
    value = event.get(key)
    if value is None and "." in key:  # `user.email` reaches into the `user` mapping
        head, _, rest = key.partition(".")
        value = event[head].get(rest) if isinstance(event.get(head), Mapping) else None
    if value is None:
        return _tag(event, key)
    if isinstance(value, Mapping):  # `user` alone: any of its identifiers
        return _present(value.get(k) for k in _USER_IDS)
    return _present(value if isinstance(value, (list, tuple)) else [value])


def _tag(event: Mapping[str, Any], name: str) -> list[Any]:
    tags = event.get("tags") or ()
    if isinstance(tags, Mapping):
        return _present([tags.get(name)])
    pairs = (p for p in tags if isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 2)
    return _present(value for key, value in pairs if key == name)


def _present(values: Any) -> list[Any]:
    return [v for v in values if v is not None and v != ""]


def _exceptions(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    exc = event.get("exception")
    values = exc.get("values") if isinstance(exc, Mapping) else exc
    return [e for e in values or () if isinstance(e, Mapping)]


def _free_text_fields(event: Mapping[str, Any]) -> Iterator[str]:
    for key in ("message", "transaction"):
        if isinstance(event.get(key), str):
            yield event[key]
    for exc in _exceptions(event):
        kind, value = exc.get("type") or "", exc.get("value") or ""
        if kind or value:
            yield f"{kind}: {value}"  # the title Sentry shows; contains type and value alike


def _equals(actual: Any, expected: str, key: str) -> bool:
    if isinstance(actual, (int, float)) and not isinstance(actual, bool):
        bound = _bound(expected)
        if bound is not None and bound[0] == "number":
            return actual == bound[1]
    text = str(actual).lower() if isinstance(actual, bool) else str(actual)
    if key == "message":
        return bool(_wildcard(expected, fold=True).search(text))
    return bool(_wildcard(expected, fold=False).fullmatch(text))


def _compare(actual: Any, op: str, expected: str) -> bool:
    kind, bound = _bound(expected) or ("", 0.0)
    value = _as_time(actual) if kind == "time" else _as_number(actual)
    if value is None:
        return False
    return {">": value > bound, ">=": value >= bound, "<": value < bound, "<=": value <= bound}[op]


def _bound(text: str) -> tuple[str, float] | None:
    """A comparison's right side: ("number", n) for numbers and durations (in ms), or ("time", s)."""
    if _NUMBER.fullmatch(text):
        return "number", float(text)
    if m := _DURATION.fullmatch(text):
        return "number", float(m.group(1)) * _MS_PER_UNIT[m.group(2)]
    seconds = _as_time(text) if _DATE.match(text) else None
    return ("time", seconds) if seconds is not None else None


def _as_number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, str) and _NUMBER.fullmatch(value) else None


def _as_time(value: Any) -> float | None:
    """Epoch seconds from an ISO string, a datetime or a number (Sentry timestamps are seconds)."""
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else value
        if isinstance(when, datetime):
            return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()
    except (ValueError, OverflowError):  # not ISO, or out of range once moved to UTC
        pass
    return _as_number(value)


def _wildcard(pattern: str, fold: bool) -> re.Pattern[str]:
    parts = re.split(r"(\\\*|\*)", pattern)
    body = "".join(".*" if p == "*" else re.escape(p[-1] if p == "\\*" else p) for p in parts)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if fold else 0))  # re caches compiled patterns


def _quote(value: str, always: bool = False) -> str:
    if not always and not _NEEDS_QUOTES.search(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
