"""vigil.ingest.protocol and errors: every auth form and malformed ones, DSNs, body encodings and
bombs, bounded JSON, envelope framing, the store body, error answers; then properties (arbitrary
bytes only ever raise IngestError) and a round trip of envelopes the real sentry-sdk writes."""

from __future__ import annotations

import base64
import gzip
import json
import struct
import tracemalloc
import zlib
from typing import Any

import brotli
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.ingest.errors import (
    BadRequest,
    Forbidden,
    IngestError,
    RateLimited,
    TooLarge,
    Unavailable,
    UnsupportedEncoding,
)
from vigil.ingest.protocol import (
    Auth,
    Envelope,
    Item,
    decode_body,
    dsn_key,
    envelope_auth,
    event_payload,
    loads_limited,
    loads_object,
    normalize_event_id,
    ok_body,
    parse_auth,
    parse_envelope,
    store_payload,
)

KEY = "abc123abc123abc123abc123abc123ab"
EID = "9ec79c33ec9942ab8353589fcb2e04dc"
MiB = 1 << 20



# --- auth ----------------------------------------------------------------------------------------

AUTH_OK = [
    ({"X-Sentry-Auth": f"Sentry sentry_version=7, sentry_client=sentry.python/2.0.0, sentry_key={KEY}"}, {},
     Auth(KEY, 7, "sentry.python/2.0.0")),
    ({"x-sentry-auth": f"Sentry sentry_key={KEY}, sentry_version=7"}, {}, Auth(KEY, 7)),
    ({"X-SENTRY-AUTH": f"Sentry sentry_key={KEY}"}, {}, Auth(KEY)),
    ({"X-Sentry-Auth": f"sentry  sentry_key = {KEY} ,sentry_version= 7,"}, {}, Auth(KEY, 7)),
    ({"X-Sentry-Auth": f"Sentry key={KEY}, version=7, client=raven-js/3"}, {}, Auth(KEY, 7, "raven-js/3")),
    ({"X-Sentry-Auth": f"Sentry sentry_key={KEY}, sentry_secret=s3cr3t, sentry_timestamp=1700000000"}, {},
     Auth(KEY)),
    ({"Authorization": f"Sentry sentry_key={KEY}, sentry_version=7"}, {}, Auth(KEY, 7)),
    ({"authorization": f"Sentry sentry_key={KEY}"}, {}, Auth(KEY)),
    ({}, {"sentry_key": KEY, "sentry_version": "7"}, Auth(KEY, 7)),
    ({}, {"sentry_key": KEY}, Auth(KEY)),
    ({}, {"sentry_key": KEY, "sentry_version": "7", "sentry_client": "custom/1"}, Auth(KEY, 7, "custom/1")),
    ({"Authorization": "Bearer abc"}, {"sentry_key": KEY}, Auth(KEY)),  # not Sentry's scheme: ignored
    ({"X-Sentry-Auth": f"Sentry sentry_key={KEY}"}, {"sentry_key": "other"}, Auth(KEY)),  # header first
    ({"X-Sentry-Auth": f"Sentry sentry_key={KEY}"}, {}, Auth(KEY, None, None)),
    ({"X-Sentry-Auth": "Sentry sentry_key=my-key_1"}, {}, Auth("my-key_1")),
]


@pytest.mark.parametrize(("headers", "query", "expected"), AUTH_OK)
def test_parse_auth_forms(headers: dict[str, str], query: dict[str, str], expected: Auth) -> None:
    assert parse_auth(headers, query) == expected


def test_parse_auth_none_without_credentials() -> None:
    assert parse_auth({}, {}) is None
    assert parse_auth({"Authorization": "Basic dXNlcjpwYXNz", "Content-Type": "x"}, {"foo": "bar"}) is None


def test_parse_auth_reads_case_insensitive_mappings() -> None:
    class Headers(dict):  # a mapping whose get() is case-sensitive, like a plain dict
        pass

    assert parse_auth(Headers({"X-Sentry-AUTH": f"Sentry sentry_key={KEY}"}), {}) == Auth(KEY)


