"""`vigil ingest` over raw HTTP against a real redis-server: every refusal answers the right 4xx,
names its problem and writes nothing; what Sentry SDKs send is accepted; no body makes it answer
5xx or fall over; /metrics counts what happened.

Two ingest processes are shared by the module: `main` (default limits, database 11) and `small`
(tiny limits, database 12, for the size refusals). Both databases are flushed around each test and
hold the same `vigil:keys` entries, so the ingest's key cache never sees a stale configuration."""

from __future__ import annotations

import gzip
import http.client
import json
import re
import subprocess
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import brotli
import pytest
import redis
from hypothesis import HealthCheck, event as hypothesis_event, given, settings
from hypothesis import strategies as st

from tests.support import http_status, on_db, start_ingest, stop

PROJECT = 42
OTHER_PROJECT = 43
KEY = "0123456789abcdef0123456789abcdef"  # project 42, no rate limit
OTHER_KEY = "fedcba9876543210fedcba9876543210"  # project 43
LIMITED_KEY = "11112222333344445555666677778888"  # project 42, 2 requests a minute
UNKNOWN_KEY = "ffffffffffffffffffffffffffffffff"
KEYS = {
    KEY: {"project_id": PROJECT, "namespace": "test", "project": "backend", "rate_limit": None},
    OTHER_KEY: {"project_id": OTHER_PROJECT, "namespace": "test", "project": "frontend", "rate_limit": None},
    LIMITED_KEY: {"project_id": PROJECT, "namespace": "test", "project": "backend", "rate_limit": [2, 60]},
}
MAIN_DB, SMALL_DB = 11, 12
SMALL_ENVELOPE_BYTES, SMALL_EVENT_BYTES = 64 * 1024, 16 * 1024
ENVELOPE = f"/api/{PROJECT}/envelope/"
STORE = f"/api/{PROJECT}/store/"


# --- processes -----------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    redis: redis.Redis
    log: Path

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                *, chunked: bool = False, timeout: float = 60) -> Response:  # fmt: skip
        return _request(self.port, method, path, body, headers or {}, chunked=chunked, timeout=timeout)

    def snapshot(self) -> tuple[int, frozenset[bytes]]:
        return self.redis.dbsize(), frozenset(self.redis.keys("*"))

    def stream(self, kind: str = "events", project: int = PROJECT) -> list[dict[str, str]]:
        entries = self.redis.xrange(f"vigil:{{p{project}}}:{kind}")
        return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]

    def reset(self) -> None:
        self.redis.flushdb()
        self.redis.hset("vigil:keys", mapping={k: json.dumps(v) for k, v in KEYS.items()})


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def problem(self) -> str:
        """What the answer says is wrong: X-Sentry-Error and the JSON detail, else the text body."""
        parts = [self.headers.get("x-sentry-error", "")]
        try:
            parts.append(str(self.json().get("detail", "")))
        except (ValueError, AttributeError):
            parts.append(self.body.decode("utf-8", "replace"))
        return " | ".join(parts)


def _request(port: int, method: str, path: str, body: bytes | None, headers: dict[str, str], *, chunked: bool,
             timeout: float) -> Response:  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if chunked:
            conn.request(method, path, body=iter([body[i : i + 8192] for i in range(0, len(body or b""), 8192)]),
                         headers=headers, encode_chunked=True)  # fmt: skip
        else:
            conn.request(method, path, body=body, headers=headers)
        res = conn.getresponse()
        return Response(res.status, {k.lower(): v for k, v in res.getheaders()}, res.read())
    finally:
        conn.close()


def _start(redis_url: str, db: int, log: Path, *extra: str) -> Server:
    db_url = on_db(redis_url, db)
    url, proc = start_ingest(db_url, log, *extra)
    server = Server(url, urlsplit(url).port or 0, proc, redis.Redis.from_url(db_url), log)
    server.reset()
    return server


def _stop(server: Server) -> str:
    stop(server.proc)
    try:
        server.redis.flushdb()
    except redis.RedisError:
        pass
    server.redis.close()
    return server.log.read_text()


def _unhandled(log: str) -> list[str]:
    """The tracebacks in an ingest log, except aiohttp's own HTTP parse errors (it logs the
    traceback of a request it refuses as malformed, e.g. a header over 8190 bytes, and answers
    400): any other is a request the ingest did not handle, which aiohttp answers 500."""
    blocks = log.split("Traceback (most recent call last):")[1:]
    return [b for b in blocks if not re.search(r"^aiohttp\.http_exceptions\.\w+: 4\d\d", b, re.M)]


