"""vigil.ingest.normalize: realistic payloads shaped like the Python sentry-sdk's (written by hand
from Sentry's documented event interfaces), every normalization rule, the stream fields, then
properties: any JSON-ish dict gives an Event whose stream fields are strings, or a BadRequest."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.ingest.errors import BadRequest, IngestError
from vigil.ingest.event import Event, Limits
from vigil.ingest.normalize import format_message, normalize, parse_timestamp

EID = "9ec79c33ec9942ab8353589fcb2e04dc"
FALLBACK = "f" * 32
RECEIVED = 1_700_000_100.0  # 2023-11-14T22:15:00Z
ISO = "2023-11-14T22:13:20.250000Z"  # RECEIVED - 99.75 s

PY_EXCEPTION: dict[str, Any] = {
    "event_id": EID,
    "timestamp": ISO,
    "platform": "python",
    "level": "error",
    "logger": "django.request",
    "server_name": "web-1",
    "release": "shop@2.4.1",
    "dist": "b12",
    "environment": "production",
    "transaction": "/checkout/{id}",
    "sdk": {
        "name": "sentry.python.django",
        "version": "2.75.0",
        "integrations": ["django", "logging"],
        "packages": [{"name": "pypi:sentry-sdk", "version": "2.75.0"}],
        "settings": {"ignored": True},
    },
    "exception": {
        "values": [
            {
                "type": "KeyError",
                "value": "'sku'",
                "module": None,
                "mechanism": {"type": "chained", "handled": True, "source": "__cause__", "exception_id": 1},
                "stacktrace": {
                    "frames": [
                        {"filename": "shop/cart.py", "abs_path": "/srv/shop/cart.py", "function": "price",
                         "module": "shop.cart", "lineno": 88, "context_line": "    return item['sku']",
                         "pre_context": ["def price(item):"], "vars": {"item": "{}"}, "in_app": True},
                    ]
                },
            },
            {
                "type": "ValueError",
                "value": "cart is invalid\nsecond line",
                "module": None,
                "mechanism": {"type": "django", "handled": False, "exception_id": 0},
                "stacktrace": {
                    "frames": [
                        {"filename": "django/core/handlers/exception.py", "function": "inner",
                         "module": "django.core.handlers.exception", "lineno": 55, "in_app": False},
                        {"filename": "shop/views.py", "abs_path": "/srv/shop/views.py", "function": "checkout",
                         "module": "shop.views", "lineno": 31, "in_app": True},
                        {"filename": "shop/cart.py", "function": "total", "module": "shop.cart",
                         "lineno": 120, "in_app": True},
                        {"filename": "django/utils/functional.py", "function": "__get__",
                         "module": "django.utils.functional", "lineno": 57, "in_app": False},
                    ]
                },
            },
        ]
    },
    "request": {
        "url": "https://shop.example.com/checkout/17?step=2#pay",
        "method": "post",
        "headers": {"user-agent": "Mozilla/5.0", "Authorization": "Bearer abc", "cookie": "sessionid=xyz",
                    "X-Request-Id": "r-1"},
        "cookies": {"sessionid": "xyz", "theme": "dark"},
        "data": {"card": {"number": "4111", "password": "hunter2"}},
        "env": {"SERVER_NAME": "web-1", "REMOTE_ADDR": "10.0.0.5"},
    },
    "user": {"id": 42, "email": "ann@example.com", "ip_address": "{{auto}}", "segment": "pro",
             "geo": {"country_code": "FR"}},
    "contexts": {
        "runtime": {"name": "CPython", "version": "3.11.7", "type": "runtime"},
        "os": {"name": "Linux"},
        "trace": {"trace_id": "771a43a4192642f0b136d5159a501700", "span_id": "a0cfbde2bdff3adc", "op": "http.server"},
        "broken": "not an object",
    },
    "tags": {"customer_tier": "gold", "shard": 7, "flag": True, "bad key": "x", "empty": "", "level": "bogus"},
    "extra": {"cart_size": 3, "api_token": "t0k", "nested": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}}},
    "fingerprint": None,
    "breadcrumbs": {"values": [{"message": "ignored"}]},
    "modules": {"django": "5.0"},
}

PY_MESSAGE: dict[str, Any] = {
    "event_id": "0" * 31 + "1",
    "timestamp": RECEIVED - 5,
    "platform": "python",
    "level": "warning",
    "logger": "billing",
    "logentry": {"message": "User %s failed login %d times", "params": ["bob", 3]},
    "environment": "staging",
    "user": {"username": "bob"},
    "tags": [["region", "eu-west-1"], ["region", "us-east-1"], ["n", 1.5], ["broken"], "junk"],
    "extra": {"sys.argv": ["manage.py"]},
}

PY_TRANSACTION: dict[str, Any] = {
    "type": "transaction",
    "event_id": "1" * 32,
    "platform": "python",
    "transaction": "GET /api/orders",
    "transaction_info": {"source": "route"},
    "start_timestamp": RECEIVED - 2.0,
    "timestamp": "2023-11-14T22:14:59.250Z",  # RECEIVED - 0.75 s
    "release": "shop@2.4.1",
    "environment": "production",
    "contexts": {
        "trace": {"trace_id": "771a43a4192642f0b136d5159a501700", "span_id": "a0cfbde2bdff3adc",
                  "op": "http.server", "status": "Internal_Error"},
    },
    "spans": [
        {"span_id": "b1", "parent_span_id": "a0cfbde2bdff3adc", "trace_id": "771a43a4192642f0b136d5159a501700",
         "op": "db", "description": "SELECT * FROM orders", "start_timestamp": RECEIVED - 1.9,
         "timestamp": RECEIVED - 1.4, "status": "ok", "data": {"db.system": "postgresql"}},
        {"span_id": "b2", "op": "http.client", "description": "GET https://pay", "start_timestamp": "bad"},
        "junk",
    ],
    "measurements": {"lcp": {"value": 1}},
    "tags": {"http.status_code": "500"},
    "user": {"ip_address": "2001:db8::1"},
}


def _normalize(raw: dict[str, Any], **kw: Any) -> Event:
    kw.setdefault("project_id", 7)
    kw.setdefault("received", RECEIVED)
    kw.setdefault("fallback_id", FALLBACK)
    return normalize(copy.deepcopy(raw), **kw)


# --- realistic payloads --------------------------------------------------------------------------


def test_python_exception_event() -> None:
    ev = _normalize(PY_EXCEPTION, client_ip="203.0.113.9")
    assert ev.event_id == EID and ev.project_id == 7
    assert ev.type == "error"
    assert ev.timestamp == pytest.approx(RECEIVED - 99.75)
    assert ev.received == RECEIVED
    assert (ev.level, ev.platform, ev.logger, ev.server_name) == ("error", "python", "django.request", "web-1")
    assert (ev.release, ev.dist, ev.environment) == ("shop@2.4.1", "b12", "production")
    assert ev.transaction == "/checkout/{id}"
    assert ev.start_timestamp is None and ev.duration_ms is None
    # the chain stays oldest (the cause) first
    assert [e.type for e in ev.exceptions] == ["KeyError", "ValueError"]
    cause, outer = ev.exceptions
    assert cause.mechanism == {"type": "chained", "handled": True, "source": "__cause__", "exception_id": 1}
    assert cause.frames[0].context_line == "    return item['sku']"
    assert [f.function for f in outer.frames] == ["inner", "checkout", "total", "__get__"]
    assert [f.in_app for f in outer.frames] == [False, True, True, False]
    assert outer.frames[1].abs_path == "/srv/shop/views.py" and outer.frames[1].lineno == 31
    # title from the outermost exception's first line; culprit is the transaction, as Sentry does
    assert ev.title == "ValueError: cart is invalid"
    assert ev.culprit == "/checkout/{id}"
    assert ev.message is None
    # user: numbers become strings, {{auto}} the client's address, other keys go under data
    assert ev.user is not None
    assert (ev.user.id, ev.user.email, ev.user.ip_address) == ("42", "ann@example.com", "203.0.113.9")
    assert ev.user.data == {"segment": "pro", "geo": {"country_code": "FR"}}
    assert ev.user_tag == "id:42"
    # request: url split, method upper-cased, header names title-cased, secrets filtered
    req = ev.request
    assert req is not None
    assert (req.url, req.method, req.query_string) == ("https://shop.example.com/checkout/17", "POST", "step=2")
    assert dict(req.headers) == {"User-Agent": "Mozilla/5.0", "Authorization": "[Filtered]",
                                 "Cookie": "[Filtered]", "X-Request-Id": "r-1"}
    assert dict(req.cookies) == {"sessionid": "[Filtered]", "theme": "dark"}
    assert req.data == {"card": {"number": "4111", "password": "[Filtered]"}}
    assert req.env == {"SERVER_NAME": "web-1", "REMOTE_ADDR": "10.0.0.5"}
    # contexts keep objects only
    assert set(ev.contexts) == {"runtime", "os", "trace"}
    # tags: user tags validated, then the promoted ones replace same-named ones
    assert ev.tags == (
        ("customer_tier", "gold"), ("shard", "7"), ("flag", "true"),
        ("level", "error"), ("logger", "django.request"), ("environment", "production"),
        ("transaction", "/checkout/{id}"), ("sentry:release", "shop@2.4.1"), ("sentry:dist", "b12"),
        ("sentry:user", "id:42"), ("server_name", "web-1"),
    )
    assert ev.tag("level") == "error" and ev.tag("bad key") is None
    # extra: scrubbed and cut at depth 8
    assert ev.extra["api_token"] == "[Filtered]"
    assert ev.extra["nested"]["a"]["b"]["c"]["d"]["e"]["f"] == {"g": "[depth limit]"}  # 8 objects
    assert ev.sdk == {"name": "sentry.python.django", "version": "2.75.0", "integrations": ["django", "logging"],
                      "packages": [{"name": "pypi:sentry-sdk", "version": "2.75.0"}]}
    assert ev.fingerprint is None
    assert ev.errors == ()


def test_python_message_event_with_logentry_params() -> None:
    ev = _normalize(PY_MESSAGE)
    assert ev.type == "default"
    assert ev.event_id == "0" * 31 + "1"
    assert ev.message == "User bob failed login 3 times"
    assert ev.message_template == "User %s failed login %d times"
    assert ev.title == "User bob failed login 3 times"
    assert ev.culprit is None
    assert ev.level == "warning"
    assert ev.timestamp == RECEIVED - 5
    assert ev.tags == (("region", "eu-west-1"), ("n", "1.5"), ("level", "warning"), ("logger", "billing"),
                       ("environment", "staging"), ("sentry:user", "username:bob"))
    payload = ev.to_dict()
    assert payload["logentry"] == {"message": "User %s failed login %d times",
                                   "formatted": "User bob failed login 3 times"}
    assert payload["message"] == "User bob failed login 3 times"


def test_python_transaction_with_spans() -> None:
    ev = _normalize(PY_TRANSACTION)
    assert ev.type == "transaction"
    assert ev.level == "info"
    assert ev.transaction == "GET /api/orders"
    assert ev.title == "GET /api/orders" and ev.culprit == "GET /api/orders"
    assert ev.start_timestamp == RECEIVED - 2.0
    assert ev.timestamp == pytest.approx(RECEIVED - 0.75)
    assert ev.duration_ms == pytest.approx(1250.0)
    assert (ev.transaction_op, ev.transaction_status) == ("http.server", "internal_error")
    assert ev.exceptions == ()
    assert len(ev.spans) == 2
    db = ev.spans[0]
    assert db["op"] == "db" and db["description"] == "SELECT * FROM orders"
    assert db["duration_ms"] == pytest.approx(500.0)
    assert ev.spans[1] == {"span_id": "b2", "op": "http.client", "description": "GET https://pay"}
    assert ev.user_tag == "ip:2001:db8::1"
    assert ev.tag("transaction") == "GET /api/orders"
    assert ev.tag("http.status_code") == "500"
    fields = ev.stream_fields(None, False, False)
    assert fields["group"] == "" and fields["duration"] == repr(ev.duration_ms)
    assert fields["transaction_status"] == "internal_error"
    assert json.loads(fields["payload"])["spans"][0]["op"] == "db"


def test_transaction_item_type_makes_a_transaction() -> None:
    raw = {k: v for k, v in PY_TRANSACTION.items() if k != "type"}
    assert _normalize(raw).type == "default"
    assert _normalize(raw, item_type="transaction").type == "transaction"


def test_transaction_defaults() -> None:
    ev = _normalize({"type": "transaction", "start_timestamp": RECEIVED - 1, "timestamp": RECEIVED})
    assert ev.transaction == "<unlabeled transaction>"
    assert ev.transaction_status == "unknown" and ev.transaction_op is None
    assert ev.duration_ms == pytest.approx(1000.0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "no valid start_timestamp"),
        ({"start_timestamp": "yesterday"}, "no valid start_timestamp"),
        ({"start_timestamp": RECEIVED + 1, "timestamp": RECEIVED}, "ends before it starts"),
        ({"start_timestamp": RECEIVED + 30}, "ends before it starts"),  # timestamp defaults to received
    ],
)
def test_transaction_refusals(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        _normalize({"type": "transaction", **fields})


# --- ids -----------------------------------------------------------------------------------------


def test_event_ids() -> None:
    assert _normalize({"event_id": EID}, event_id="A" * 32).event_id == "a" * 32  # the envelope's wins
    assert _normalize({"event_id": "9EC79C33-EC99-42AB-8353-589FCB2E04DC"}).event_id == EID
    ev = _normalize({"event_id": "nope"})
    assert ev.event_id == FALLBACK and ev.errors == ("invalid_event_id",)
    assert _normalize({}).event_id == FALLBACK
    with pytest.raises(BadRequest, match="invalid event_id"):
        _normalize({}, event_id="zzz")
    with pytest.raises(BadRequest, match="no valid event_id"):
        _normalize({}, fallback_id=None)


def test_not_an_object() -> None:
    with pytest.raises(BadRequest, match="must be a JSON object"):
        normalize([1], project_id=1, received=RECEIVED, fallback_id=FALLBACK)  # type: ignore[arg-type]


# --- timestamps ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_700_000_000, 1_700_000_000.0),
        (1_700_000_000.5, 1_700_000_000.5),
        ("1700000000.25", 1_700_000_000.25),
        ("2023-11-14T22:13:20Z", 1_700_000_000.0),
        ("2023-11-14T22:13:20.5z", 1_700_000_000.5),
        ("2023-11-14T23:13:20+01:00", 1_700_000_000.0),
        ("2023-11-14T22:13:20.123456", 1_700_000_000.123456),  # naive: UTC
        ("2023-11-14 22:13:20", 1_700_000_000.0),
        (True, None),
        (None, None),
        ("", None),
        ("yesterday", None),
        ("2023-13-40T00:00:00Z", None),
        (float("nan"), None),
        (float("inf"), None),
        (-5, None),
        (0, None),
        (10**30, None),
        ("1e400", None),
        ({"a": 1}, None),
        ("x" * 100, None),
    ],
)
def test_parse_timestamp(value: Any, expected: float | None) -> None:
    result = parse_timestamp(value)
    assert result == (pytest.approx(expected) if expected is not None else None)


def test_missing_and_invalid_timestamps_become_received() -> None:
    assert _normalize({}).timestamp == RECEIVED
    ev = _normalize({"timestamp": "garbage"})
    assert ev.timestamp == RECEIVED and ev.errors == ("invalid_timestamp",)


def test_future_and_past_timestamps_are_clamped() -> None:
    assert _normalize({"timestamp": RECEIVED + 60}).timestamp == RECEIVED + 60  # within 60 s: kept
    ev = _normalize({"timestamp": RECEIVED + 61})
    assert ev.timestamp == RECEIVED and ev.errors == ("future_timestamp",)
    thirty_days = 30 * 86400
    assert _normalize({"timestamp": RECEIVED - thirty_days}).timestamp == RECEIVED - thirty_days
    ev = _normalize({"timestamp": RECEIVED - thirty_days - 1})
    assert ev.timestamp == RECEIVED and ev.errors == ("past_timestamp",)
    limits = Limits(max_future=0, max_past=10)
    assert _normalize({"timestamp": RECEIVED - 11}, limits=limits).timestamp == RECEIVED


def test_clamped_transaction_keeps_its_duration() -> None:
    ev = _normalize({"type": "transaction", "start_timestamp": RECEIVED + 3600,
                     "timestamp": RECEIVED + 3602, "spans": [{"start_timestamp": RECEIVED + 3601,
                                                               "timestamp": RECEIVED + 3601.5}]})
    assert ev.errors == ("future_timestamp",)
    assert ev.timestamp == RECEIVED and ev.start_timestamp == RECEIVED - 2
    assert ev.duration_ms == pytest.approx(2000.0)
    assert ev.spans[0]["start_timestamp"] == pytest.approx(RECEIVED - 1)


def test_clock_drift_from_sent_at() -> None:
    # the device's clock runs 2 hours behind: everything moves forward by the difference
    sent_at = "2023-11-14T20:15:00Z"  # RECEIVED - 7200
    ev = _normalize({"timestamp": RECEIVED - 7200 - 10}, sent_at=sent_at)
    assert ev.timestamp == pytest.approx(RECEIVED - 10)
    assert ev.errors == ("clock_drift",)
    tx = _normalize({"type": "transaction", "start_timestamp": RECEIVED - 7205, "timestamp": RECEIVED - 7200},
                    sent_at=RECEIVED - 7200)
    assert tx.timestamp == pytest.approx(RECEIVED) and tx.duration_ms == pytest.approx(5000.0)
    # under 55 minutes is latency, not drift
    ev = _normalize({"timestamp": RECEIVED - 600}, sent_at=RECEIVED - 590)
    assert ev.timestamp == RECEIVED - 600 and ev.errors == ()
    assert _normalize({"timestamp": RECEIVED - 1}, sent_at="garbage").timestamp == RECEIVED - 1


# --- scalars -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "expected"),
    [("fatal", "fatal"), ("ERROR", "error"), ("warning", "warning"), ("warn", "warning"), ("info", "info"),
     ("debug", "debug"), ("critical", "fatal"), ("log", "info"), (" Info ", "info"), (30, "warning"),
     (50, "fatal"), ("verbose", "error"), (None, "error"), (True, "error"), (7, "error"), ([], "error")],
)
def test_levels(level: Any, expected: str) -> None:
    assert _normalize({"level": level}).level == expected


def test_transaction_level_defaults_to_info() -> None:
    tx = {"type": "transaction", "start_timestamp": RECEIVED - 1}
    assert _normalize({**tx, "level": "nonsense"}).level == "info"
    assert _normalize({**tx, "level": "warning"}).level == "warning"


@pytest.mark.parametrize(("platform", "expected"), [("python", "python"), ("javascript", "javascript"),
                                                    ("Python", "other"), ("cobol", "other"), (None, "other"),
                                                    (3, "other")])
def test_platform(platform: Any, expected: str) -> None:
    assert _normalize({"platform": platform}).platform == expected


@pytest.mark.parametrize(
    ("environment", "expected"),
    [("production", "production"), (" staging ", "staging"), (None, None), ("", None), ("a/b", None),
     ("x\ny", None), ("e" * 64, "e" * 64), ("e" * 65, None), (5, None)],
)
def test_environment(environment: Any, expected: str | None) -> None:
    ev = _normalize({"environment": environment})
    assert ev.environment == expected
    assert ev.tag("environment") == expected


@pytest.mark.parametrize(
    ("release", "expected"),
    [("app@1.0.0", "app@1.0.0"), (" 1.2 ", "1.2"), (12, "12"), (1.5, "1.5"), ("latest", None), (".", None),
     ("..", None), ("a/b", None), ("a\\b", None), ("a\tb", None), ("r" * 200, "r" * 200), ("r" * 201, None),
     ("", None), (None, None), ([], None)],
)
def test_release(release: Any, expected: str | None) -> None:
    ev = _normalize({"release": release, "dist": "7"})
    assert ev.release == expected
    assert ev.tag("sentry:release") == expected
    assert ev.dist == ("7" if expected else None)  # dist needs a release


@pytest.mark.parametrize(("dist", "expected"), [("b1", "b1"), (7, "7"), ("a b", None), ("d" * 65, None), ("", None)])
def test_dist(dist: Any, expected: str | None) -> None:
    ev = _normalize({"release": "1.0", "dist": dist})
    assert ev.dist == expected and ev.tag("sentry:dist") == expected


def test_logger_and_transaction_are_trimmed() -> None:
    ev = _normalize({"logger": "l" * 100, "transaction": "t" * 300})
    assert ev.logger is not None and len(ev.logger) == 64
    assert ev.transaction is not None and len(ev.transaction) == 200
    assert ev.tag("transaction") == ev.transaction


# --- message -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "formatted", "template"),
    [
        ({"message": "plain"}, "plain", None),
        ({"message": {"message": "a %s", "params": ["b"]}}, "a b", "a %s"),
        ({"logentry": {"formatted": "done", "message": "d%s", "params": ["one"]}}, "done", "d%s"),
        ({"logentry": {"message": "no params"}}, "no params", None),
        ({"logentry": {"message": "%(user)s did %(n)d things", "params": {"user": "ann", "n": 2}}},
         "ann did 2 things", "%(user)s did %(n)d things"),
        ({"logentry": {"message": "{} and {}", "params": ["x", "y"]}}, "x and y", "{} and {}"),
        ({"logentry": {"message": "{1} before {0}", "params": ["x", "y"]}}, "y before x", "{1} before {0}"),
        ({"logentry": {"message": "{name}!", "params": {"name": "z"}}}, "z!", "{name}!"),
        ({"logentry": {"message": "100%% of %s", "params": ["it"]}}, "100% of it", "100%% of %s"),
        ({"logentry": {"message": "%s %s", "params": ["only"]}}, "only %s", "%s %s"),
        ({"logentry": {"message": "%5.2f|%-3d|%r", "params": [1.5, 2, "x"]}}, "1.5|2|x", "%5.2f|%-3d|%r"),
        ({"logentry": {"message": "v=%s", "params": [{"k": [1, None]}]}}, 'v={"k":[1,null]}', "v=%s"),
        ({"logentry": {"message": "v=%s", "params": "solo"}}, "v=solo", "v=%s"),
        ({"logentry": "legacy string"}, "legacy string", None),
        ({"logentry": {"message": "x"}, "message": "ignored"}, "x", None),
        ({"logentry": {}, "message": "fallback"}, "fallback", None),
        ({"message": 42}, "42", None),
        ({"message": ""}, None, None),
        ({"message": ["nope"]}, None, None),
        ({"sentry.interfaces.Message": {"message": "legacy %s", "params": ["alias"]}}, "legacy alias", "legacy %s"),
    ],
)
def test_messages(raw: dict[str, Any], formatted: str | None, template: str | None) -> None:
    ev = _normalize(raw)
    assert (ev.message, ev.message_template) == (formatted, template)


def test_format_message_is_bounded_while_built() -> None:
    limits = Limits(max_string=1000)
    out = format_message("%s" * 10_000, ["x" * 1000] * 10_000, limits)
    assert len(out) == 1000 and out.endswith("...")
    out = format_message("%(a)s" * 10_000, {"a": "y" * 5000}, limits)
    assert len(out) == 1000
    assert format_message("%999999999d", [1]) == "1"  # widths are ignored, never allocated


def test_message_title_first_line_and_truncated() -> None:
    ev = _normalize({"message": "  first line\nsecond"})
    assert ev.title == "first line"
    ev = _normalize({"message": "m" * 500})
    assert len(ev.title) == 100 and ev.title.endswith("...")
    assert _normalize({}).title == "<unlabeled event>"
    assert _normalize({"message": "   "}).title == "<unlabeled event>"


# --- exceptions ----------------------------------------------------------------------------------


def test_exception_shapes() -> None:
    single = _normalize({"exception": {"type": "OSError", "value": "disk"}})  # legacy lone exception
    assert [(e.type, e.value) for e in single.exceptions] == [("OSError", "disk")]
    listed = _normalize({"exception": [{"type": "A"}, {"value": "only value"}, {"module": "x"}, "junk"]})
    assert [(e.type, e.value) for e in listed.exceptions] == [("A", None), (None, "only value")]
    assert listed.title == "Error: only value"
    lenient = _normalize({"exception": {"values": [{"type": "E", "value": {"code": 5}}]}})
    assert lenient.exceptions[0].value == '{"code":5}'
    assert _normalize({"exception": {"values": []}}).type == "default"
    assert _normalize({"exception": {"values": [{}]}}).type == "default"
    assert _normalize({"exception": "x"}).type == "default"
    alias = _normalize({"sentry.interfaces.Exception": {"values": [{"type": "Legacy"}]}})
    assert alias.type == "error" and alias.title == "Legacy"


def test_frames_are_cleaned_and_trimmed_in_the_middle() -> None:
    frames = [{"function": f"f{i}", "lineno": i, "in_app": i % 2 == 0} for i in range(300)]
    frames.append({"function": "bad", "lineno": "12", "colno": -1, "in_app": "yes", "filename": 5})
    ev = _normalize({"exception": {"values": [{"type": "E", "stacktrace": {"frames": frames}}]}},
                    limits=Limits(max_frames=10))
    kept = ev.exceptions[0].frames
    assert [f.function for f in kept] == ["f0", "f1", "f2", "f3", "f4", "f296", "f297", "f298", "f299", "bad"]
    assert (kept[-1].lineno, kept[-1].colno, kept[-1].in_app, kept[-1].filename) == (None, None, None, None)


def test_exception_chain_keeps_the_outermost() -> None:
    values = [{"type": f"E{i}"} for i in range(40)]
    ev = _normalize({"exception": {"values": values}})
    assert len(ev.exceptions) == 25 and ev.exceptions[-1].type == "E39"


@pytest.mark.parametrize(
    ("frames", "culprit"),
    [
        ([{"module": "a", "function": "f", "in_app": True}, {"module": "lib", "function": "g"}], "a in f"),
        ([{"module": "lib", "function": "g"}, {"module": "lib2", "function": "h"}], "lib2 in h"),
        ([{"filename": "x.py", "function": "f", "in_app": True}], "x.py in f"),
        ([{"filename": "x.py", "in_app": True}], "x.py"),
        ([], None),
    ],
)
def test_culprit_from_frames(frames: list[dict[str, Any]], culprit: str | None) -> None:
    ev = _normalize({"exception": {"values": [{"type": "E", "stacktrace": {"frames": frames}}]}})
    assert ev.culprit == culprit


def test_culprit_given_by_the_sdk_wins() -> None:
    assert _normalize({"culprit": "mine", "transaction": "t"}).culprit == "mine"


# --- user, request, contexts, tags, fingerprint, free-form ------------------------------------------


@pytest.mark.parametrize(
    ("user", "tag"),
    [
        ({"id": "u1", "email": "a@b.c", "username": "n", "ip_address": "1.2.3.4"}, "id:u1"),
        ({"email": "a@b.c", "username": "n"}, "email:a@b.c"),
        ({"username": "n", "ip_address": "1.2.3.4"}, "username:n"),
        ({"ip_address": "1.2.3.4"}, "ip:1.2.3.4"),
        ({"ip_address": "not an ip"}, None),
        ({"ip_address": "{{auto}}"}, None),  # no client address known
        ({"id": ""}, None),
        ({"id": True}, None),
        ({"id": 7.0}, "id:7"),
    ],
)
def test_user_tag(user: dict[str, Any], tag: str | None) -> None:
    ev = _normalize({"user": user})
    assert ev.user_tag == tag
    assert ev.tag("sentry:user") == tag


def test_user_without_identity_and_with_data() -> None:
    assert _normalize({"user": {}}).user is None
    assert _normalize({"user": "bob"}).user is None
    ev = _normalize({"user": {"name": "Ann", "data": {"plan": "pro"}, "password": "x"}})
    assert ev.user is not None and ev.user.name == "Ann"
    assert ev.user.data == {"plan": "pro", "password": "[Filtered]"}
    assert ev.user_tag is None


def test_request_shapes() -> None:
    ev = _normalize({"request": {"url": "/p?a=1", "query_string": {"b": "2"}, "method": "not a method!",
                                 "headers": [["accept", "json"], ["x-list", ["a", "b"]], ["bad"], [1, "x"]],
                                 "cookies": "a=1; session_key=2; junk"}})
    req = ev.request
    assert req is not None
    assert (req.url, req.query_string, req.method) == ("/p", "b=2", None)
    assert req.headers == (("Accept", "json"), ("X-List", "a, b"))
    assert req.cookies == (("a", "1"), ("session_key", "[Filtered]"))
    assert _normalize({"request": {"query_string": "?x=1"}}).request.query_string == "x=1"  # type: ignore[union-attr]
    assert _normalize({"request": "nope"}).request is None


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"a": "1", "b": 2, "c": False, "d": None, "e": [1], "f": {"x": 1}}, [("a", "1"), ("b", "2"), ("c", "false")]),
        ([["a", "1"], ["a", "2"], ("b", "3")], [("a", "1"), ("b", "3")]),
        ({"k" * 200: "v", "k" * 201: "v"}, [("k" * 200, "v")]),
        ({"v": "x" * 200, "w": "x" * 201}, [("v", "x" * 200)]),
        ({"ok.key:-_1": "v", "sp ace": "v", "sl/ash": "v", "": "v", "nl": "a\nb", "blank": "  "},
         [("ok.key:-_1", "v")]),
        ({" padded ": " v "}, [("padded", "v")]),
        ("a:b", []),
        (None, []),
        ([["x", float("nan")], ["y", 1e300]], [("y", "1e+300")]),
    ],
)
def test_tags(tags: Any, expected: list[tuple[str, str]]) -> None:
    ev = _normalize({"tags": tags, "level": "error"})
    assert list(ev.tags) == expected + [("level", "error")]


def test_promoted_tags_replace_user_tags() -> None:
    ev = _normalize({"tags": {"environment": "fake", "transaction": "fake", "other": "1"},
                     "environment": "prod", "transaction": "/real"})
    assert ev.tags == (("other", "1"), ("level", "error"), ("environment", "prod"), ("transaction", "/real"))
    # an invalid promoted value leaves the user's tag alone
    ev = _normalize({"tags": {"transaction": "mine"}, "transaction": "multi\nline"})
    assert ev.tag("transaction") == "mine"


def test_too_many_tags() -> None:
    ev = _normalize({"tags": {f"t{i}": "v" for i in range(300)}}, limits=Limits(max_tags=5))
    assert len(ev.tags) == 6  # five of the user's, then level


@pytest.mark.parametrize(
    ("fingerprint", "expected"),
    [
        (["{{ default }}", "db"], ("{{ default }}", "db")),
        (["a", 1, 2.5, None, {"x": 1}, True], ("a", "1", "2.5")),
        ([], None),
        ([None], None),
        ("not-a-list", None),
    ],
)
def test_fingerprint(fingerprint: Any, expected: tuple[str, ...] | None) -> None:
    assert _normalize({"fingerprint": fingerprint}).fingerprint == expected


def test_free_form_limits() -> None:
    limits = Limits(max_string=20, max_depth=3, max_breadth=4)
    ev = _normalize({"extra": {"long": "x" * 100, "list": list(range(10)), "deep": {"a": {"b": {"c": 1}}},
                               "nan": float("nan"), "big": 2**70, "many": {str(i): i for i in range(10)}},
                     "contexts": {"c": {"a": {"b": {"c": 1}}}}},
                    limits=limits)
    assert ev.extra["long"] == "x" * 17 + "..."
    assert ev.extra["list"] == [0, 1, 2, 3]
    assert ev.extra["deep"] == {"a": {"b": "[depth limit]"}}  # extra, deep, a: three levels
    assert "nan" not in ev.extra or ev.extra["nan"] is None
    assert len(ev.extra) == 4  # max_breadth cuts the top-level object too
    assert ev.contexts == {"c": {"a": {"b": "[depth limit]"}}}  # contexts, c, a


def test_default_depth_is_eight_levels() -> None:
    deep: Any = "leaf"
    for _ in range(12):
        deep = {"k": deep}
    ev = _normalize({"extra": deep})
    node: Any = ev.extra
    depth = 0
    while isinstance(node, dict):
        node, depth = node["k"], depth + 1
    assert depth == 8 and node == "[depth limit]"


def test_strings_are_capped_and_made_valid_utf8() -> None:
    ev = _normalize({"message": "m" * 10_000, "extra": {"s": "\ud800 lone surrogate"},
                     "exception": {"values": [{"type": "E", "value": "v" * 10_000}]}})
    assert ev.message is not None and len(ev.message) == 8192
    assert len(ev.exceptions[0].value or "") == 8192
    assert ev.extra["s"] == "? lone surrogate"
    ev.to_json().encode("utf-8")


# --- stream fields -------------------------------------------------------------------------------


def test_stream_fields_of_an_error() -> None:
    ev = _normalize(PY_EXCEPTION)
    fields = ev.stream_fields("a" * 32, True, False)
    assert fields == {
        "event_id": EID,
        "project_id": "7",
        "type": "error",
        "timestamp": repr(ev.timestamp),
        "received": repr(RECEIVED),
        "group": "a" * 32,
        "is_new": "1",
        "is_regression": "0",
        "environment": "production",
        "release": "shop@2.4.1",
        "level": "error",
        "platform": "python",
        "transaction": "/checkout/{id}",
        "user": "id:42",
        "title": "ValueError: cart is invalid",
        "tags": json.dumps([list(p) for p in ev.tags], separators=(",", ":")),
        "payload": ev.to_json(),
    }
    payload = json.loads(fields["payload"])
    assert payload["exception"]["values"][1]["stacktrace"]["frames"][1]["function"] == "checkout"
    assert payload["tags"][0] == ["customer_tier", "gold"]
    assert payload["user"]["id"] == "42"
    assert "vars" not in json.dumps(payload)  # frame locals are not kept
    assert float(fields["timestamp"]) == ev.timestamp


def test_stream_fields_of_a_bare_event() -> None:
    fields = _normalize({}).stream_fields(None, False, True)
    assert fields["environment"] == "" and fields["release"] == "" and fields["user"] == ""
    assert fields["is_regression"] == "1" and "duration" not in fields
    assert json.loads(fields["payload"])["title"] == "<unlabeled event>"


# --- properties ----------------------------------------------------------------------------------

_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["transaction", "error", "{{auto}}", "1.2.3.4", ISO, EID, "%s %d %(x)s {} {0}", "python"])
)
_json_ish = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
_keys = st.sampled_from([
    "event_id", "timestamp", "start_timestamp", "type", "level", "platform", "logger", "transaction", "release",
    "dist", "environment", "message", "logentry", "user", "request", "contexts", "tags", "exception", "fingerprint",
    "sdk", "extra", "spans", "server_name", "culprit", "sentry.interfaces.Exception",
])
_interfaces = st.fixed_dictionaries({}, optional={
    "exception": st.fixed_dictionaries({"values": st.lists(st.fixed_dictionaries({}, optional={
        "type": _scalars, "value": _json_ish, "module": _scalars, "mechanism": _json_ish,
        "stacktrace": st.fixed_dictionaries({"frames": st.lists(st.dictionaries(
            st.sampled_from(["filename", "module", "function", "lineno", "in_app", "colno", "abs_path"]),
            _scalars), max_size=4)}),
    }), max_size=3)}),
    "logentry": st.fixed_dictionaries({}, optional={"message": _scalars, "params": _json_ish, "formatted": _scalars}),
    "user": st.dictionaries(st.sampled_from(["id", "email", "username", "ip_address", "name", "data", "geo"]),
                            _json_ish),
    "request": st.dictionaries(st.sampled_from(["url", "method", "headers", "cookies", "query_string", "data",
                                                "env"]), _json_ish),
    "tags": _json_ish,
    "spans": st.lists(st.dictionaries(st.sampled_from(["op", "start_timestamp", "timestamp", "description"]),
                                      _scalars), max_size=3),
})
_events = st.one_of(
    st.dictionaries(_keys, _json_ish, max_size=12),
    st.builds(lambda a, b: {**a, **b}, st.dictionaries(_keys, _json_ish, max_size=8), _interfaces),
    st.dictionaries(st.text(max_size=10), _json_ish, max_size=6),
)


@given(_events, st.sampled_from([None, "event", "transaction", "attachment"]),
       st.one_of(st.none(), st.floats(min_value=1e9, max_value=2e9), st.text(max_size=30)))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_normalize_arbitrary_payloads(raw: dict[str, Any], item_type: str | None, sent_at: Any) -> None:
    try:
        ev = normalize(raw, project_id=3, received=RECEIVED, fallback_id=FALLBACK, item_type=item_type,
                       sent_at=sent_at, client_ip="198.51.100.1")
    except IngestError as exc:
        assert isinstance(exc, BadRequest)
        return
    assert ev.type in ("error", "default", "transaction")
    assert len(ev.event_id) == 32
    assert math.isfinite(ev.timestamp) and ev.timestamp <= RECEIVED + 60
    if ev.type == "transaction":
        assert ev.duration_ms is not None and ev.duration_ms >= 0
    for group in (None, "0" * 32):
        fields = ev.stream_fields(group, True, False)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items())
        for value in fields.values():
            value.encode("utf-8")  # Redis gets valid UTF-8
        assert json.loads(fields["payload"])["event_id"] == ev.event_id
        json.loads(fields["tags"])
    for key, value in ev.tags:
        assert 0 < len(key) <= 200 and 0 < len(value) <= 200 and "\n" not in value
