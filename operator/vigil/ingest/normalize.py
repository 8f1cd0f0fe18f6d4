"""Normalization of an SDK event payload into an `Event` (Relay's normalization, restated). Pure:
the receive time, ids and limits are parameters.

Rules, from Sentry's documented event payload and what Relay/`EventManager.save` are known to do;
choices where they leave room are marked (choice):
- Ids: the envelope's event_id wins; else the payload's; an invalid payload id is replaced by the
  caller's `fallback_id` (Sentry generates one); no id at all is BadRequest.
- Type: `transaction` when the payload or the envelope item says so, else `error` when an
  exception with a type or value remains after cleaning, else `default`.
- Timestamps: numbers (seconds since the epoch) or RFC 3339 strings (naive ones are UTC); missing or
  invalid -> `received`. When the envelope's `sent_at` differs from `received` by 55 minutes or
  more, the SDK's clock is off: every timestamp is shifted by the difference (Relay's clock drift
  correction). Then a timestamp more than 60 s ahead of `received` or more than 30 days behind it
  becomes `received` (Relay's max_secs_in_future / max_secs_in_past); (choice) a transaction's
  start_timestamp and spans move with it so its duration is kept. The change is listed in
  `Event.errors` (future_timestamp, past_timestamp, clock_drift, ...).
- Transactions need a start_timestamp not after their timestamp (else BadRequest, where Relay
  drops the transaction as invalid); a missing name becomes "<unlabeled transaction>", a missing
  trace status "unknown".
- level: fatal/error/warning/info/debug, aliases warn, critical, log and Python's numeric levels;
  missing or unknown -> "error", or "info" for transactions. platform outside Sentry's list ->
  "other". (choice) environment stays unset when missing, as Sentry leaves it (the Python SDK
  sends "production" itself); invalid ones (over 64 chars, "/", newlines) are dropped, as are
  invalid releases (over 200 chars, "/", "\\", newlines, ".", "..", "latest"); dist needs a release.
- message: `logentry.formatted`, else `logentry.message` with `params` applied (%s-style, positional
  or named, else {}-style), else a string `message`; `message` holding an object is a logentry.
- tags: an object or a list of [key, value] pairs; values may be numbers or booleans; keys match
  [A-Za-z0-9_.:-]{1,200}, values are 1-200 characters without newline, others are dropped; the
  first of duplicate keys is kept. Then level, logger, environment, transaction, sentry:release,
  sentry:dist, sentry:user (id:/email:/username:/ip:, the first present) and server_name replace
  any tag of the same key, as Sentry's set_tag does.
- Free-form data (extra, contexts, request data/env, sdk, mechanism): strings cut to
  `max_string`, objects/arrays deeper than `max_depth` become "[depth limit]", more than
  `max_breadth` entries are cut, non-finite floats become null. (choice) Values under keys that
  Sentry's default data scrubber names (password, secret, passwd, api_key, apikey, auth,
  credentials, mysql_pwd, privatekey, private_key, token, session, bearer) and the Authorization and
  Cookie headers become "[Filtered]", as Sentry's default server-side scrubbing does.
- title: "Type: first line of value" of the outermost exception (values are oldest first), else the
  message's first line, else "<unlabeled event>"; transactions: their name. culprit: a culprit
  the SDK sent, else the transaction name, else "module in function" of the most recent in-app
  frame (any frame when none is in-app).
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from vigil.ingest.errors import BadRequest
from vigil.ingest.event import Event, ExceptionValue, Frame, Limits, Request, User
from vigil.ingest.protocol import normalize_event_id

__all__ = ["DEFAULT_LIMITS", "PLATFORMS", "format_message", "normalize", "parse_timestamp"]

DEFAULT_LIMITS = Limits()
DEPTH_PLACEHOLDER = "[depth limit]"
FILTERED = "[Filtered]"
PLATFORMS = frozenset(
    "as c cfml cocoa csharp elixir haskell go groovy java javascript native node objc other perl "
    "php python ruby".split()
)
LEVELS = ("fatal", "error", "warning", "info", "debug")
_LEVEL_ALIASES = {"warn": "warning", "critical": "fatal", "log": "info"}
_NUMERIC_LEVELS = {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "fatal"}
_TAG_KEY = re.compile(r"[A-Za-z0-9_.:\-]+")
_SENSITIVE = re.compile(
    r"password|secret|passwd|api_key|apikey|auth|credentials|mysql_pwd|privatekey|private_key|token|session|bearer",
    re.IGNORECASE,
)
_SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-sentry-auth"})
_METHOD = re.compile(r"[A-Z_\-]{1,32}")
_PERCENT = re.compile(
    r"%(?:\((?P<name>[^)]{0,100})\))?[-#0 +]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[hlL]?(?P<conv>[diouxXeEfFgGcrsa%])"
)
_BRACES = re.compile(r"\{(?P<field>\d{0,3}|[A-Za-z_]\w{0,100})(?:![rsa])?(?::[^{}]{0,20})?\}")
_ALIASES = {
    "sentry.interfaces.Exception": "exception",
    "sentry.interfaces.Message": "logentry",
    "sentry.interfaces.User": "user",
    "sentry.interfaces.Http": "request",
    "sentry.interfaces.Stacktrace": "stacktrace",
}
_MAX_ID = 128
_MAX_CULPRIT = 200
_MAX_TRANSACTION = 200
_MAX_TITLE_VALUE = 100


# --- scalars -------------------------------------------------------------------------------------


def _clean(text: str) -> str:
    """Valid UTF-8 text: lone surrogates (JSON allows \\ud800) would fail every later encode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _cut(text: str, limit: int) -> str:
    text = _clean(text) if len(text) <= limit else _clean(text[: max(0, limit - 3)]) + "..."
    return text