AUTH_BAD = [
    ({"X-Sentry-Auth": f"Bearer {KEY}"}, "malformed X-Sentry-Auth header"),
    ({"X-Sentry-Auth": ""}, "malformed X-Sentry-Auth header"),
    ({"X-Sentry-Auth": "Sentry"}, "missing sentry_key in X-Sentry-Auth header"),
    ({"X-Sentry-Auth": "Sentry sentry_version=7"}, "missing sentry_key in X-Sentry-Auth header"),
    ({"X-Sentry-Auth": "Sentry sentry_key="}, "missing sentry_key in X-Sentry-Auth header"),
    ({"X-Sentry-Auth": f"Sentry sentry_key {KEY}"}, "is not key=value"),
    ({"X-Sentry-Auth": "Sentry sentry_key=a b c"}, "invalid sentry_key in X-Sentry-Auth header"),
    ({"X-Sentry-Auth": "Sentry sentry_key=" + "a" * 129}, "invalid sentry_key"),
    ({"X-Sentry-Auth": "Sentry sentry_key=k\u00e9y"}, "invalid sentry_key"),
    ({"X-Sentry-Auth": f"Sentry sentry_key={KEY}, sentry_version=seven"}, "invalid sentry_version"),
    ({"X-Sentry-Auth": f"Sentry sentry_key={KEY}, sentry_version=0"}, "invalid sentry_version"),
    ({"Authorization": "Sentry sentry_version=7"}, "missing sentry_key in Authorization header"),
]


@pytest.mark.parametrize(("headers", "message"), AUTH_BAD)
def test_parse_auth_malformed_header(headers: dict[str, str], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_auth(headers, {})


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"sentry_key": ""}, "missing sentry_key in query string"),
        ({"sentry_key": "bad key!"}, "invalid sentry_key in query string"),
        ({"sentry_key": KEY, "sentry_version": "x"}, "invalid sentry_version in query string"),
    ],
)
def test_parse_auth_malformed_query(query: dict[str, str], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_auth({}, query)


@given(st.text(max_size=200), st.text(max_size=50))
def test_parse_auth_never_raises_anything_but_bad_request(header: str, key: str) -> None:
    for headers, query in (({"X-Sentry-Auth": header}, {}), ({"Authorization": header}, {}), ({}, {"sentry_key": key})):
        try:
            result = parse_auth(headers, query)
        except BadRequest:
            continue
        assert result is None or isinstance(result, Auth)


# --- dsn -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        (f"https://{KEY}@o1.ingest.example.com/42", (KEY, 42)),
        (f"http://{KEY}@localhost:8000/1", (KEY, 1)),
        (f"http://{KEY}:secret@localhost:8000/1", (KEY, 1)),
        (f"https://{KEY}@example.com/sentry/prefix/7", (KEY, 7)),
        (f"https://{KEY}@example.com/7/", (KEY, 7)),
        (f"  https://{KEY}@[::1]:9000/3  ", (KEY, 3)),
    ],
)
def test_dsn_key(dsn: str, expected: tuple[str, int]) -> None:
    assert dsn_key(dsn) == expected


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("", "empty"),
        (f"{KEY}@example.com/1", "scheme"),
        (f"ftp://{KEY}@example.com/1", "scheme"),
        ("https://example.com/1", "missing sentry_key in dsn"),
        (f"https://{KEY}@/1", "no host"),
        (f"https://{KEY}@example.com", "no project id"),
        (f"https://{KEY}@example.com/", "no project id"),
        (f"https://{KEY}@example.com/abc", "no project id"),
        (f"https://{KEY}@example.com/0", "no project id"),
        (f"https://{KEY}@example.com/-1", "no project id"),
        (f"https://{KEY}@example.com/99999999999", "no project id"),
        (f"https://{KEY}@example.com:notaport/1", "not a URL"),
        (f"https://{KEY}@[::1/1", "not a URL"),
        ("https://bad key@example.com/1", "invalid sentry_key in dsn"),
    ],
)
def test_dsn_key_malformed(dsn: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        dsn_key(dsn)


@given(st.text(max_size=100))
def test_dsn_key_never_raises_anything_but_bad_request(dsn: str) -> None:
    try:
        key, project = dsn_key(dsn)
    except BadRequest:
        return
    assert key and project > 0


# --- body encodings ------------------------------------------------------------------------------

BODY = b'{"message": "hello"}\n' * 100


def _deflate(data: bytes, wbits: int) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return c.compress(data) + c.flush()


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        (None, lambda b: b),
        ("", lambda b: b),
        ("identity", lambda b: b),
        ("gzip", gzip.compress),
        ("GZIP", gzip.compress),
        (" x-gzip ", gzip.compress),
        ("deflate", zlib.compress),  # zlib-wrapped, as RFC 9110 defines deflate
        ("deflate", lambda b: _deflate(b, -15)),  # raw deflate, as some clients send it
        ("gzip, identity", gzip.compress),
        ("deflate, gzip", lambda b: gzip.compress(zlib.compress(b))),
    ],
)
def test_decode_body(encoding: str | None, encode: Any) -> None:
    assert decode_body(encode(BODY), encoding, MiB) == BODY


