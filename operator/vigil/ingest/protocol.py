"""Sentry's SDK protocol on the wire: auth, DSNs, body encodings, envelopes, bounded JSON. Pure.

Facts followed (Sentry's developer docs on envelopes, auth and the store endpoint):
- Auth: `X-Sentry-Auth: Sentry sentry_version=7, sentry_client=..., sentry_key=...` (also sent as
  `Authorization: Sentry ...`), else the `sentry_key` / `sentry_version` query parameters, else the
  envelope header `dsn` (the caller falls back to `envelope_auth`). The `sentry_` prefix of each
  parameter is optional, as Relay reads it. No credentials anywhere: the caller answers 403.
- Envelope: `Headers { "\\n" Item } [ "\\n" ]`; an item is a JSON header line with `type` and an
  optional `length`, a newline, then exactly `length` payload bytes, or without `length` the bytes
  up to the next newline or EOF. Newlines are `\\n` only. Choices where the docs leave room:
  blank lines where an item header is expected are skipped (tolerating writers that add an extra
  newline); a `\\r` is part of the line it ends (so a CRLF header line is still valid JSON); an
  item header at EOF without newline has an empty payload.
- At most one `event` or `transaction` item (they are also mutually exclusive). Unknown item types
  are kept; the server ignores them. The envelope header's `event_id` wins over the payload's.
- Bodies: identity, gzip (also x-gzip, multi-member), deflate (zlib-wrapped or raw, detected), br
  (needs the `brotli` package >= 1.2, whose decoder can bound its output; else br is 415).
  Decoding stops as soon as the output passes the limit. Several codings (`gzip, br`) are undone
  in reverse order. An unknown coding is 415 (`UnsupportedEncoding`).
- JSON: strict UTF-8; NaN/Infinity refused (not JSON); nesting depth checked before parsing so
  no input can exhaust the recursion of the parser.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any
from urllib.parse import urlsplit

from vigil.ingest.errors import BadRequest, TooLarge, UnsupportedEncoding

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "EVENT_ITEM_TYPES",
    "Auth",
    "Envelope",
    "Item",
    "decode_body",
    "dsn_key",
    "envelope_auth",
    "event_payload",
    "loads_limited",
    "loads_object",
    "normalize_event_id",
    "ok_body",
    "parse_auth",
    "parse_envelope",
    "store_payload",
]

DEFAULT_MAX_DEPTH = 64
EVENT_ITEM_TYPES = frozenset({"event", "transaction"})
_CHUNK = 64 * 1024
_KEY = re.compile(r"[A-Za-z0-9_\-]{1,128}")
_HEX32 = re.compile(r"[0-9a-f]{32}")


# --- auth ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Auth:
    """Credentials of a request: the DSN's public key, and what the SDK said about itself."""

    public_key: str
    version: int | None = None
    client: str | None = None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup, whatever the mapping (dict, CIMultiDict, ...)."""
    value = headers.get(name)
    if value is not None:
        return value
    lower = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == lower:
            return value
    return None


def _key(value: str | None, where: str) -> str:
    if not value:
        raise BadRequest(f"missing sentry_key in {where}")
    if not _KEY.fullmatch(value):
        raise BadRequest(f"invalid sentry_key in {where}")
    return value


def _version(value: str | None, where: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        version = int(value)
    except ValueError:
        raise BadRequest(f"invalid sentry_version in {where}") from None
    if not 0 < version < 100:
        raise BadRequest(f"invalid sentry_version in {where}")
    return version


def _auth_header(value: str, where: str) -> Auth:
    scheme, _, params = value.strip().partition(" ")
    if scheme.lower() != "sentry":
        raise BadRequest(f"malformed {where} header: expected 'Sentry sentry_key=..., sentry_version=7'")
    fields: dict[str, str] = {}
    for part in params.split(","):
        part = part.strip()
        if not part:
            continue
        name, eq, val = part.partition("=")
        if not eq:
            raise BadRequest(f"malformed {where} header: {name.strip()[:40]!r} is not key=value")
        name = name.strip().lower()
        fields[name[7:] if name.startswith("sentry_") else name] = val.strip()
    return Auth(
        public_key=_key(fields.get("key"), f"{where} header"),
        version=_version(fields.get("version"), f"{where} header"),
        client=fields.get("client") or None,
    )


def parse_auth(headers: Mapping[str, str], query: Mapping[str, str]) -> Auth | None:
    """The request's credentials, or None when it carries none (the caller then tries the
    envelope's `dsn`, and answers 403 without). A malformed header is BadRequest. An
    `Authorization` header of another scheme (Bearer, Basic) is not Sentry's and is ignored."""
    value = _header(headers, "X-Sentry-Auth")
    if value is not None:
        return _auth_header(value, "X-Sentry-Auth")
    value = _header(headers, "Authorization")
    if value is not None and value.strip().lower().startswith("sentry "):
        return _auth_header(value, "Authorization")
    if "sentry_key" in query:
        return Auth(
            public_key=_key(query.get("sentry_key"), "query string"),
            version=_version(query.get("sentry_version"), "query string"),
            client=query.get("sentry_client") or None,
        )
    return None