@dataclass
class Servers:
    main: Server
    small: Server

    def __getitem__(self, name: str) -> Server:
        return getattr(self, name)


@pytest.fixture(scope="module")
def servers(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    logs = tmp_path_factory.mktemp("ingest-http")
    main = _start(redis_url, MAIN_DB, logs / "main.log")
    try:
        small = _start(redis_url, SMALL_DB, logs / "small.log", "--max-envelope-bytes", str(SMALL_ENVELOPE_BYTES),
                       "--max-event-bytes", str(SMALL_EVENT_BYTES))  # fmt: skip
    except BaseException:
        _stop(main)
        raise
    yield Servers(main, small)
    alive = [server.proc.poll() is None for server in (main, small)]
    logs_text = [_stop(server) for server in (main, small)]  # both stopped before anything is asserted
    for up, log in zip(alive, logs_text):
        assert up, f"the ingest died:\n{log}"
        assert not _unhandled(log), log


@pytest.fixture
def srv(servers: Servers) -> Iterator[Servers]:
    for server in (servers.main, servers.small):
        server.reset()
    yield servers
    for server in (servers.main, servers.small):
        server.reset()


# --- building requests ---------------------------------------------------------------------------


def eid() -> str:
    return uuid.uuid4().hex


def auth(key: str = KEY) -> dict[str, str]:
    return {"X-Sentry-Auth": f"Sentry sentry_version=7, sentry_client=raw-http/1.0, sentry_key={key}"}


def event(event_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"event_id": event_id or eid(), "platform": "python", "level": "error", "message": "disk full",
            "timestamp": time.time(), **extra}  # fmt: skip


def transaction(event_id: str | None = None, *, start: float | None = None, end: float | None = None) -> dict[str, Any]:
    now = time.time()
    return {"event_id": event_id or eid(), "type": "transaction", "transaction": "GET /checkout",
            "start_timestamp": now - 0.5 if start is None else start, "timestamp": now if end is None else end,
            "contexts": {"trace": {"trace_id": eid(), "span_id": eid()[:16], "op": "http.server"}},
            "spans": []}  # fmt: skip


def envelope(*items: tuple[dict[str, Any], bytes], **headers: Any) -> bytes:
    lines = [json.dumps(headers).encode()]
    for item_headers, payload in items:
        lines += [json.dumps(item_headers).encode(), payload]
    return b"\n".join(lines) + b"\n"


def event_item(payload: dict[str, Any] | bytes, kind: str = "event",
               with_length: bool = True) -> tuple[dict[str, Any], bytes]:  # fmt: skip
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return ({"type": kind, "length": len(raw)} if with_length else {"type": kind}), raw


def event_envelope(ev: dict[str, Any] | None = None, **headers: Any) -> bytes:
    ev = ev or event()
    return envelope(event_item(ev), event_id=ev["event_id"], sent_at="2024-01-01T00:00:00Z", **headers)


def session_envelope() -> bytes:
    session = {"sid": str(uuid.uuid4()), "init": True, "started": "2024-01-01T00:00:00Z", "status": "ok",
               "attrs": {"release": "backend@1.0"}}  # fmt: skip
    return envelope(event_item(session, "session"), sent_at="2024-01-01T00:00:00Z")


def gzip_of(data: bytes) -> bytes:
    return gzip.compress(data)


def deflate_of(data: bytes) -> bytes:
    return zlib.compress(data)


def raw_deflate_of(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


@cache
def bomb(wbits: int, mib: int = 200) -> bytes:
    """`mib` MiB of zeros, compressed a MiB at a time (the test never holds them): ~200 KiB."""
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    zeros = bytes(1 << 20)
    return b"".join(c.compress(zeros) for _ in range(mib)) + c.flush()


# --- 1. refusals ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    name: str
    status: int | tuple[int, ...]
    problem: str | tuple[str, ...]  # a substring (any of) of X-Sentry-Error / detail (or aiohttp's text)
    body: Callable[[], bytes | None]
    headers: dict[str, str] = field(default_factory=lambda: auth())
    path: str = ENVELOPE
    method: str = "POST"
    server: str = "main"
    chunked: bool = False
    sentry_error: bool = True  # the ingest's own refusal (X-Sentry-Error + JSON detail), not aiohttp's
    rate_limited: bool = False


def _deep() -> bytes:
    ev = json.dumps(event(extra={"deep": "@"})).encode().replace(b'"@"', b"[" * 10_000 + b"]" * 10_000)
    return envelope(event_item(ev))


def _invalid_utf8() -> bytes:
    body = json.dumps(event(message="caf@")).encode().replace(b"caf@", b"caf\xff\xfe")
    assert b"\xff\xfe" in body
    return body


def _two_events() -> bytes:
    e1, e2 = event(), event()
    return envelope(event_item(e1), event_item(e2), event_id=e1["event_id"])


def _event_and_transaction() -> bytes:
    return envelope(event_item(event()), event_item(transaction(), "transaction"))


def _length_past_end() -> bytes:
    raw = json.dumps(event()).encode()
    item = json.dumps({"type": "event", "length": len(raw) + 50}).encode()
    return b"{}\n" + item + b"\n" + raw


BAD: list[Bad] = [
    # auth
    Bad("missing key", 403, "missing authorization", event_envelope, headers={}),
    Bad("wrong key", 403, "unknown public key", event_envelope, headers=auth(UNKNOWN_KEY)),
    Bad("key of another project", 403, "does not belong to this project", event_envelope, headers=auth(OTHER_KEY)),
    Bad("key of another project, store", 403, "does not belong to this project",
        lambda: json.dumps(event()).encode(), headers=auth(OTHER_KEY), path=STORE),  # fmt: skip
    Bad("query key unknown", 403, "unknown public key", event_envelope, headers={},
        path=f"{ENVELOPE}?sentry_key={UNKNOWN_KEY}&sentry_version=7"),  # fmt: skip
    Bad("auth header of another scheme", 400, "malformed X-Sentry-Auth header", event_envelope,
        headers={"X-Sentry-Auth": f"Bearer {KEY}"}),  # fmt: skip
    Bad("auth header without key=value", 400, "is not key=value", event_envelope,
        headers={"X-Sentry-Auth": f"Sentry sentry_version=7, {KEY}"}),  # fmt: skip
    Bad("auth header with a bad key", 400, "invalid sentry_key", event_envelope,
        headers={"X-Sentry-Auth": "Sentry sentry_version=7, sentry_key=not/a/key"}),  # fmt: skip
    Bad("auth header without key", 400, "missing sentry_key", event_envelope,
        headers={"X-Sentry-Auth": "Sentry sentry_version=7, sentry_client=x"}),  # fmt: skip
    Bad("bad sentry_version in query", 400, "invalid sentry_version", event_envelope, headers={},
        path=f"{ENVELOPE}?sentry_key={KEY}&sentry_version=seven"),  # fmt: skip
    Bad("dsn naming another project", 403, "DSN names another project",
        lambda: event_envelope(dsn=f"http://{KEY}@127.0.0.1/{OTHER_PROJECT}"), headers={}),  # fmt: skip
    Bad("dsn with an unknown key", 403, "unknown public key",
        lambda: event_envelope(dsn=f"http://{UNKNOWN_KEY}@127.0.0.1/{PROJECT}"), headers={}),  # fmt: skip
    Bad("dsn that is not a URL", 400, "invalid dsn", lambda: event_envelope(dsn="not a dsn"), headers={}),
    Bad("rate limit exceeded", 429, "rate limit exceeded", event_envelope, headers=auth(LIMITED_KEY),
        rate_limited=True),  # fmt: skip
    # routing
    Bad("project id not a number", 400, "invalid project id", event_envelope, path="/api/backend/envelope/"),
    Bad("project id not a number, store", 400, "invalid project id", lambda: json.dumps(event()).encode(),
        path="/api/4x2/store/"),  # fmt: skip
    Bad("GET on the envelope endpoint", 405, "method not allowed", lambda: None, method="GET", sentry_error=False),
    Bad("PUT on the store endpoint", 405, "method not allowed", lambda: json.dumps(event()).encode(), method="PUT",
        path=STORE, sentry_error=False),  # fmt: skip
    Bad("unknown path", 404, "not found", event_envelope, path=f"/api/{PROJECT}/minidump/", sentry_error=False),
    Bad("unknown root path", 404, "not found", event_envelope, path="/envelope", sentry_error=False),
    Bad("huge header", (400, 431), "more than", event_envelope, headers={**auth(), "X-Padding": "a" * 65536},
        sentry_error=False),  # fmt: skip
    # bodies and encodings
    Bad("empty body", 400, "empty body", lambda: b""),
    Bad("empty body, store", 400, "empty body", lambda: b"", path=STORE),
    Bad("blank envelope", 400, "empty envelope", lambda: b"\n\n  \n"),
    Bad("unsupported content encoding", 415, "unsupported content encoding", event_envelope,
        headers={**auth(), "Content-Encoding": "lzma"}),  # fmt: skip
    Bad("deflate corrupt", 400, "corrupt deflate body", lambda: b"\x78\x9c" + b"\xff" * 64,
        headers={**auth(), "Content-Encoding": "deflate"}),  # fmt: skip
    Bad("deflate truncated", 400, "corrupt deflate body", lambda: deflate_of(event_envelope())[:-8],
        headers={**auth(), "Content-Encoding": "deflate"}),  # fmt: skip
    Bad("gzip corrupt", 400, "corrupt gzip body", lambda: b"\x1f\x8b\x08\x00" + b"\x00" * 6 + b"\xff" * 64,
        headers={**auth(), "Content-Encoding": "gzip"}),  # fmt: skip
    Bad("gzip declared, plain sent", 400, "corrupt gzip body", event_envelope,
        headers={**auth(), "Content-Encoding": "gzip"}),  # fmt: skip
    Bad("br corrupt", 400, "corrupt br body", lambda: b"\xff" * 64, headers={**auth(), "Content-Encoding": "br"}),
    Bad("br truncated", 400, "corrupt br body", lambda: brotli.compress(event_envelope())[:-4],
        headers={**auth(), "Content-Encoding": "br"}),  # fmt: skip
    Bad("gzip bomb (200 MiB of zeros)", 413, "decompressed body exceeds", lambda: bomb(16 + zlib.MAX_WBITS),
        headers={**auth(), "Content-Encoding": "gzip"}),  # fmt: skip
    Bad("deflate bomb to store", 413, "decompressed body exceeds", lambda: bomb(zlib.MAX_WBITS),
        headers={**auth(), "Content-Encoding": "deflate"}, path=STORE),  # fmt: skip
    # Without credentials in headers or query, an envelope must be decoded to find its `dsn`
    # header: the bound on the decompressed size is what stops the bomb then.
    Bad("gzip bomb without credentials", 413, "decompressed body exceeds",
        lambda: bomb(16 + zlib.MAX_WBITS), headers={"Content-Encoding": "gzip"}),  # fmt: skip
    # With credentials in the header, a stranger is refused before anything is read or inflated.
    Bad("gzip bomb with an unknown key", 403, "unknown public key", lambda: bomb(16 + zlib.MAX_WBITS),
        headers={**auth("f" * 32), "Content-Encoding": "gzip"}),  # fmt: skip
    Bad("gzip bomb to store without credentials", 403, "missing authorization",
        lambda: bomb(16 + zlib.MAX_WBITS), headers={"Content-Encoding": "gzip"}, path=STORE),  # fmt: skip
    Bad("oversize body", 413, "body exceeds", lambda: b"x" * (SMALL_ENVELOPE_BYTES + 1), server="small"),
    Bad("oversize body, chunked", 413, "body exceeds", lambda: b"x" * (4 * SMALL_ENVELOPE_BYTES), server="small",
        chunked=True),  # fmt: skip
    Bad("oversize store body", 413, "body exceeds", lambda: b"x" * (SMALL_EVENT_BYTES + 1), path=STORE,
        server="small"),  # fmt: skip
    Bad("oversize decompressed, small limit", 413, "decompressed body exceeds",
        lambda: gzip_of(b" " * (SMALL_ENVELOPE_BYTES + 1)), headers={**auth(), "Content-Encoding": "gzip"},
        server="small"),  # fmt: skip
    Bad("oversize event item", 413, "event exceeds",
        lambda: event_envelope(event(message="m" * SMALL_EVENT_BYTES)), server="small"),  # fmt: skip
    # JSON
    Bad("bad JSON, store", 400, "invalid JSON", lambda: b'{"message": "half'),
    Bad("bad JSON in the envelope header", 400, "invalid JSON", lambda: b"{not json}\n"),
    Bad("bad JSON in the event item", 400, "invalid JSON",
        lambda: envelope(event_item(b'{"message": nope}'))),  # fmt: skip
    Bad("NaN in the event", 400, "NaN is not valid JSON",
        lambda: json.dumps(event(extra={"ratio": float("nan")})).encode(), path=STORE),  # fmt: skip
    Bad("invalid UTF-8, store", 400, "invalid UTF-8", _invalid_utf8, path=STORE),
    Bad("invalid UTF-8 in the event item", 400, "invalid UTF-8",
        lambda: envelope(event_item(_invalid_utf8()))),  # fmt: skip
    Bad("10,000-deep JSON", 400, "nested deeper than", _deep),
    Bad("10,000-deep JSON, store", 400, "nested deeper than",
        lambda: b'{"extra": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", path=STORE),  # fmt: skip
    Bad("store body is a JSON array", 400, "must be a JSON object, not an array",
        lambda: json.dumps([event()]).encode(), path=STORE),  # fmt: skip
    Bad("envelope header is a JSON array", 400, "must be a JSON object, not an array", lambda: b"[]\n"),
    # envelope framing
    Bad("item header without type", 400, "item header has no type",
        lambda: b"{}\n" + json.dumps({"length": 2}).encode() + b"\n{}\n"),  # fmt: skip
    Bad("payload not followed by a newline", 400, "not followed by a newline",
        lambda: b"{}\n" + json.dumps({"type": "event", "length": 2}).encode() + b"\n{}XYZ\n"),  # fmt: skip
    Bad("negative item length", 400, "non-negative integer",
        lambda: b"{}\n" + json.dumps({"type": "event", "length": -1}).encode() + b"\n{}\n"),  # fmt: skip
    Bad("item length past the end", 400, "goes past the end of the envelope", _length_past_end),
    Bad("two event items", 400, "more than one event item", _two_events),
    Bad("an event and a transaction", 400, "more than one event item", _event_and_transaction),
    Bad("invalid event_id in the envelope header", 400, "invalid event_id in envelope header",
        lambda: envelope(event_item(event()), event_id="not-an-id")),  # fmt: skip
    Bad("event_id in the envelope header not a string", 400, "invalid event_id in envelope header",
        lambda: envelope(event_item(event()), event_id=12345)),  # fmt: skip
    # event content
    Bad("transaction that ends before it starts", 400, "ends before it starts",
        lambda: envelope(event_item(transaction(start=time.time(), end=time.time() - 60), "transaction"))),  # fmt: skip
    Bad("transaction without start", 400, "start_timestamp",
        lambda: envelope(event_item({**transaction(), "start_timestamp": "whenever"}, "transaction"))),  # fmt: skip
]


def _without_rate_limits(keys: frozenset[bytes]) -> frozenset[bytes]:
    return frozenset(k for k in keys if not k.startswith(b"vigil:rl:"))


def _limited(case: Bad) -> Bad:
    """The case sent with the rate-limited key where it used the unlimited one."""
    headers = {k: v.replace(KEY, LIMITED_KEY) for k, v in case.headers.items()}
    return replace(case, name=f"{case.name} (rate-limited key)", headers=headers,
                   path=case.path.replace(KEY, LIMITED_KEY))  # fmt: skip


# Each case again with a key that has a rate limit of 2: a refused request must not spend quota
# (no counter written), so the answers stay the same however many there are.
CASES = BAD + [_limited(c) for c in BAD if not c.rate_limited and (KEY in str(c.headers) or KEY in c.path)]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_request_is_refused_and_writes_nothing(srv: Servers, case: Bad) -> None:
    server = srv[case.server]
    if case.rate_limited:  # use the key's 2 requests on envelopes that store nothing
        for _ in range(5):
            if server.request("POST", ENVELOPE, session_envelope(), case.headers).status == 429:
                break
        else:
            pytest.fail("the key's rate limit never applied")
    size, keys = server.snapshot()
    body = case.body()
    res = server.request(case.method, case.path, body, case.headers, chunked=case.chunked)

    expected = case.status if isinstance(case.status, tuple) else (case.status,)
    assert res.status in expected, (res.status, res.headers, res.body[:500])
    problems = [p.lower() for p in (case.problem if isinstance(case.problem, tuple) else (case.problem,))]
    assert any(p in res.problem().lower() for p in problems), res.problem()
    if case.sentry_error:
        assert res.headers["content-type"].startswith("application/json")
        assert any(p in res.headers["x-sentry-error"].lower() for p in problems)
        assert any(p in res.json()["detail"].lower() for p in problems)
    if case.rate_limited:
        retry = int(res.headers["retry-after"])
        assert 1 <= retry <= 60
        assert res.headers["x-sentry-rate-limits"] == f"{retry}::key:key_quota"

    new_size, new_keys = server.snapshot()
    if case.rate_limited:
        assert _without_rate_limits(new_keys) == _without_rate_limits(keys)
        assert any(k.startswith(f"vigil:rl:{{{LIMITED_KEY}}}".encode()) for k in new_keys)
    else:
        assert (new_size, new_keys) == (size, keys), sorted(new_keys - keys)
    assert not server.redis.keys("vigil:{p*"), "a refused request wrote project data"
    assert server.proc.poll() is None and http_status(f"{server.url}/healthz") == 200


def test_the_table_covers_enough_cases() -> None:
    assert len(BAD) >= 25 and len({c.name for c in BAD}) == len(BAD)


# --- 1. what SDKs send is accepted ---------------------------------------------------------------


def test_unknown_item_types_alone_are_accepted_and_store_nothing(srv: Servers) -> None:
    header_id = eid()
    body = envelope(({"type": "future_thing"}, b'{"anything": 1}'), ({"type": "another", "length": 3}, b"\x00\x01\x02"),
                    ({"type": "client_report"}, b'{"discarded_events": []}'), event_id=header_id)  # fmt: skip
    size, keys = srv.main.snapshot()
    res = srv.main.request("POST", ENVELOPE, body, auth())
    assert (res.status, res.json()) == (200, {"id": header_id})
    assert srv.main.snapshot() == (size, keys)


def test_session_only_envelope_is_accepted(srv: Servers) -> None:
    size, keys = srv.main.snapshot()
    res = srv.main.request("POST", ENVELOPE, session_envelope(), auth())
    assert (res.status, res.json()) == (200, {})
    assert srv.main.snapshot() == (size, keys)
    assert srv.main.stream("events") == [] and srv.main.stream("transactions") == []


def test_attachment_with_an_event_saves_the_event_and_drops_the_attachment(srv: Servers) -> None:
    ev = event()
    secret = b"ATTACHMENT-BYTES-" + uuid.uuid4().hex.encode()
    body = envelope(({"type": "attachment", "length": len(secret), "filename": "log.txt"}, secret), event_item(ev),
                    event_id=ev["event_id"])  # fmt: skip
    res = srv.main.request("POST", ENVELOPE, body, auth())
    assert (res.status, res.json()) == (200, {"id": ev["event_id"]})
    (entry,) = srv.main.stream("events")
    assert entry["event_id"] == ev["event_id"] and entry["type"] == "default"  # a message, no exception
    assert secret.decode() not in entry["payload"]
    for key in srv.main.redis.keys("*"):
        assert b"attachment" not in key.lower()
        if srv.main.redis.type(key) == b"string":
            assert secret not in srv.main.redis.get(key)


def test_the_same_event_twice_is_saved_once(srv: Servers) -> None:
    body = event_envelope()
    first = srv.main.request("POST", ENVELOPE, body, auth())
    second = srv.main.request("POST", ENVELOPE, body, auth())
    assert first.status == second.status == 200 and first.json() == second.json()
    assert len(srv.main.stream("events")) == 1
    store_body = json.dumps(event()).encode()
    assert [srv.main.request("POST", STORE, store_body, auth()).status for _ in range(2)] == [200, 200]
    assert len(srv.main.stream("events")) == 2


def test_sentry_key_in_the_query_string(srv: Servers) -> None:
    ev = event()
    res = srv.main.request("POST", f"{ENVELOPE}?sentry_key={KEY}&sentry_version=7&sentry_client=x%2F1",
                           event_envelope(ev))  # fmt: skip
    assert (res.status, res.json()) == (200, {"id": ev["event_id"]})
    res = srv.main.request("POST", f"{STORE}?sentry_key={KEY}", json.dumps(event()).encode())
    assert res.status == 200
    assert len(srv.main.stream("events")) == 2


def test_envelope_dsn_authenticates(srv: Servers) -> None:
    ev = event()
    body = event_envelope(ev, dsn=f"http://{KEY}@127.0.0.1:9/{PROJECT}")
    res = srv.main.request("POST", ENVELOPE, body)
    assert (res.status, res.json()) == (200, {"id": ev["event_id"]})
    assert [e["event_id"] for e in srv.main.stream("events")] == [ev["event_id"]]


def test_authorization_header_with_the_sentry_scheme(srv: Servers) -> None:
    res = srv.main.request("POST", ENVELOPE, event_envelope(), {"Authorization": f"Sentry sentry_key={KEY}"})
    assert res.status == 200 and len(srv.main.stream("events")) == 1


ENCODINGS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip_of,
    "x-gzip": gzip_of,
    "deflate": deflate_of,
    "deflate (raw)": raw_deflate_of,
    "br": brotli.compress,
    "identity": lambda b: b,
}


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("path", [ENVELOPE, STORE])
def test_compressed_bodies(srv: Servers, encoding: str, path: str) -> None:
    ev = event()
    raw = event_envelope(ev) if path == ENVELOPE else json.dumps(ev).encode()
    headers = {**auth(), "Content-Encoding": encoding.split()[0]}
    res = srv.main.request("POST", path, ENCODINGS[encoding](raw), headers)
    assert (res.status, res.json()) == (200, {"id": ev["event_id"]}), res.body
    assert [e["event_id"] for e in srv.main.stream("events")] == [ev["event_id"]]


def test_transaction_lands_in_its_stream(srv: Servers) -> None:
    txn = transaction()
    res = srv.main.request("POST", ENVELOPE, envelope(event_item(txn, "transaction", with_length=False),
                                                      event_id=txn["event_id"]), auth())  # fmt: skip
    assert res.status == 200
    assert [t["event_id"] for t in srv.main.stream("transactions")] == [txn["event_id"]]
    assert srv.main.stream("events") == []


# --- 2. fuzz -------------------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
_event_like = st.fixed_dictionaries(
    {},
    optional={
        "event_id": st.one_of(st.just(eid()), st.text(max_size=40), st.integers()),
        "type": st.sampled_from(["error", "default", "transaction", "csp", ""]) | st.text(max_size=8),
        "message": st.text(max_size=50) | _json_values,
        "level": st.sampled_from(["error", "fatal", "info", "debug", "nonsense"]) | _json_values,
        "timestamp": st.floats(allow_nan=False) | st.text(max_size=30) | st.integers(),
        "start_timestamp": st.floats(allow_nan=False) | st.text(max_size=30),
        "exception": _json_values,
        "tags": _json_values,
        "user": _json_values,
        "fingerprint": _json_values,
        "release": _json_values,
        "environment": _json_values,
        "contexts": _json_values,
        "spans": _json_values,
    },
)


@st.composite
def _near_valid_envelope(draw: st.DrawFn) -> bytes:
    headers = draw(st.fixed_dictionaries({}, optional={
        "event_id": st.sampled_from([eid(), "nope", "", None]) | st.uuids().map(str),
        "sent_at": st.text(max_size=30) | st.integers(),
        "dsn": st.sampled_from([f"http://{KEY}@h/{PROJECT}", f"http://{KEY}@h/{OTHER_PROJECT}", "x", ""]),
        "sdk": _json_values,
    }))  # fmt: skip
    parts = [json.dumps(headers).encode()]
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["event", "transaction", "attachment", "session", "client_report", "x"])
                    | st.text(max_size=10))  # fmt: skip
        payload = draw(_event_like.map(lambda d: json.dumps(d).encode()) | st.binary(max_size=200))
        item: dict[str, Any] = {"type": kind}
        length = draw(st.sampled_from(["none", "right", "wrong"]))
        if length == "right":
            item["length"] = len(payload)
        elif length == "wrong":
            item["length"] = draw(st.integers(-5, 500) | st.text(max_size=3) | st.floats(allow_nan=False))
        parts += [json.dumps(item).encode(), payload]
    body = draw(st.sampled_from([b"\n", b"\r\n", b"\n\n"])).join(parts)
    return body + draw(st.sampled_from([b"", b"\n", b"\n\n"]))