def test_decode_body_brotli() -> None:
    assert decode_body(brotli.compress(BODY), "br", MiB) == BODY
    assert decode_body(gzip.compress(brotli.compress(BODY)), "br, gzip", MiB) == BODY
    assert decode_body(brotli.compress(b""), "br", MiB) == b""


def test_decode_body_gzip_multi_member_and_padding() -> None:
    body = gzip.compress(b"abc") + gzip.compress(b"def")
    assert decode_body(body, "gzip", MiB) == b"abcdef"
    assert decode_body(body + b"\x00" * 10, "gzip", MiB) == b"abcdef"
    with pytest.raises(BadRequest, match="corrupt gzip body"):
        decode_body(body + b"\x00\x01", "gzip", MiB)
    with pytest.raises(BadRequest, match="corrupt gzip body"):
        decode_body(body + b"garbage", "gzip", MiB)


def test_decode_body_many_tiny_gzip_members() -> None:
    member = gzip.compress(b"x")
    body = member * 20_000  # ~400 KB of members, each its own gzip stream
    assert decode_body(body, "gzip", MiB) == b"x" * 20_000


def test_decode_body_limits() -> None:
    exact = b"a" * 1000
    assert decode_body(exact, None, 1000) == exact
    assert decode_body(gzip.compress(exact), "gzip", 1000) == exact
    with pytest.raises(TooLarge, match="body exceeds 999 bytes"):
        decode_body(exact, None, 999)
    with pytest.raises(TooLarge, match="decompressed body exceeds 999 bytes"):
        decode_body(gzip.compress(exact), "gzip", 999)
    with pytest.raises(TooLarge, match="decompressed body exceeds 999 bytes"):
        decode_body(zlib.compress(exact), "deflate", 999)
    if brotli is not None:
        assert decode_body(brotli.compress(exact), "br", 1000) == exact
        with pytest.raises(TooLarge, match="decompressed body exceeds 999 bytes"):
            decode_body(brotli.compress(exact), "br", 999)


@pytest.mark.parametrize("encoding", ["compress", "zstd", "snappy", "gzip;q=1", "br2"])
def test_decode_body_unsupported_encoding_is_415(encoding: str) -> None:
    with pytest.raises(UnsupportedEncoding, match="unsupported content encoding") as info:
        decode_body(b"data", encoding, MiB)
    assert info.value.status == 415