def _text(value: Any, limit: int, *, lenient: bool = False) -> str | None:
    """A string trimmed to `limit`; with `lenient`, numbers are written out as Relay's lenient
    strings accept them. Anything else, and "", is None."""
    if isinstance(value, str):
        return _cut(value, limit) if value else None
    if lenient and isinstance(value, int) and not isinstance(value, bool):
        return _cut(str(value), limit) if abs(value) < 10**30 else None
    if lenient and isinstance(value, float) and math.isfinite(value):
        return _cut(repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value), limit)
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value < 2**53 else None


def parse_timestamp(value: Any) -> float | None:
    """Seconds since the epoch from a number, a numeric string or an RFC 3339 / ISO 8601 string;
    None for anything else, non-finite or not after the epoch."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        seconds = float(value) if abs(value) < 1e18 else math.inf
    elif isinstance(value, str) and 0 < len(value) <= 64:
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text.replace("z", "Z"))
            except ValueError:
                return None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
            try:
                seconds = parsed.timestamp()
            except (OverflowError, ValueError, OSError):
                return None
    else:
        return None
    return seconds if math.isfinite(seconds) and 0 < seconds < 1e13 else None


# --- free-form data ------------------------------------------------------------------------------


def _freeform(value: Any, limits: Limits, depth: int = 1, *, scrub: bool = True) -> Any:
    """JSON-safe, bounded copy of arbitrary data: the root container is at `depth`."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _cut(value, limits.max_string)
    if isinstance(value, int):
        return value if abs(value) < 2**63 else _cut(str(value), limits.max_string)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        if depth > limits.max_depth:
            return DEPTH_PLACEHOLDER
        out: dict[str, Any] = {}
        for key, item in value.items():
            if len(out) >= limits.max_breadth:
                break
            key = _cut(key if isinstance(key, str) else str(key), limits.max_tag_key)
            if scrub and _SENSITIVE.search(key) and item is not None:
                out[key] = FILTERED
            else:
                out[key] = _freeform(item, limits, depth + 1, scrub=scrub)
        return out
    if isinstance(value, (list, tuple)):
        if depth > limits.max_depth:
            return DEPTH_PLACEHOLDER
        return [_freeform(item, limits, depth + 1, scrub=scrub) for item in value[: limits.max_breadth]]
    return _cut(str(type(value).__name__), limits.max_string)