def dsn_key(dsn: str) -> tuple[str, int]:
    """(public key, project id) of `{proto}://{public_key}[:secret]@{host}{path}/{project_id}`."""
    if not isinstance(dsn, str) or not dsn:
        raise BadRequest("invalid dsn: empty")
    try:
        parts = urlsplit(dsn.strip())
        username, host = parts.username, parts.hostname
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        raise BadRequest("invalid dsn: not a URL") from None
    if parts.scheme not in ("http", "https"):
        raise BadRequest("invalid dsn: scheme must be http or https")
    if not host:
        raise BadRequest("invalid dsn: no host")
    key = _key(username, "dsn")
    project = parts.path.rstrip("/").rpartition("/")[2]
    if not project.isascii() or not project.isdigit() or not 0 < int(project) < 2**31:
        raise BadRequest("invalid dsn: no project id at the end of the path")
    return key, int(project)


# --- body encodings ------------------------------------------------------------------------------


def _chunks(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), _CHUNK):
        yield bytes(view[start : start + _CHUNK])


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"decompressed body exceeds {limit} bytes")


def _inflate(data: bytes, wbits: int, limit: int, name: str, *, multi: bool) -> bytes:
    """zlib-family decoding in bounded steps: never more than `limit + 1` bytes of output."""
    out: list[bytes] = []
    total = 0
    view = memoryview(data)
    start = 0  # where the current stream (gzip member) begins
    while True:
        d = zlib.decompressobj(wbits)
        pos = start  # input fed so far
        try:
            while not d.eof and pos < len(data):
                chunk = bytes(view[pos : pos + _CHUNK])
                pos += len(chunk)
                while chunk and not d.eof:
                    piece = d.decompress(chunk, limit - total + 1)
                    total += len(piece)
                    if total > limit:
                        raise _too_large(limit)
                    out.append(piece)
                    chunk = d.unconsumed_tail
        except zlib.error as exc:
            raise BadRequest(f"corrupt {name} body: {exc}") from None
        if not d.eof:
            raise BadRequest(f"corrupt {name} body: truncated")
        start = pos - len(d.unused_data)
        if start >= len(data):
            return b"".join(out)
        if not multi:
            raise BadRequest(f"corrupt {name} body: data after the end of the stream")
        if data[start] == 0:  # zero padding after the last member, as gzip tolerates
            if data.count(0, start) == len(data) - start:
                return b"".join(out)
            raise BadRequest(f"corrupt {name} body: data after the end of the stream")


def _brotli_decompressor() -> tuple[Any, type[Exception]]:
    """A brotli Decompressor that can bound its output (brotli >= 1.2's output_buffer_limit);
    without one a br body cannot be decoded safely, so br is refused (415)."""
    try:
        import brotli  # type: ignore[import-not-found]
    except ImportError:
        raise UnsupportedEncoding("content encoding br is not supported: brotli is not installed") from None
    d = brotli.Decompressor()
    if not hasattr(d, "can_accept_more_data"):
        raise UnsupportedEncoding("content encoding br is not supported: brotli >= 1.2 is needed")
    return d, brotli.error