@pytest.mark.parametrize(
    ("encoding", "body", "message"),
    [
        ("gzip", b"not gzip at all", "corrupt gzip body"),
        ("gzip", gzip.compress(BODY)[:-12], "corrupt gzip body"),
        ("gzip", b"", "corrupt gzip body: truncated"),
        ("deflate", b"\x78\x9c garbage", "corrupt deflate body"),
        ("deflate", zlib.compress(BODY)[:20], "corrupt deflate body: truncated"),
        ("deflate", zlib.compress(BODY) + b"tail", "data after the end of the stream"),
        ("gzip", bytearray(gzip.compress(BODY))[:30] + b"\xff" * 50, "corrupt gzip body"),
    ],
)
def test_decode_body_corrupt(encoding: str, body: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        decode_body(bytes(body), encoding, MiB)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff\xff\xff\xff not brotli", "corrupt br body"),
        (b"", "corrupt br body: truncated"),
    ],
)
def test_decode_body_corrupt_brotli(body: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        decode_body(body, "br", MiB)


def test_decode_body_brotli_truncated_and_trailing() -> None:
    data = brotli.compress(BODY * 50)
    with pytest.raises(BadRequest, match="corrupt br body"):
        decode_body(data[: len(data) // 2], "br", MiB)
    with pytest.raises(BadRequest, match="corrupt br body"):
        decode_body(data + b"trailing", "br", MiB)


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """1 GiB of zeros as gzip (~1 MB), built from a compressobj fed 1 MiB chunks: after a full
    flush the compressor's state repeats, so one chunk's output stands for every later chunk."""
    zeros = bytes(MiB)
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    first = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    repeat = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    assert c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH) == repeat
    crc = 0
    for _ in range(1024):
        crc = zlib.crc32(zeros, crc)
    return first + repeat * 1023 + b"\x03\x00" + struct.pack("<II", crc, (1 << 30) & 0xFFFFFFFF)


def test_gzip_bomb_is_a_valid_gigabyte(gzip_bomb: bytes) -> None:
    assert len(gzip_bomb) < 2 * MiB
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    total = 0
    for i in range(0, len(gzip_bomb), 64 * 1024):
        chunk = gzip_bomb[i : i + 64 * 1024]
        while chunk:
            total += len(d.decompress(chunk, 16 * MiB))
            chunk = d.unconsumed_tail
    assert d.eof and total == 1 << 30


def _peak_memory_refusing(encoding: str, body: bytes, limit: int) -> int:
    """Bytes allocated at the peak while the bomb is refused: "early" means about the limit's
    worth of output plus one input chunk, never what the bomb would inflate to."""
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge, match=f"decompressed body exceeds {limit} bytes"):
            decode_body(body, encoding, limit)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_gzip_bomb_refused_early(gzip_bomb: bytes) -> None:
    assert _peak_memory_refusing("gzip", gzip_bomb, MiB) < 4 * MiB  # the bomb inflates to 1 GiB


def test_deflate_bomb_refused_early() -> None:
    zeros = bytes(MiB)
    c = zlib.compressobj(9)
    body = b"".join(c.compress(zeros) for _ in range(64)) + c.flush()  # 64 MiB of zeros
    assert _peak_memory_refusing("deflate", body, 100_000) < 2 * MiB


def test_brotli_bomb_refused_early() -> None:
    zeros = bytes(MiB)
    c = brotli.Compressor(quality=1)
    body = b"".join(c.process(zeros) for _ in range(1024)) + c.finish()  # 1 GiB of zeros
    assert len(body) < MiB
    assert _peak_memory_refusing("br", body, MiB) < 4 * MiB


@given(st.binary(max_size=300), st.sampled_from(["gzip", "deflate", "br", "identity", "x-gzip", "zstd", "gzip, br"]))
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_decode_body_arbitrary_bytes_only_ingest_errors(body: bytes, encoding: str) -> None:
    try:
        out = decode_body(body, encoding, 10_000)
    except IngestError:
        return
    assert len(out) <= 10_000


# --- bounded JSON --------------------------------------------------------------------------------


def test_loads_limited_refuses_deep_nesting_before_recursing() -> None:
    for deep in (b"[" * 10_000 + b"]" * 10_000, b"[" * 10_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
                 b"[" * 1_000_000):
        with pytest.raises(BadRequest, match="nested deeper than 64 levels"):
            loads_limited(deep)


def test_loads_limited_depth_boundary() -> None:
    assert loads_limited(b"[" * 64 + b"]" * 64) is not None
    with pytest.raises(BadRequest, match="deeper than 64"):
        loads_limited(b"[" * 65 + b"]" * 65)
    assert loads_limited(b'{"a":' * 3 + b"1" + b"}" * 3, max_depth=3) == {"a": {"a": {"a": 1}}}
    with pytest.raises(BadRequest, match="deeper than 2"):
        loads_limited(b'{"a":' * 3 + b"1" + b"}" * 3, max_depth=2)


def test_loads_limited_ignores_brackets_in_strings() -> None:
    text = json.dumps({"a": "[" * 1000 + "{" * 1000, "b": ['\\"[[[', "x"]}).encode()
    assert loads_limited(text)["a"].startswith("[[[")


def test_loads_limited_large_flat_document() -> None:
    doc = json.dumps({"values": [{"s": "x" * 100, "n": i, "l": [1, [2]]} for i in range(20_000)]}).encode()
    assert len(loads_limited(doc)["values"]) == 20_000


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe{}", "invalid UTF-8 at byte 0"),
        (b'{"a": "\xc3\x28"}', "invalid UTF-8 at byte 7"),
        (b'{"a": "\xed\xa0\x80"}', "invalid UTF-8"),  # an encoded surrogate is not UTF-8
        (b"", "invalid JSON"),
        (b"{", "invalid JSON"),
        (b"{'a': 1}", "invalid JSON"),
        (b'{"a": NaN}', "invalid JSON: NaN is not valid JSON"),
        (b"[Infinity]", "invalid JSON"),
        (b"[-Infinity]", "invalid JSON"),
        (b"1" * 5000, "invalid JSON"),  # past Python's integer digit limit
        (b"\xef\xbb\xbf{}", "invalid JSON"),  # a BOM
        (b"{} {}", "invalid JSON: Extra data"),
    ],
)
def test_loads_limited_refusals(data: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        loads_limited(data)


@pytest.mark.parametrize(("data", "kind"), [(b"[]", "an array"), (b'"x"', "a string"), (b"1", "a number"),
                                            (b"null", "null"), (b"true", "a boolean")])
def test_loads_object_requires_an_object(data: bytes, kind: str) -> None:
    with pytest.raises(BadRequest, match=f"event must be a JSON object, not {kind}"):
        loads_object(data, what="event")


@given(st.binary(max_size=200))
def test_loads_limited_arbitrary_bytes(data: bytes) -> None:
    try:
        loads_limited(data)
    except BadRequest:
        pass


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (EID, EID),
        (EID.upper(), EID),
        ("9ec79c33-ec99-42ab-8353-589fcb2e04dc", EID),
        ("{9ec79c33-ec99-42ab-8353-589fcb2e04dc}", EID),
        ("9ec79c33ec9942ab8353589fcb2e04d", None),
        ("9ec79c33ec9942ab8353589fcb2e04dz", None),
        ("9ec79c33-ec9942ab-8353-589fcb2e04dc", None),
        (12, None),
        (None, None),
        ("", None),
    ],
)
def test_normalize_event_id(value: Any, expected: str | None) -> None:
    assert normalize_event_id(value) == expected