def _object(value: Any, limits: Limits, depth: int = 1) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    out = _freeform(value, limits, depth)
    return out if isinstance(out, dict) else None


def _pairs(value: Any) -> list[tuple[Any, Any]]:
    """[key, value] pairs from an object or a list of 2-element lists."""
    if isinstance(value, Mapping):
        return list(value.items())
    if isinstance(value, (list, tuple)):
        return [
            (p[0], p[1]) for p in value if isinstance(p, (list, tuple)) and len(p) == 2
        ]
    return []


# --- message -------------------------------------------------------------------------------------


def _param_text(value: Any, limits: Limits) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return str(value) if not isinstance(value, int) or abs(value) < 10**30 else "<int>"
    return json.dumps(_freeform(value, limits, scrub=False), separators=(",", ":"), allow_nan=False)


def format_message(template: str, params: Any, limits: Limits = DEFAULT_LIMITS) -> str:
    """`template` with `params` applied like Python's logging does (%s, %d, %(name)s; widths are
    ignored), else {}-style ({}, {0}, {name}) when it has no % placeholder. A placeholder without
    a matching parameter stays as written. The result is bounded by `limits.max_string` while it is
    built, so repeated placeholders cannot blow it up."""
    if isinstance(params, Mapping):
        named: Mapping[Any, Any] = params
        positional: Sequence[Any] = ()
    elif isinstance(params, (list, tuple)):
        named, positional = {}, params
    elif params is None:
        return template
    else:
        named, positional = {}, (params,)
    limit = limits.max_string
    pieces: list[str] = []
    size = 0
    index = 0

    def emit(text: str) -> bool:
        nonlocal size
        pieces.append(text[: limit + 1 - size])
        size += len(pieces[-1])
        return size > limit

    def render(pattern: re.Pattern[str], replace: Any) -> str | None:
        nonlocal size, index
        pieces.clear()
        size, last, hits = 0, 0, 0
        for m in pattern.finditer(template):
            text = replace(m)
            if text is None:
                continue
            hits += 1
            if emit(template[last : m.start()]) or emit(text):
                return _cut("".join(pieces), limit)
            last = m.end()
        if not hits:
            return None
        emit(template[last:])
        return _cut("".join(pieces), limit)

    def percent(m: re.Match[str]) -> str | None:
        nonlocal index
        if m.group("conv") == "%":
            return "%"
        name = m.group("name")
        if name is not None:
            return _param_text(named[name], limits) if name in named else None
        if index >= len(positional):
            return None
        index += 1
        return _param_text(positional[index - 1], limits)

    def braces(m: re.Match[str]) -> str | None:
        nonlocal index
        key = m.group("field")
        if key == "":
            if index >= len(positional):
                return None
            index += 1
            return _param_text(positional[index - 1], limits)
        if key.isdigit():
            i = int(key)
            return _param_text(positional[i], limits) if i < len(positional) else None
        return _param_text(named[key], limits) if key in named else None

    result = render(_PERCENT, percent)
    if result is None:
        index = 0
        result = render(_BRACES, braces)
    return result if result is not None else _cut(template, limit)


def _message(raw: Mapping[str, Any], limits: Limits) -> tuple[str | None, str | None]:
    """(formatted message, template when params were applied to it)."""
    logentry = raw.get("logentry")
    message = raw.get("message")
    if logentry is None and isinstance(message, Mapping):
        logentry, message = message, None
    formatted = template = None
    if isinstance(logentry, str):
        formatted = _text(logentry, limits.max_string)
    elif isinstance(logentry, Mapping):
        template = _text(logentry.get("message"), limits.max_string, lenient=True)
        formatted = _text(logentry.get("formatted"), limits.max_string, lenient=True)
        params = logentry.get("params")
        if formatted is None and template is not None:
            formatted = format_message(template, params, limits) if params is not None else template
        if template is not None and template == formatted:
            template = None
    if formatted is None:
        formatted = _text(message, limits.max_string, lenient=True)
    return formatted, template