def _unbrotli(data: bytes, limit: int) -> bytes:
    d, error = _brotli_decompressor()
    out: list[bytes] = []
    total = 0
    try:
        for chunk in _chunks(data):
            if d.is_finished():
                raise BadRequest("corrupt br body: data after the end of the stream")
            while True:  # feed the chunk once, then drain while the decoder holds output back
                piece = d.process(chunk, output_buffer_limit=limit - total + 1)
                chunk = b""
                total += len(piece)
                if total > limit:
                    raise _too_large(limit)
                out.append(piece)
                if not piece or d.can_accept_more_data():
                    break
    except error as exc:
        raise BadRequest(f"corrupt br body: {exc}") from None
    if not d.is_finished():
        raise BadRequest("corrupt br body: truncated")
    return b"".join(out)


def _decode_one(body: bytes, coding: str, limit: int) -> bytes:
    if coding in ("", "identity"):
        if len(body) > limit:
            raise TooLarge(f"body exceeds {limit} bytes")
        return body
    if coding in ("gzip", "x-gzip"):
        return _inflate(body, 16 + zlib.MAX_WBITS, limit, "gzip", multi=True)
    if coding == "deflate":
        # RFC 9110's deflate is zlib-wrapped; some clients send raw deflate. The zlib header is
        # recognizable: CM=8 in the low nibble and the 16-bit header a multiple of 31.
        wrapped = len(body) >= 2 and body[0] & 0x0F == 8 and (body[0] << 8 | body[1]) % 31 == 0
        return _inflate(body, zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS, limit, "deflate", multi=False)
    if coding == "br":
        return _unbrotli(body, limit)
    raise UnsupportedEncoding(f"unsupported content encoding {coding[:40]!r} (use gzip, deflate or br)")


def decode_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The decoded body, at most `limit` bytes (TooLarge past it, checked while decoding)."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    codings = [c for c in codings if c not in ("", "identity")] or ["identity"]
    for coding in reversed(codings):
        body = _decode_one(body, coding, limit)
    return body


# --- bounded JSON --------------------------------------------------------------------------------

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_DEPTH_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _max_depth(data: bytes) -> int:
    """The deepest nesting of [ and { in `data`, strings excluded, at C speed: the running sum of
    +1 per opener and -1 per closer. (An unterminated string may over-count; that input is
    invalid JSON either way.)"""
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", data))
    if not brackets:
        return 0
    return max(0, max(accumulate(array("b", brackets.translate(_DEPTH_STEP)))))