# --- envelopes -----------------------------------------------------------------------------------


def _event(**fields: Any) -> bytes:
    return json.dumps({"message": "hi", **fields}).encode()


def test_envelope_with_lengths() -> None:
    event = _event()
    attachment = b"binary\nwith\nnewlines\x00\xff"
    data = (
        json.dumps({"event_id": EID, "sent_at": "2024-01-01T00:00:00Z", "dsn": f"https://{KEY}@h/1",
                    "sdk": {"name": "sentry.python", "version": "2.0"}}).encode() + b"\n"
        + json.dumps({"type": "event", "length": len(event), "content_type": "application/json"}).encode()
        + b"\n" + event + b"\n"
        + json.dumps({"type": "attachment", "length": len(attachment), "filename": "a.bin"}).encode()
        + b"\n" + attachment + b"\n"
    )
    env = parse_envelope(data)
    assert env.headers["sdk"]["name"] == "sentry.python"
    assert env.event_id == EID and env.dsn == f"https://{KEY}@h/1" and env.sent_at == "2024-01-01T00:00:00Z"
    assert [i.type for i in env.items] == ["event", "attachment"]
    assert env.items[0].payload == event
    assert env.items[1].payload == attachment
    assert env.items[1].headers["filename"] == "a.bin"


def test_envelope_without_lengths_and_without_trailing_newline() -> None:
    data = b'{"event_id":"%s"}\n{"type":"event"}\n{"message":"a"}\n{"type":"session"}\n{"sid":"x"}' % EID.encode()
    env = parse_envelope(data)
    assert [(i.type, i.payload) for i in env.items] == [("event", b'{"message":"a"}'), ("session", b'{"sid":"x"}')]
    assert parse_envelope(data + b"\n") == env