# --- interfaces ----------------------------------------------------------------------------------


def _frames(stacktrace: Any, limits: Limits) -> tuple[Frame, ...]:
    if not isinstance(stacktrace, Mapping) or not isinstance(stacktrace.get("frames"), (list, tuple)):
        return ()
    raw = [f for f in stacktrace["frames"] if isinstance(f, Mapping)]
    if len(raw) > limits.max_frames:  # Sentry keeps both ends of an over-long stack
        head = limits.max_frames // 2
        raw = raw[:head] + raw[len(raw) - (limits.max_frames - head) :]
    frames = []
    for f in raw:
        in_app = f.get("in_app")
        frames.append(
            Frame(
                filename=_text(f.get("filename"), 1024),
                abs_path=_text(f.get("abs_path"), 1024),
                module=_text(f.get("module"), 512),
                function=_text(f.get("function"), 512),
                lineno=_int(f.get("lineno")),
                colno=_int(f.get("colno")),
                in_app=in_app if isinstance(in_app, bool) else None,
                context_line=_text(f.get("context_line"), 512),
            )
        )
    return tuple(frames)


def _exceptions(raw: Mapping[str, Any], limits: Limits) -> tuple[ExceptionValue, ...]:
    exc = raw.get("exception")
    if isinstance(exc, Mapping):
        values = exc.get("values") if "values" in exc else [exc]  # a lone legacy exception
    else:
        values = exc
    if not isinstance(values, (list, tuple)):
        return ()
    out = []
    for v in values:
        if not isinstance(v, Mapping):
            continue
        kind = _text(v.get("type"), 256)
        value = v.get("value")
        if value is not None and not isinstance(value, str):  # Relay's lenient JSON string
            value = json.dumps(_freeform(value, limits, scrub=False), separators=(",", ":"), allow_nan=False)
        value = _text(value, limits.max_string)
        if kind is None and value is None:
            continue
        mechanism = _object(v.get("mechanism"), limits)
        stack = v.get("stacktrace") if isinstance(v.get("stacktrace"), Mapping) else v.get("raw_stacktrace")
        out.append(ExceptionValue(kind, value, _text(v.get("module"), 512), mechanism, _frames(stack, limits)))
    return tuple(out[-limits.max_exceptions :])


def _ip(value: Any, client_ip: str | None) -> str | None:
    if value == "{{auto}}":
        value = client_ip
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def _user(raw: Any, limits: Limits, client_ip: str | None) -> User | None:
    if not isinstance(raw, Mapping):
        return None
    known = ("id", "email", "username", "ip_address", "name", "data")
    data = _object(raw.get("data"), limits, 2) or {}
    others = _object({k: v for k, v in raw.items() if k not in known}, limits, 2) or {}
    for key, value in others.items():  # geo, segment, ...: kept under data, as Relay does
        if len(data) < limits.max_breadth:
            data.setdefault(key, value)
    user = User(
        id=_text(raw.get("id"), _MAX_ID, lenient=True),
        email=_text(raw.get("email"), _MAX_ID),
        username=_text(raw.get("username"), _MAX_ID, lenient=True),
        ip_address=_ip(raw.get("ip_address"), client_ip),
        name=_text(raw.get("name"), _MAX_ID),
        data=data,
    )
    return user if (user.tag_value or user.name or user.data) else None


