"""vigil.query: parsing every form of Sentry search syntax an AlertRule may carry, refusing malformed
queries with a message naming the problem and its offset, matching truth tables over small events,
then properties (no crash but QueryError on any text, round-trips, AND/OR semantics, negation)."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.query import And, Filter, FreeText, Or, Query, QueryError, parse

Event = dict[str, Any]

# --- parsing -----------------------------------------------------------------------------------

PARSED = [
    ("level:error", Filter("level", "=", ("error",))),
    ("!environment:staging", Filter("environment", "=", ("staging",), negated=True)),
    ('transaction:"/api/*"', Filter("transaction", "=", ("/api/*",))),
    ("user.email:*@example.com", Filter("user.email", "=", ("*@example.com",))),
    ("release:[1.0, 1.1]", Filter("release", "=", ("1.0", "1.1"))),
    ('release:[ "a b" ,c ]', Filter("release", "=", ("a b", "c"))),
    ("transaction.duration:>500ms", Filter("transaction.duration", ">", ("500ms",))),
    ("transaction.duration:<=1.5s", Filter("transaction.duration", "<=", ("1.5s",))),
    ("http.status_code:>=500", Filter("http.status_code", ">=", ("500",))),
    ("http.status_code:<500", Filter("http.status_code", "<", ("500",))),
    ("timestamp:>2023-09-28T00:00:00-07:00", Filter("timestamp", ">", ("2023-09-28T00:00:00-07:00",))),
    ("has:user", Filter("user", "has")),
    ("!has:release", Filter("release", "has", negated=True)),
    ("has:tags[region]", Filter("tags[region]", "has")),
    ("is:unresolved", Filter("is", "=", ("unresolved",))),
    ('message:"database timeout"', Filter("message", "=", ("database timeout",))),
    ('message:"say \\"hi\\" \\\\o/"', Filter("message", "=", ('say "hi" \\o/',))),
    ("timeout", FreeText("timeout")),
    ("example  error", FreeText("example error")),  # adjacent bare words are one phrase
    ('"database timeout"', FreeText("database timeout")),
    ('"AND"', FreeText("AND")),  # quoted, a keyword is text
    ("and or", FreeText("and or")),  # keywords are upper case only
    ("tags[region]:eu", Filter("tags[region]", "=", ("eu",))),
    ("tags[sentry:user]:x", Filter("tags[sentry:user]", "=", ("x",))),
    ("server:web-8", Filter("server", "=", ("web-8",))),
    ("url:http://a.b/c?d=e", Filter("url", "=", ("http://a.b/c?d=e",))),
    ("level:error environment:prod", And((Filter("level", "=", ("error",)), Filter("environment", "=", ("prod",))))),
    (
        "(level:error OR level:fatal) AND environment:prod",
        And(
            (
                Or((Filter("level", "=", ("error",)), Filter("level", "=", ("fatal",)))),
                Filter("environment", "=", ("prod",)),
            )
        ),
    ),
    (
        "timeout level:error  db",
        And((FreeText("timeout"), Filter("level", "=", ("error",)), FreeText("db"))),
    ),
]


@pytest.mark.parametrize(("query", "root"), PARSED, ids=[q for q, _ in PARSED])
def test_parses_every_form(query: str, root: Any) -> None:
    assert parse(query) == Query(root)


def test_empty_and_blank_queries_parse_to_the_empty_and() -> None:
    assert parse("") == parse("  \t\n") == Query(And(()))
    assert str(parse("")) == ""


def a(name: str) -> Filter:
    return Filter(name, "=", ("1",))


@pytest.mark.parametrize(
    ("query", "root"),
    [
        ("a:1 AND b:1 OR c:1", Or((And((a("a"), a("b"))), a("c")))),  # Sentry: AND before OR
        ("a:1 OR b:1 c:1", Or((a("a"), And((a("b"), a("c")))))),  # implicit AND binds like AND
        ("a:1 AND (b:1 OR c:1)", And((a("a"), Or((a("b"), a("c")))))),
        ("a:1 OR b:1 OR c:1", Or((a("a"), a("b"), a("c")))),
        ("(a:1 OR (b:1 OR c:1))", Or((a("a"), a("b"), a("c")))),  # same-kind groups flatten
        ("((a:1)) (b:1 c:1)", And((a("a"), a("b"), a("c")))),
        ("(a:1)(b:1)", And((a("a"), a("b")))),  # a parenthesis is a boundary, no space needed
    ],
)
def test_precedence_and_grouping(query: str, root: Any) -> None:
    assert parse(query).root == root


def test_keys_are_the_filtered_keys_as_written() -> None:
    q = parse('(level:error OR has:user) !tags[region]:eu is:unresolved "free text" x.y:>5')
    assert q.keys == frozenset({"level", "user", "tags[region]", "is", "x.y"})
    assert parse("").keys == parse("just text").keys == frozenset()


@pytest.mark.parametrize(
    "query",
    ["level:error", "!has:release", "release:[1.0, 1.1]", 'message:"a \\"b\\""', '(a:1 OR b:1) "x y" c:>=2s'],
)
def test_str_round_trips(query: str) -> None:
    q = parse(query)
    assert parse(str(q)) == q


# --- malformed queries -------------------------------------------------------------------------

MALFORMED = [
    ("(level:error", "unbalanced parenthesis at 0"),
    ("level:error)", "unbalanced parenthesis at 11"),
    ("(a:1 OR (b:1)", "unbalanced parenthesis at 0"),
    (")", "unbalanced parenthesis at 0"),
    ("a:1 (", "unbalanced parenthesis at 4"),
    ("()", "empty parentheses at 0"),
    ('user.username:"Jane', "unterminated quote at 14"),
    ('"database', "unterminated quote at 0"),
    ('a:"x\\"', "unterminated quote at 2"),  # the quote is escaped
    ("level:", "empty value for key level at 0"),
    ("a:1 level: error", "empty value for key level at 4"),
    ('level:""', "empty value for key level at 0"),
    (":value", "missing key before ':' at 0"),
    ("!:value", "missing key before ':' at 1"),
    ("AND level:error", "unexpected AND at 0"),
    ("level:error AND", "nothing after AND at 12"),
    ("level:error OR", "nothing after OR at 12"),
    ("a:1 OR OR b:1", "unexpected OR at 7"),
    ("a:1 AND OR b:1", "unexpected OR at 8"),
    ("(a:1 AND)", "nothing after AND at 5"),
    ("transaction.duration:>fast", "> needs a number, duration or timestamp for key transaction.duration"),
    ("http.status_code:>=5xx", ">= needs a number, duration or timestamp"),
    ("timestamp:<2023-13-45", "< needs a number, duration or timestamp"),
    ("a:=>5", "unknown operator '=>' at 2"),
    ("a:!=5", "unknown operator '!=' at 2"),
    ("a:>>5", "unknown operator '>>' at 2"),
    ("a:>", "empty value for key a at 0"),
    ("release:[a,", "unterminated list at 8"),
    ("release:[a", "unterminated list at 8"),
    ("release:[]", "empty list at 8"),
    ("release:[a,,b]", "empty list item at 11"),
    ("release:[a,]", "empty list item at 11"),
    ("release:[a b]", "expected ',' or ']' in list at 11"),
    ("release:[a]x", "unexpected 'x' after value at 11"),
    ('a:"b"c', "unexpected 'c' after value at 5"),
    ("release:[1.*, 2]", "wildcards are not allowed in lists at 0"),
    ("is:[resolved, unresolved]", "a list cannot be used with is: at 0"),
    ("has:[a, b]", "a list cannot be used with has: at 0"),
    ("a:>[1, 2]", "a list cannot be used with > at 0"),
    ("has:>5", "> cannot be used with has: at 0"),
    ('has:"two words"', "has: needs a key, got 'two words' at 0"),
    ("a/b:c", "invalid key 'a/b' at 0"),
    ("tags[]:x", "invalid key 'tags[]' at 0"),
    ("!timeout", "negation needs a key:value filter at 0"),
    ("!(a:1)", "negation needs a key:value filter at 0"),
    ('""', "empty quoted text at 0"),
    ("(" * 51 + "a:1" + ")" * 51, "parentheses nested deeper than 50 at 50"),
]


@pytest.mark.parametrize(("query", "message"), MALFORMED, ids=[q[:40] for q, _ in MALFORMED])
def test_malformed_queries_name_the_problem(query: str, message: str) -> None:
    with pytest.raises(QueryError) as info:
        parse(query)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


# --- matching ----------------------------------------------------------------------------------

ERROR: Event = {
    "type": "error",
    "level": "error",
    "environment": "prod",
    "release": "1.0",
    "platform": "python",
    "transaction": "/api/users",
    "message": "Database Timeout while reading",
    "user": {"id": "42", "email": "jane@example.com", "username": "jane", "ip_address": "10.0.0.1"},
    "tags": [["region", "eu"], ["server", "web-8"], ["environment", "ignored: a field wins"]],
    "exception": {"values": [{"type": "OperationalError", "value": "could not connect"}]},
    "timestamp": "2023-09-28T08:00:00+00:00",
}
SLOW: Event = {
    "type": "transaction",
    "environment": "staging",
    "transaction": "/api/checkout",
    "transaction.duration": 1500,
    "http.status_code": 503,
    "tags": [["region", "us"], ["release", "2.0"]],
    "group_status": "resolved",
    "timestamp": 1695884400.0,  # 2023-09-28T07:00:00Z, in seconds as Sentry sends it
}
EMPTY: Event = {}

# query -> (matches ERROR, matches SLOW, matches EMPTY)
TRUTH: dict[str, tuple[bool, bool, bool]] = {
    "": (True, True, True),
    "level:error": (True, False, False),
    "level:Error": (False, False, False),  # values are case-sensitive
    "!level:error": (False, True, True),  # plain NOT: an event without a level is not "level:error"
    "environment:prod": (True, False, False),
    "!environment:staging": (True, False, True),
    "release:1.0": (True, False, False),
    "release:2.0": (False, True, False),  # no release field: the tag of that name
    "release:[1.0, 2.0]": (True, True, False),
    "!release:[1.0, 2.0]": (False, False, True),
    'transaction:"/api/*"': (True, True, False),
    "transaction:/api": (False, False, False),  # whole-value match without a wildcard
    "transaction:*check*": (False, True, False),
    "user.email:*@example.com": (True, False, False),
    "user.email:*@EXAMPLE.com": (False, False, False),
    "user.username:jane": (True, False, False),
    "user:42": (True, False, False),  # `user` alone: any identifier
    "user:jane@example.com": (True, False, False),
    "user.ip:10.0.0.*": (True, False, False),
    "has:user": (True, False, False),
    "!has:user": (False, True, True),
    "has:release": (True, True, False),
    "!has:release": (False, False, True),
    "has:transaction.duration": (False, True, False),
    "transaction.duration:>500ms": (False, True, False),
    "transaction.duration:>1.5s": (False, False, False),
    "transaction.duration:>=1.5s": (False, True, False),
    "transaction.duration:<1m": (False, True, False),
    "transaction.duration:<0.03m": (False, True, False),  # 1800 ms
    "transaction.duration:>0.001h": (False, False, False),  # 3600 ms
    "transaction.duration:1500": (False, True, False),
    "transaction.duration:1.5s": (False, True, False),  # = compares numbers numerically
    "!transaction.duration:>1s": (True, False, True),
    "http.status_code:>=500": (False, True, False),
    "http.status_code:503": (False, True, False),
    "http.status_code:5*": (False, True, False),  # a wildcard compares the text
    "timestamp:>2023-09-28T07:30:00Z": (True, False, False),
    "timestamp:<=2023-09-28T00:00:00-07:00": (False, True, False),
    "timestamp:>2023-09-28": (True, True, False),  # a bare date is midnight UTC
    "is:unresolved": (True, False, True),
    "is:resolved": (False, True, False),
    "!is:unresolved": (False, True, False),
    'message:"database timeout"': (True, False, False),  # message: case-insensitive CONTAINS
    "message:*timeout": (True, False, False),
    "timeout": (True, False, False),
    "TIMEOUT": (True, False, False),
    "database timeout": (True, False, False),
    "timeout database": (False, False, False),  # one phrase, in order
    "timeout AND database": (True, False, False),
    '"could not connect"': (True, False, False),  # the exception's value
    "operationalerror": (True, False, False),  # and type
    "checkout": (False, True, False),  # and the transaction
    "data*reading": (True, False, False),
    "tags[region]:eu": (True, False, False),
    "region:eu": (True, False, False),  # unknown key: a tag
    "region:[eu, us]": (True, True, False),
    "tags[environment]:staging": (False, False, False),
    "server:web-*": (True, False, False),
    "error.type:OperationalError": (True, False, False),
    "event.type:transaction": (False, True, False),
    "type:error": (True, False, False),
    "platform:python": (True, False, False),
    "(level:error OR level:fatal) AND environment:prod": (True, False, False),
    "level:error OR environment:staging": (True, True, False),
    "level:error environment:staging": (False, False, False),
    "level:error AND environment:staging OR !has:environment": (False, False, True),
    "level:error AND (environment:staging OR !has:environment)": (False, False, False),
}


@pytest.mark.parametrize(("query", "expected"), TRUTH.items(), ids=list(TRUTH))
def test_truth_table(query: str, expected: tuple[bool, bool, bool]) -> None:
    q = parse(query)
    assert (q.matches(ERROR), q.matches(SLOW), q.matches(EMPTY)) == expected


def test_tags_may_be_a_mapping_and_malformed_parts_are_ignored() -> None:
    assert parse("region:eu").matches({"tags": {"region": "eu"}})
    assert not parse("region:eu").matches({"tags": ["region", ["region"], None, ("a", "b", "c")]})
    assert not parse("error").matches({"exception": {"values": [None, {}]}, "message": None})
    assert parse("level:error").matches({"level": None, "tags": [["level", "error"]]})  # None = absent


def test_values_other_than_text() -> None:
    assert parse("handled:false").matches({"handled": False})
    assert parse("release:1.0").matches({"release": 1.0})
    assert parse("count:>2").matches({"count": "3"})  # numeric text compares as a number
    assert not parse("count:>2").matches({"count": "three"})
    assert parse("timestamp:>2023-01-01").matches({"timestamp": "2023-06-01"})
    assert not parse("timestamp:>2023-01-01").matches({"timestamp": "yesterday"})


def test_escaped_star_is_literal() -> None:
    assert parse(r"message:a\*b").matches({"message": "a*b"})
    assert not parse(r"message:a\*b").matches({"message": "axb"})
    assert parse("message:a*b").matches({"message": "axb"})


# --- properties --------------------------------------------------------------------------------

SYNTAX = st.text(alphabet=st.sampled_from(list('()[]":!<>=*,\\ \tabAND OR.-1500ms[]has:is:tags')), max_size=40)


@settings(max_examples=1000)
@given(st.one_of(st.text(), SYNTAX))
def test_parse_raises_nothing_but_query_error(text: str) -> None:
    try:
        q = parse(text)
    except QueryError as exc:
        assert " at " in str(exc) or "operator" in str(exc)
        return
    assert parse(str(q)) == q  # whatever parses also round-trips
    for event in (ERROR, SLOW, EMPTY):
        assert isinstance(q.matches(event), bool)


KEYS = ["level", "environment", "release", "transaction", "message", "region", "tags[region]", "user", "user.email"]
WORDS = ["error", "fatal", "prod", "staging", "1.0", "2.0", "eu", "us", "/api/users", "jane@example.com", "timeout"]
VALUES = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(WORDS).map(lambda w: w[:2] + "*"),
    st.text(min_size=1, max_size=8),  # anything: str() must quote and escape it right
)
NUMERIC_KEYS = ["transaction.duration", "http.status_code", "timestamp"]
BOUNDS = st.one_of(
    st.integers(-5, 5000).map(str),
    st.sampled_from(["500ms", "1.5s", "2m", "1h", "0.5d", "1w", "2023-09-28T07:00:00Z", "2023-09-28"]),
)


@st.composite
def filters(draw: st.DrawFn) -> Filter:
    negated = draw(st.booleans())
    kind = draw(st.sampled_from(["eq", "list", "cmp", "has", "is"]))
    if kind == "eq":
        return Filter(draw(st.sampled_from(KEYS)), "=", (draw(VALUES),), negated)
    if kind == "list":
        items = st.one_of(st.sampled_from(WORDS), st.text(min_size=1, max_size=6).filter(lambda v: "*" not in v))
        return Filter(draw(st.sampled_from(KEYS)), "=", tuple(draw(st.lists(items, min_size=2, max_size=4))), negated)
    if kind == "cmp":
        op = draw(st.sampled_from([">", ">=", "<", "<="]))
        return Filter(draw(st.sampled_from(NUMERIC_KEYS)), op, (draw(BOUNDS),), negated)
    if kind == "has":
        return Filter(draw(st.sampled_from(KEYS + NUMERIC_KEYS)), "has", (), negated)
    return Filter("is", "=", (draw(st.sampled_from(["unresolved", "resolved"])),), negated)


USERS = st.fixed_dictionaries({}, optional={"id": st.sampled_from(["1", "42"]), "email": st.sampled_from(WORDS)})


@st.composite
def events(draw: st.DrawFn) -> Event:
    fields = {
        "level": st.sampled_from(["error", "fatal", "warning"]),
        "environment": st.sampled_from(["prod", "staging"]),
        "release": st.sampled_from(["1.0", "2.0"]),
        "transaction": st.sampled_from(["/api/users", "/health"]),
        "message": st.sampled_from(["Database timeout", "ok", ""]),
        "user": USERS,
        "tags": st.lists(st.tuples(st.sampled_from(["region", "release", "level"]), st.sampled_from(WORDS)).map(list)),
        "transaction.duration": st.integers(0, 5000),
        "http.status_code": st.sampled_from([200, 404, 500, 503]),
        "timestamp": st.sampled_from([1695884400.0, "2023-09-28T06:00:00Z", "2024-01-01"]),
        "group_status": st.sampled_from(["resolved", "unresolved", "ignored"]),
    }
    chosen = draw(st.lists(st.sampled_from(sorted(fields)), unique=True))
    return {key: draw(fields[key]) for key in chosen}


@given(filters())
def test_generated_filters_round_trip_through_str(f: Filter) -> None:
    assert parse(str(f)).root == f


Leaf = tuple[str, Callable[[Event], bool]]


def _leaves() -> st.SearchStrategy[Leaf]:
    texts = st.sampled_from(["timeout", "database timeout", "api", "ok"]).map(lambda t: f'"{t}"')
    return st.one_of(filters().map(str), texts).map(lambda s: (s, parse(s).matches))


def _combine(children: st.SearchStrategy[Leaf]) -> st.SearchStrategy[Leaf]:
    def join(op: str, parts: list[Leaf]) -> Leaf:
        text = (f" {op} " if op else " ").join(f"({s})" for s, _ in parts)
        fns = [fn for _, fn in parts]
        if op == "OR":
            return text, lambda e: any(fn(e) for fn in fns)
        return text, lambda e: all(fn(e) for fn in fns)

    parts = st.lists(children, min_size=2, max_size=3)
    return st.one_of(*(parts.map(lambda p, op=op: join(op, p)) for op in ("AND", "", "OR")))


QUERIES = st.recursive(_leaves(), _combine, max_leaves=8)


@settings(max_examples=300)
@given(QUERIES, st.lists(events(), min_size=1, max_size=4))
def test_generated_queries_parse_round_trip_and_mean_their_structure(query: Leaf, sample: list[Event]) -> None:
    text, expected = query
    q = parse(text)
    assert parse(str(q)) == q
    assert str(parse(str(q))) == str(q)
    for event in sample:
        assert q.matches(event) == expected(event)


@settings(max_examples=100)
@given(st.lists(st.tuples(st.sampled_from(["AND", "OR"]), st.sampled_from(["level:error", "has:user", "region:eu"]))),
       st.sampled_from(["environment:prod", "!has:release"]), events())
def test_mixing_and_with_or_puts_and_first(rest: list[tuple[str, str]], first: str, event: Event) -> None:
    """As Sentry documents, "x AND y OR z" is "(x AND y) OR z": OR splits, AND groups."""
    text = " ".join([first] + [f"{op} {term}" for op, term in rest])
    groups = [group.split(" AND ") for group in text.split(" OR ")]
    assert parse(text).matches(event) == any(all(parse(t).matches(event) for t in g) for g in groups)


@given(events())
def test_the_empty_query_matches_everything(event: Event) -> None:
    assert parse("").matches(event)


@given(filters(), events())
def test_negation_flips_a_single_filter(f: Filter, event: Event) -> None:
    positive, negative = Filter(f.key, f.op, f.values, False), Filter(f.key, f.op, f.values, True)
    # flips whether or not the key is present: `!` is plain NOT here (see the module docstring)
    assert parse(str(negative)).matches(event) == (not parse(str(positive)).matches(event))


@given(st.sampled_from(KEYS), st.lists(st.sampled_from(WORDS), min_size=2, max_size=4), events())
def test_a_list_means_any_of(key: str, words: list[str], event: Event) -> None:
    """Sentry: "x:[value1, value2]" finds the same as "x:value1 OR x:value2"."""
    as_list = parse(f"{key}:[{', '.join(words)}]")
    as_or = parse(" OR ".join(f"{key}:{w}" for w in words))
    assert as_list.matches(event) == as_or.matches(event)