def test_envelope_length_zero_and_empty_implicit_payloads() -> None:
    data = b'{}\n{"type":"attachment","length":0}\n\n{"type":"attachment"}\n\n{"type":"client_report"}\n{}\n'
    env = parse_envelope(data)
    assert [(i.type, i.payload) for i in env.items] == [
        ("attachment", b""), ("attachment", b""), ("client_report", b"{}")]


def test_envelope_blank_lines_between_items_are_tolerated() -> None:
    data = b'{}\n\n{"type":"event","length":2}\n{}\n\n\n{"type":"session"}\n{"a":1}\n\r\n\n'
    env = parse_envelope(data)
    assert [(i.type, i.payload) for i in env.items] == [("event", b"{}"), ("session", b'{"a":1}')]


def test_envelope_header_only() -> None:
    assert parse_envelope(b'{"event_id":"%s"}' % EID.encode()) == Envelope({"event_id": EID}, ())
    assert parse_envelope(b"{}\n").items == ()


def test_envelope_item_header_at_eof_without_payload() -> None:
    env = parse_envelope(b'{}\n{"type":"attachment"}')
    assert env.items == (Item("attachment", {"type": "attachment"}, b""),)
    with pytest.raises(BadRequest, match="goes past the end"):
        parse_envelope(b'{}\n{"type":"attachment","length":3}')


def test_envelope_unknown_item_types_are_kept() -> None:
    env = parse_envelope(b'{}\n{"type":"future_thing","length":3}\nabc\n{"type":"statsd"}\nx:1|c\n')
    assert [(i.type, i.payload) for i in env.items] == [("future_thing", b"abc"), ("statsd", b"x:1|c")]
    assert env.event_item() is None