def _header_name(name: str) -> str:
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _request(raw: Any, limits: Limits) -> Request | None:
    if not isinstance(raw, Mapping):
        return None
    url = _text(raw.get("url"), limits.max_string)
    query = raw.get("query_string")
    if isinstance(query, str):
        query_string = query.removeprefix("?") or None
    else:
        pairs = [(k, v) for k, v in _pairs(query) if isinstance(k, str) and isinstance(v, str)]
        query_string = urlencode(pairs) if pairs else None
    if url is not None:
        url = url.partition("#")[0]
        url, q, rest = url.partition("?")
        if q and query_string is None:
            query_string = rest or None
    method = raw.get("method")
    method = method.strip().upper() if isinstance(method, str) else None
    headers = []
    for key, value in _pairs(raw.get("headers"))[: limits.max_breadth]:
        if not isinstance(key, str) or not key:
            continue
        if isinstance(value, (list, tuple)):
            value = ", ".join(v for v in value if isinstance(v, str))
        text = _text(value, limits.max_string, lenient=True)
        if text is None:
            continue
        name = _cut(_header_name(key.strip()), limits.max_tag_key)
        sensitive = name.lower() in _SENSITIVE_HEADERS or bool(_SENSITIVE.search(name))
        headers.append((name, FILTERED if sensitive else text))
    cookies_raw = raw.get("cookies")
    if isinstance(cookies_raw, str):
        cookies_raw = [c.split("=", 1) for c in cookies_raw.split(";") if "=" in c]
    cookies = []
    for key, value in _pairs(cookies_raw)[: limits.max_breadth]:
        if isinstance(key, str) and isinstance(value, str) and key.strip():
            name = _cut(key.strip(), limits.max_tag_key)
            cookies.append((name, FILTERED if _SENSITIVE.search(name) else _cut(value, limits.max_string)))
    env = _object(raw.get("env"), limits, 2)
    data = raw.get("data")
    return Request(
        url=_cut(url, limits.max_string) if url else None,
        method=method if method and _METHOD.fullmatch(method) else None,
        query_string=_cut(query_string, limits.max_string) if query_string else None,
        headers=tuple(headers),
        cookies=tuple(cookies),
        data=_freeform(data, limits, 2) if data is not None else None,
        env=env or None,
    )


def _contexts(raw: Any, limits: Limits) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(key, str) and isinstance(value, Mapping) and len(out) < limits.max_breadth:
            out[_cut(key, limits.max_tag_key)] = _freeform(value, limits, 2)
    return out


def _fingerprint(raw: Any, limits: Limits) -> tuple[str, ...] | None:
    if not isinstance(raw, (list, tuple)):
        return None
    out = []
    for part in raw[: limits.max_fingerprint]:
        text = _text(part, 512, lenient=True)
        if text is not None:
            out.append(text)
    return tuple(out) or None


def _sdk(raw: Any, limits: Limits) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping):
        return None
    picked = {k: raw[k] for k in ("name", "version", "integrations", "packages") if k in raw}
    return _object(picked, limits) or None


def _spans(raw: Any, shift: float, limits: Limits) -> tuple[dict[str, Any], ...]:
    if not isinstance(raw, (list, tuple)):
        return ()
    out = []
    for span in raw[: limits.max_spans]:
        if not isinstance(span, Mapping):
            continue
        item: dict[str, Any] = {}
        for key in ("span_id", "parent_span_id", "trace_id", "op", "status"):
            text = _text(span.get(key), 128)
            if text is not None:
                item[key] = text
        description = _text(span.get("description"), limits.max_string)
        if description is not None:
            item["description"] = description
        for key in ("start_timestamp", "timestamp"):
            seconds = parse_timestamp(span.get(key))
            if seconds is not None:
                item[key] = seconds + shift
        if "start_timestamp" in item and "timestamp" in item:
            item["duration_ms"] = max(0.0, (item["timestamp"] - item["start_timestamp"]) * 1000)
        if item:
            out.append(item)
    return tuple(out)


# --- names ---------------------------------------------------------------------------------------


def _level(value: Any, default: str) -> str:
    if isinstance(value, str):
        text = value.strip().lower()
        text = _LEVEL_ALIASES.get(text, text)
        return text if text in LEVELS else default
    if isinstance(value, int) and not isinstance(value, bool):
        return _NUMERIC_LEVELS.get(value, default)
    return default


def _release(value: Any) -> str | None:
    text = _text(value, 10_000, lenient=True)
    if text is None:
        return None
    text = text.strip()
    if not text or len(text) > 200 or text in (".", "..", "latest") or re.search(r"[\n\r\t\f\v/\\]", text):
        return None
    return text