_CODERS: dict[str, Callable[[bytes], bytes]] = {"gzip": gzip_of, "deflate": deflate_of, "br": brotli.compress}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])  # fmt: skip
@given(
    path=st.sampled_from([ENVELOPE, STORE]),
    body=st.binary(max_size=2048) | _near_valid_envelope() | _event_like.map(lambda d: json.dumps(d).encode()),
    encoding=st.sampled_from([None, "gzip", "deflate", "br", "identity", "gzip, br", "GZIP", "bogus", ""]),
    really_encode=st.booleans(),
    query_auth=st.booleans(),
)
def test_fuzz_never_5xx(servers: Servers, path: str, body: bytes, encoding: str | None, really_encode: bool,
                        query_auth: bool) -> None:  # fmt: skip
    server = servers.main
    headers = {} if query_auth else auth()
    if encoding is not None:
        headers["Content-Encoding"] = encoding
        if really_encode:
            for coding in encoding.lower().split(","):
                if coder := _CODERS.get(coding.strip()):
                    body = coder(body)
    target = f"{path}?sentry_key={KEY}" if query_auth else path
    res = server.request("POST", target, body, headers, timeout=30)
    hypothesis_event(f"status {res.status}")
    assert res.status < 500, (res.status, res.body[:300])
    if res.status >= 400:
        assert res.headers.get("x-sentry-error") and res.json()["detail"]
    assert server.proc.poll() is None