def test_envelope_crlf_header_lines_are_still_json() -> None:
    env = parse_envelope(b'{}\r\n{"type":"event","length":2}\r\n{}')
    # a CRLF ends the item header line (its \r is JSON whitespace); the payload is counted from
    # after the \n, so the \r belongs to the header
    assert env.items[0].payload == b"{}"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty envelope"),
        (b"\n\n", "empty envelope"),
        (b"  ", "empty envelope"),
        (b'\n{"type":"event"}\n{}', "missing envelope header"),
        (b"not json\n", "invalid JSON"),
        (b"[]\n", "envelope header must be a JSON object, not an array"),
        (b'"x"\n', "envelope header must be a JSON object"),
        (b'{"event_id": "nope"}\n', "invalid event_id in envelope header"),
        (b'{"event_id": 5}\n', "invalid event_id in envelope header"),
        (b'{"a":"\xff"}\n', "invalid UTF-8"),
        (b'{}\n{"type":"event","length":100}\n{}\n', "event item length 100 goes past the end"),
        (b'{}\n{"type":"event","length":3}\n{}', "event item length 3 goes past the end"),
        (b'{}\n{"type":"event","length":1}\n{}\n', "not followed by a newline"),
        (b'{}\n{"type":"event","length":-1}\n{}\n', "length must be a non-negative integer"),
        (b'{}\n{"type":"event","length":"2"}\n{}\n', "length must be a non-negative integer"),
        (b'{}\n{"type":"event","length":2.0}\n{}\n', "length must be a non-negative integer"),
        (b'{}\n{"type":"event","length":true}\n{}\n', "length must be a non-negative integer"),
        (b'{}\n{"length":2}\n{}\n', "item header has no type"),
        (b'{}\n{"type":""}\n{}\n', "item header has no type"),
        (b'{}\n{"type":5}\n{}\n', "item header has no type"),
        (b"{}\nnot json\n{}\n", "invalid JSON"),
        (b"{}\n[1]\n{}\n", "item header must be a JSON object"),
        (b'{}\n{"type":"event"}\n{}\n{"type":"event"}\n{}\n', "more than one event item"),
        (b'{}\n{"type":"event"}\n{}\n{"type":"transaction"}\n{}\n', "more than one event item"),
        (b'{}\n{"type":"transaction"}\n{}\n{"type":"transaction"}\n{}\n', "more than one event item"),
        (b"[" * 10_000 + b"\n", "nested deeper than 64"),
        (b'{}\n{"type":"event","x":' + b"[" * 10_000 + b"\n{}", "nested deeper than 64"),
    ],
)
def test_envelope_malformed(data: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_envelope(data)


def test_event_payload_envelope_event_id_wins() -> None:
    data = b'{"event_id":"%s"}\n{"type":"event"}\n{"event_id":"%s","message":"x"}\n' % (
        b"9EC79C33-EC99-42AB-8353-589FCB2E04DC", b"0" * 32)
    payload, kind = event_payload(parse_envelope(data))
    assert kind == "event" and payload == {"event_id": EID, "message": "x"}


def test_event_payload_keeps_payload_id_without_header_id_and_finds_transactions() -> None:
    env = parse_envelope(b'{}\n{"type":"session"}\n{}\n{"type":"transaction"}\n{"event_id":"%s"}\n' % EID.encode())
    assert event_payload(env) == ({"event_id": EID}, "transaction")


def test_event_payload_none_and_refusals() -> None:
    assert event_payload(parse_envelope(b'{}\n{"type":"session"}\n{}\n')) is None
    with pytest.raises(BadRequest, match="event item must be a JSON object, not an array"):
        event_payload(parse_envelope(b'{}\n{"type":"event"}\n[1]\n'))
    with pytest.raises(BadRequest, match="nested deeper than 64"):
        event_payload(parse_envelope(b'{}\n{"type":"event"}\n' + b'{"a":' * 100 + b"1" + b"}" * 100))
    with pytest.raises(BadRequest, match="invalid UTF-8"):
        event_payload(parse_envelope(b'{}\n{"type":"event"}\n{"a":"\xff"}\n'))


def test_envelope_auth() -> None:
    assert envelope_auth(parse_envelope(b'{"dsn":"https://%s@h.example/9"}' % KEY.encode())) == (Auth(KEY), 9)
    assert envelope_auth(parse_envelope(b"{}")) is None
    with pytest.raises(BadRequest, match="invalid dsn"):
        envelope_auth(parse_envelope(b'{"dsn":"nonsense"}'))


def test_store_payload() -> None:
    event = {"event_id": EID, "message": "x"}
    raw = json.dumps(event).encode()
    assert store_payload(raw, MiB) == event
    assert store_payload(b"  \n" + raw, MiB) == event
    assert store_payload(base64.b64encode(zlib.compress(raw)), MiB) == event  # legacy raven bodies
    assert store_payload(base64.b64encode(raw), MiB) == event
    with pytest.raises(TooLarge):
        store_payload(base64.b64encode(zlib.compress(b" " * 2000 + raw)), 1000)
    with pytest.raises(BadRequest, match="event must be a JSON object"):
        store_payload(b"[1, 2]", MiB)
    with pytest.raises(BadRequest, match="invalid JSON"):
        store_payload(b"%%% not json", MiB)


def test_ok_body() -> None:
    assert ok_body(EID) == {"id": EID}
    assert ok_body(None) == {}


@given(st.binary(max_size=400))
@settings(max_examples=300)
def test_parse_envelope_arbitrary_bytes_only_ingest_errors(data: bytes) -> None:
    try:
        env = parse_envelope(data)
    except IngestError:
        return
    assert isinstance(env, Envelope)
    assert sum(i.type in ("event", "transaction") for i in env.items) <= 1


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
_lines = st.one_of(
    st.builds(lambda t, n: json.dumps({"type": t, "length": n}).encode(),
              st.sampled_from(["event", "transaction", "attachment", "session", "x"]), st.integers(-2, 40)),
    st.builds(lambda t: json.dumps({"type": t}).encode(), st.sampled_from(["event", "attachment", "session"])),
    _json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=20),
    st.just(b""),
)