def _environment(value: Any) -> str | None:
    text = _text(value, 10_000)
    if text is None:
        return None
    text = text.strip()
    if not text or len(text) > 64 or re.search(r"[\n\r\f/]", text):
        return None
    return text


def _dist(value: Any) -> str | None:
    text = _text(value, 10_000, lenient=True)
    text = text.strip() if text else None
    return text if text and len(text) <= 64 and not re.search(r"\s", text) else None


def _tag_value(value: Any, limits: Limits) -> str | None:
    if isinstance(value, bool):
        text: str | None = "true" if value else "false"
    else:
        text = _text(value, 10_000, lenient=True)
    if text is None:
        return None
    text = text.strip()
    if not text or len(text) > limits.max_tag_value or "\n" in text or "\r" in text:
        return None
    return text


def _tags(raw: Any, system: list[tuple[str, str | None]], limits: Limits) -> tuple[tuple[str, str], ...]:
    tags: dict[str, str] = {}
    for key, value in _pairs(raw):
        if len(tags) >= limits.max_tags:
            break
        if not isinstance(key, str):
            continue
        key = key.strip()
        if not key or len(key) > limits.max_tag_key or not _TAG_KEY.fullmatch(key) or key in tags:
            continue
        text = _tag_value(value, limits)
        if text is not None:
            tags[key] = text
    for key, value in system:
        text = _tag_value(value, limits) if value is not None else None
        if text is not None:
            tags.pop(key, None)
            tags[key] = text
    return tuple(tags.items())


def _first_line(text: str, limit: int) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _title(kind: str, exceptions: Sequence[ExceptionValue], message: str | None, transaction: str | None) -> str:
    if kind == "transaction":
        return transaction or "<unlabeled transaction>"
    if exceptions:
        exc = exceptions[-1]
        name = exc.type or "Error"
        value = _first_line(exc.value, _MAX_TITLE_VALUE) if exc.value else ""
        return f"{name}: {value}" if value else name
    if message and message.strip():
        return _first_line(message, _MAX_TITLE_VALUE)
    return "<unlabeled event>"


def frame_label(frame: Frame) -> str | None:
    place = frame.module or frame.filename
    if place and frame.function:
        return f"{place} in {frame.function}"
    return place or frame.function


def _culprit(raw: Mapping[str, Any], transaction: str | None, exceptions: Sequence[ExceptionValue]) -> str | None:
    given = _text(raw.get("culprit"), _MAX_CULPRIT)
    if given:
        return given
    if transaction:
        return _cut(transaction, _MAX_CULPRIT)
    newest_first = [f for exc in reversed(exceptions) for f in reversed(exc.frames)]
    frame = next((f for f in newest_first if f.in_app), None) or next(iter(newest_first), None)
    label = frame_label(frame) if frame else None
    return _cut(label, _MAX_CULPRIT) if label else None


# --- normalize -----------------------------------------------------------------------------------