def loads_limited(data: bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """JSON from UTF-8 bytes, refusing (BadRequest) invalid UTF-8, invalid JSON, NaN/Infinity and
    nesting deeper than `max_depth` -- the depth is measured before parsing, so a 10,000-deep
    `[[[...` is refused without recursion."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"invalid UTF-8 at byte {exc.start}") from None
    # Fewer openers than the limit cannot nest past it: the exact measure is for the rest.
    if data.count(b"[") + data.count(b"{") > max_depth and _max_depth(bytes(data)) > max_depth:
        raise BadRequest(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer past Python's digit limit
        raise BadRequest(f"invalid JSON: {str(exc)[:100]}") from None


def loads_object(data: bytes, max_depth: int = DEFAULT_MAX_DEPTH, what: str = "JSON") -> dict[str, Any]:
    value = loads_limited(data, max_depth)
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object, not {_json_kind(value)}")
    return value


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def normalize_event_id(value: Any) -> str | None:
    """32 lowercase hex digits from a UUID in any usual spelling (dashes, braces, upper case), or
    None when `value` is not one."""
    if not isinstance(value, str) or len(value) > 38:
        return None
    text = value.strip().lower().removeprefix("{").removesuffix("}")
    if len(text) == 36 and text[8] == text[13] == text[18] == text[23] == "-":
        text = text.replace("-", "")
    return text if _HEX32.fullmatch(text) else None


# --- envelopes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    type: str
    headers: dict[str, Any]
    payload: bytes


@dataclass(frozen=True)
class Envelope:
    headers: dict[str, Any]
    items: tuple[Item, ...] = field(default=())

    @property
    def event_id(self) -> str | None:
        """The header's event_id as 32 lowercase hex (validated by parse_envelope)."""
        return normalize_event_id(self.headers.get("event_id"))

    @property
    def dsn(self) -> str | None:
        dsn = self.headers.get("dsn")
        return dsn if isinstance(dsn, str) else None

    @property
    def sent_at(self) -> str | None:
        sent_at = self.headers.get("sent_at")
        return sent_at if isinstance(sent_at, str) else None

    def event_item(self) -> Item | None:
        return next((item for item in self.items if item.type in EVENT_ITEM_TYPES), None)


def _line(data: bytes, start: int) -> tuple[bytes, int]:
    """The line at `start` without its newline, and where the next one begins."""
    end = data.find(b"\n", start)
    if end < 0:
        return data[start:], len(data)
    return data[start:end], end + 1


def _item_length(headers: dict[str, Any]) -> int | None:
    length = headers.get("length")
    if length is None:
        return None
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise BadRequest("item header length must be a non-negative integer")
    return length


def parse_envelope(data: bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> Envelope:
    """The envelope's headers and items; BadRequest on anything malformed."""
    data = bytes(data)
    if not data.strip():
        raise BadRequest("empty envelope")
    line, pos = _line(data, 0)
    if not line.strip():
        raise BadRequest("missing envelope header")
    headers = loads_object(line, max_depth, "envelope header")
    if "event_id" in headers and headers["event_id"] is not None:
        if normalize_event_id(headers["event_id"]) is None:
            raise BadRequest("invalid event_id in envelope header")
    items: list[Item] = []
    events = 0
    while pos < len(data):
        line, after = _line(data, pos)
        if not line.strip():  # blank line between items, or the trailing newline(s)
            pos = after
            continue
        item_headers = loads_object(line, max_depth, "item header")
        kind = item_headers.get("type")
        if not isinstance(kind, str) or not kind:
            raise BadRequest("item header has no type")
        length = _item_length(item_headers)
        if after == len(data) and not data.endswith(b"\n"):  # header at EOF: no payload follows
            if length:
                raise BadRequest(f"{kind} item length {length} goes past the end of the envelope")
            payload, pos = b"", after
        elif length is None:
            payload, pos = _line(data, after)
        else:
            if after + length > len(data):
                raise BadRequest(f"{kind} item length {length} goes past the end of the envelope")
            payload, pos = data[after : after + length], after + length
            if pos < len(data):
                if data[pos : pos + 1] != b"\n":
                    raise BadRequest(f"{kind} item payload is not followed by a newline")
                pos += 1
        if kind in EVENT_ITEM_TYPES:
            events += 1
            if events > 1:
                raise BadRequest("envelope has more than one event item")
        items.append(Item(kind, item_headers, payload))
    return Envelope(headers, tuple(items))


def envelope_auth(envelope: Envelope) -> tuple[Auth, int] | None:
    """Credentials from the envelope header `dsn`, with the DSN's project id (which the caller
    checks against the URL's), or None without a dsn header."""
    if envelope.dsn is None:
        return None
    key, project_id = dsn_key(envelope.dsn)
    return Auth(public_key=key), project_id


def event_payload(envelope: Envelope, max_depth: int = DEFAULT_MAX_DEPTH) -> tuple[dict[str, Any], str] | None:
    """The event or transaction item's payload (a new dict) and the item's type, None without one.
    The envelope header's event_id replaces the payload's."""
    item = envelope.event_item()
    if item is None:
        return None
    payload = loads_object(item.payload, max_depth, f"{item.type} item")
    event_id = envelope.event_id
    if event_id is not None:
        payload["event_id"] = event_id
    return payload, item.type


def store_payload(body: bytes, limit: int, max_depth: int = DEFAULT_MAX_DEPTH) -> dict[str, Any]:
    """The store endpoint's body: the event JSON itself, already decoded by `decode_body`. Old
    SDKs sent base64 of zlib-compressed JSON instead; a body not starting with `{` is tried so."""
    stripped = body.lstrip()
    if not stripped.startswith(b"{"):
        try:
            raw = base64.b64decode(stripped, validate=False)
        except (binascii.Error, ValueError):
            raw = b""
        if raw[:1] == b"{":
            body = raw
        elif len(raw) >= 2 and raw[0] & 0x0F == 8 and (raw[0] << 8 | raw[1]) % 31 == 0:
            body = _inflate(raw, zlib.MAX_WBITS, limit, "deflate", multi=False)
    return loads_object(body, max_depth, "event")


def ok_body(event_id: str | None) -> dict[str, Any]:
    """The 200 answer: `{"id": event_id}` (an envelope without event answers `{}`)."""
    return {"id": event_id} if event_id else {}