@given(st.lists(_lines, max_size=8), st.booleans())
@settings(max_examples=300)
def test_parse_envelope_structured_noise_only_ingest_errors(lines: list[bytes], trailing: bool) -> None:
    data = b"\n".join(lines) + (b"\n" if trailing else b"")
    try:
        env = parse_envelope(data)
        event_payload(env)
    except IngestError:
        return


# --- the real sentry-sdk -------------------------------------------------------------------------


def test_envelopes_written_by_the_python_sdk() -> None:
    import sentry_sdk
    from sentry_sdk.transport import Transport

    captured: list[bytes] = []

    class Capture(Transport):
        def capture_envelope(self, envelope: Any) -> None:
            captured.append(envelope.serialize())

    client = sentry_sdk.Client(
        dsn=f"https://{KEY}@example.com/42", transport=Capture, traces_sample_rate=1.0,
        release="app@1.0", environment="staging", default_integrations=False,
    )
    with sentry_sdk.new_scope() as scope:
        scope.set_client(client)
        try:
            {}["missing"]
        except KeyError:
            sentry_sdk.capture_exception()
        sentry_sdk.capture_message("hello")
        with sentry_sdk.start_transaction(name="/api/x", op="http.server"):
            with sentry_sdk.start_span(op="db", name="SELECT 1"):
                pass
        client.flush()
    kinds = []
    for data in captured:
        env = parse_envelope(data)
        found = event_payload(env)
        assert found is not None
        payload, kind = found
        assert payload["event_id"] == env.event_id
        kinds.append(kind)
    assert sorted(kinds) == ["event", "event", "transaction"]


# --- errors --------------------------------------------------------------------------------------


def test_error_responses() -> None:
    assert BadRequest("invalid JSON").response() == (
        400, {"X-Sentry-Error": "invalid JSON"}, {"detail": "invalid JSON"})
    assert Forbidden().response()[0] == 403
    assert TooLarge("event exceeds 1048576 bytes").response()[0] == 413
    assert UnsupportedEncoding().response()[0] == 415
    status, headers, body = Unavailable(2.1).response()
    assert (status, headers["Retry-After"], body) == (503, "3", {"detail": "service unavailable, retry later"})
    assert IngestError("x").status == 400


def test_rate_limited_headers() -> None:
    status, headers, body = RateLimited(60, categories=("error", "transaction"), scope="key",
                                        reason="key_quota").response()
    assert status == 429
    assert headers["Retry-After"] == "60"
    assert headers["X-Sentry-Rate-Limits"] == "60:error;transaction:key:key_quota"
    assert body == {"detail": "rate limit exceeded"}
    assert RateLimited(0.2).headers["X-Sentry-Rate-Limits"] == "1::key"
    assert RateLimited(float("nan")).retry_after == 1
    limited = RateLimited(30, scope="project", message="backpressure")
    assert limited.response()[1]["X-Sentry-Rate-Limits"] == "30::project"
    assert limited.response()[2] == {"detail": "backpressure"}


def test_error_header_is_a_safe_single_line() -> None:
    _, headers, body = BadRequest("bad\r\nSet-Cookie: x=1 \u00e9" + "x" * 500).response()
    value = headers["X-Sentry-Error"]
    assert "\n" not in value and "\r" not in value and value.isascii() and len(value) <= 200
    assert body["detail"].startswith("bad\r\nSet-Cookie")  # the JSON body keeps the message whole


def test_br_without_a_brotli_module_is_415(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "brotli", None)
    with pytest.raises(UnsupportedEncoding, match="brotli is not installed"):
        decode_body(b"\x0b\x02\x80hello\x03", "br", MiB)


def test_br_with_an_old_brotli_is_415(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    class OldDecompressor:  # brotli < 1.2: no way to bound the output of process()
        def process(self, data: bytes) -> bytes:
            raise AssertionError("must not decode without an output bound")

    old = types.ModuleType("brotli")
    old.Decompressor = OldDecompressor  # type: ignore[attr-defined]
    old.error = Exception  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "brotli", old)
    with pytest.raises(UnsupportedEncoding, match="brotli >= 1.2"):
        decode_body(b"\x0b\x02\x80hello\x03", "br", MiB)