def test_fuzz_left_the_server_up(servers: Servers) -> None:
    # Runs after the fuzz test (file order): the process is alive and healthy, and logged no traceback.
    assert servers.main.proc.poll() is None
    assert http_status(f"{servers.main.url}/healthz") == 200 and http_status(f"{servers.main.url}/readyz") == 200
    assert not _unhandled(servers.main.log.read_text())
    servers.main.reset()


# --- 3. metrics ----------------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$")


def _metrics(server: Server) -> dict[str, float]:
    res = server.request("GET", "/metrics")
    assert res.status == 200 and res.headers["content-type"].startswith("text/plain")
    samples: dict[str, float] = {}
    for line in res.body.decode().splitlines():
        if line and not line.startswith("#"):
            m = _SAMPLE.match(line)
            assert m, f"not Prometheus text: {line!r}"
            samples[m[1]] = float(m[2])
    return samples


def test_metrics_count_accepted_rejected_and_duplicates(srv: Servers) -> None:
    server = srv.main
    before = _metrics(server)
    first = event_envelope()
    statuses = [
        server.request("POST", ENVELOPE, first, auth()).status,
        server.request("POST", ENVELOPE, first, auth()).status,  # duplicate
        server.request("POST", STORE, json.dumps(event()).encode(), auth()).status,
        server.request("POST", ENVELOPE, session_envelope(), auth()).status,  # accepted, no event
        server.request("POST", ENVELOPE, event_envelope(), auth(UNKNOWN_KEY)).status,
        server.request("POST", ENVELOPE, event_envelope(), {}).status,
        server.request("POST", ENVELOPE, b"{nope}\n", auth()).status,
        server.request("POST", ENVELOPE, event_envelope(), {**auth(), "Content-Encoding": "zz"}).status,
    ]
    assert statuses == [200, 200, 200, 200, 403, 403, 400, 415]
    after = _metrics(server)

    def delta(name: str) -> float:
        return after.get(name, 0) - before.get(name, 0)

    assert delta("vigil_ingest_events_accepted_total") == 3  # saves answered 200, the duplicate included
    assert delta("vigil_ingest_events_duplicate_total") == 1
    assert delta('vigil_ingest_requests_rejected_total{reason="Forbidden"}') == 2
    assert delta('vigil_ingest_requests_rejected_total{reason="BadRequest"}') == 1
    assert delta('vigil_ingest_requests_rejected_total{reason="UnsupportedEncoding"}') == 1
    assert delta("vigil_ingest_save_seconds_count") == 3
    assert delta('vigil_ingest_save_seconds_bucket{le="+Inf"}') == 3
    assert after["vigil_ingest_save_seconds_sum"] > before.get("vigil_ingest_save_seconds_sum", 0)
    buckets = [v for k, v in after.items() if k.startswith("vigil_ingest_save_seconds_bucket")]
    assert buckets == sorted(buckets), "histogram buckets must be cumulative"
    assert after['vigil_ingest_save_seconds_bucket{le="+Inf"}'] == after["vigil_ingest_save_seconds_count"]


def test_refused_requests_spend_no_quota(srv: Servers) -> None:
    """The key allows 2 requests a minute: five malformed events (400) leave both for valid ones."""
    server = srv.main
    bad = envelope(event_item(transaction(start=time.time(), end=time.time() - 60), "transaction"))
    assert [server.request("POST", ENVELOPE, bad, auth(LIMITED_KEY)).status for _ in range(5)] == [400] * 5
    assert not server.redis.keys("vigil:rl:*")
    window = time.time() // 60
    statuses = [server.request("POST", ENVELOPE, event_envelope(), auth(LIMITED_KEY)).status for _ in range(3)]
    if time.time() // 60 == window:  # else the fixed one-minute window turned during the test
        assert statuses == [200, 200, 429]
    assert statuses[:2] == [200, 200] and len(server.stream("events")) == statuses.count(200)