def normalize(
    raw: Mapping[str, Any],
    *,
    project_id: int,
    received: float,
    event_id: str | None = None,
    fallback_id: str | None = None,
    item_type: str | None = None,
    sent_at: float | str | None = None,
    client_ip: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Event:
    """The normalized event. `received` is the receive time (seconds since the epoch); `event_id`
    the envelope header's (wins over the payload's; invalid -> BadRequest); `fallback_id` the id to
    use when neither is valid; `item_type` the envelope item's type; `sent_at` the envelope
    header's; `client_ip` replaces a user ip_address of "{{auto}}". Raises only BadRequest."""
    if not isinstance(raw, Mapping):
        raise BadRequest("event must be a JSON object")
    if not math.isfinite(received):
        raise ValueError("received must be a finite timestamp")
    raw = {**{_ALIASES[k]: v for k, v in raw.items() if k in _ALIASES and _ALIASES[k] not in raw}, **raw}
    errors: list[str] = []

    if event_id is not None:
        eid = normalize_event_id(event_id)
        if eid is None:
            raise BadRequest("invalid event_id")
    else:
        eid = normalize_event_id(raw.get("event_id"))
        if eid is None:
            if raw.get("event_id") is not None:
                errors.append("invalid_event_id")
            eid = normalize_event_id(fallback_id)
            if eid is None:
                raise BadRequest("event has no valid event_id")

    is_transaction = raw.get("type") == "transaction" or item_type == "transaction"

    # Timestamps: clock drift, then the future/past window.
    drift = 0.0
    sent = parse_timestamp(sent_at)
    if sent is not None and abs(received - sent) >= limits.min_clock_drift:
        drift = received - sent
        errors.append("clock_drift")
    timestamp = parse_timestamp(raw.get("timestamp"))
    if timestamp is None:
        if raw.get("timestamp") is not None:
            errors.append("invalid_timestamp")
        timestamp, shift = received, drift
    else:
        timestamp += drift
        shift = drift
        if timestamp > received + limits.max_future:
            errors.append("future_timestamp")
            shift += received - timestamp
            timestamp = received
        elif timestamp < received - limits.max_past:
            errors.append("past_timestamp")
            shift += received - timestamp
            timestamp = received

    exceptions = () if is_transaction else _exceptions(raw, limits)
    kind = "transaction" if is_transaction else ("error" if exceptions else "default")

    start_timestamp = duration_ms = None
    transaction = _text(raw.get("transaction"), _MAX_TRANSACTION)
    contexts = _contexts(raw.get("contexts"), limits)
    trace = contexts.get("trace") if isinstance(contexts.get("trace"), dict) else {}
    transaction_op = transaction_status = None
    spans: tuple[dict[str, Any], ...] = ()
    if is_transaction:
        start = parse_timestamp(raw.get("start_timestamp"))
        if start is None:
            raise BadRequest("transaction has no valid start_timestamp")
        start_timestamp = start + shift
        if start_timestamp > timestamp:
            raise BadRequest("transaction ends before it starts (timestamp < start_timestamp)")
        duration_ms = (timestamp - start_timestamp) * 1000.0
        transaction = transaction or "<unlabeled transaction>"
        transaction_op = _text(trace.get("op"), 128)
        status = _text(trace.get("status"), 64)
        transaction_status = status.lower() if status else "unknown"
        spans = _spans(raw.get("spans"), shift, limits)

    level = _level(raw.get("level"), "info" if is_transaction else "error")
    platform = raw.get("platform")
    platform = platform if isinstance(platform, str) and platform in PLATFORMS else "other"
    logger = _text(raw.get("logger"), 64)
    release = _release(raw.get("release"))
    dist = _dist(raw.get("dist")) if release else None
    environment = _environment(raw.get("environment"))
    server_name = _text(raw.get("server_name"), 200)
    message, template = _message(raw, limits)
    user = _user(raw.get("user"), limits, client_ip)
    system_tags: list[tuple[str, str | None]] = [
        ("level", level),
        ("logger", logger),
        ("environment", environment),
        ("transaction", transaction),
        ("sentry:release", release),
        ("sentry:dist", dist),
        ("sentry:user", user.tag_value if user else None),
        ("server_name", server_name),
    ]
    tags = _tags(raw.get("tags"), system_tags, limits)

    return Event(
        project_id=project_id,
        event_id=eid,
        type=kind,
        timestamp=timestamp,
        received=received,
        level=level,
        platform=platform,
        start_timestamp=start_timestamp,
        duration_ms=duration_ms,
        logger=logger,
        transaction=transaction,
        transaction_op=transaction_op,
        transaction_status=transaction_status,
        release=release,
        dist=dist,
        environment=environment,
        server_name=server_name,
        message=message,
        message_template=template,
        user=user,
        request=_request(raw.get("request"), limits),
        contexts=contexts,
        tags=tags,
        exceptions=exceptions,
        fingerprint=_fingerprint(raw.get("fingerprint"), limits),
        sdk=_sdk(raw.get("sdk"), limits),
        extra=_object(raw.get("extra"), limits) or {},
        spans=spans,
        title=_title(kind, exceptions, message, transaction),
        culprit=_culprit(raw, transaction, exceptions),
        errors=tuple(errors),
    )
