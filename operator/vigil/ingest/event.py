"""The normalized event: what `normalize` makes of an SDK payload and what the save pipeline, the
Redis streams and the evaluator read. Immutable values; the payload JSON keeps Sentry's shapes
(`exception.values`, `tags` as [key, value] pairs, `user`, `request`, `contexts`) so
`vigil.query` matches it as it matches Sentry events."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event", "ExceptionValue", "Frame", "Limits", "Request", "User"]


@dataclass(frozen=True)
class Limits:
    """Bounds applied by `normalize` (Relay's defaults where it has one)."""

    max_string: int = 8192  # characters of any string (message, exception value, extra values)
    max_depth: int = 8  # levels of free-form data (extra, contexts, request data, sdk, mechanism)
    max_tag_key: int = 200
    max_tag_value: int = 200
    max_tags: int = 200
    max_frames: int = 250  # per stacktrace; the middle frames go first, as Sentry trims them
    max_exceptions: int = 25  # chained exceptions kept, the outermost ones
    max_spans: int = 1000
    max_fingerprint: int = 32  # fingerprint entries
    max_breadth: int = 500  # entries of one free-form object or array
    max_future: float = 60.0  # seconds a timestamp may lie ahead of `received`
    max_past: float = 30 * 86400.0  # seconds a timestamp may lie behind `received`
    min_clock_drift: float = 55 * 60.0  # sent_at further than this from received: shift timestamps


@dataclass(frozen=True)
class Frame:
    filename: str | None = None
    abs_path: str | None = None
    module: str | None = None
    function: str | None = None
    lineno: int | None = None
    colno: int | None = None
    in_app: bool | None = None
    context_line: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class ExceptionValue:
    type: str | None = None
    value: str | None = None
    module: str | None = None
    mechanism: dict[str, Any] | None = None
    frames: tuple[Frame, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in ("type", "value", "module", "mechanism")}
        out = {k: v for k, v in out.items() if v is not None}
        if self.frames:
            out["stacktrace"] = {"frames": [f.to_dict() for f in self.frames]}
        return out


@dataclass(frozen=True)
class User:
    id: str | None = None
    email: str | None = None
    username: str | None = None
    ip_address: str | None = None
    name: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # every other key the SDK sent

    @property
    def tag_value(self) -> str | None:
        """Sentry's `sentry:user` tag: the first of id, email, username, ip, prefixed."""
        for prefix, value in (("id", self.id), ("email", self.email), ("username", self.username),
                              ("ip", self.ip_address)):
            if value:
                return f"{prefix}:{value}"
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in ("id", "email", "username", "ip_address", "name")}
        out = {k: v for k, v in out.items() if v is not None}
        if self.data:
            out["data"] = self.data
        return out


@dataclass(frozen=True)
class Request:
    url: str | None = None
    method: str | None = None
    query_string: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    cookies: tuple[tuple[str, str], ...] = ()
    data: Any = None
    env: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "url": self.url,
            "method": self.method,
            "query_string": self.query_string,
            "headers": [list(p) for p in self.headers] or None,
            "cookies": [list(p) for p in self.cookies] or None,
            "data": self.data,
            "env": self.env,
        }
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class Event:
    """A normalized event. `tags` already hold the promoted ones (level, logger, environment,
    transaction, sentry:release, sentry:dist, sentry:user, server_name)."""

    project_id: int
    event_id: str  # 32 lowercase hex
    type: str  # "error" | "default" | "transaction"
    timestamp: float  # seconds since the epoch, clamped (see normalize)
    received: float
    level: str
    platform: str = "other"
    start_timestamp: float | None = None  # transactions
    duration_ms: float | None = None  # transactions: (timestamp - start_timestamp) * 1000
    logger: str | None = None
    transaction: str | None = None
    transaction_op: str | None = None  # contexts.trace.op
    transaction_status: str | None = None  # contexts.trace.status; "unknown" when a transaction has none
    release: str | None = None
    dist: str | None = None
    environment: str | None = None
    server_name: str | None = None
    message: str | None = None  # formatted
    message_template: str | None = None  # logentry.message before params were applied
    user: User | None = None
    request: Request | None = None
    contexts: dict[str, Any] = field(default_factory=dict)
    tags: tuple[tuple[str, str], ...] = ()
    exceptions: tuple[ExceptionValue, ...] = ()  # oldest (the cause) first, as Sentry orders them
    fingerprint: tuple[str, ...] | None = None
    sdk: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    spans: tuple[dict[str, Any], ...] = ()
    title: str = "<unlabeled event>"
    culprit: str | None = None
    errors: tuple[str, ...] = ()  # what normalization changed or dropped, e.g. "future_timestamp"

    def tag(self, key: str) -> str | None:
        return next((v for k, v in self.tags if k == key), None)

    @property
    def user_tag(self) -> str | None:
        return self.user.tag_value if self.user else None

    def to_dict(self) -> dict[str, Any]:
        """The normalized event in Sentry's JSON shapes (the stream's `payload`)."""
        out: dict[str, Any] = {
            "event_id": self.event_id,
            "project_id": self.project_id,
            "type": self.type,
            "timestamp": self.timestamp,
            "received": self.received,
            "start_timestamp": self.start_timestamp,
            "duration_ms": self.duration_ms,
            "level": self.level,
            "platform": self.platform,
            "logger": self.logger,
            "transaction": self.transaction,
            "release": self.release,
            "dist": self.dist,
            "environment": self.environment,
            "server_name": self.server_name,
            "message": self.message,
            "logentry": (
                {"message": self.message_template, "formatted": self.message}
                if self.message_template is not None
                else None
            ),
            "title": self.title,
            "culprit": self.culprit,
            "user": self.user.to_dict() if self.user else None,
            "request": self.request.to_dict() if self.request else None,
            "contexts": self.contexts or None,
            "tags": [list(p) for p in self.tags],
            "exception": {"values": [e.to_dict() for e in self.exceptions]} if self.exceptions else None,
            "fingerprint": list(self.fingerprint) if self.fingerprint is not None else None,
            "sdk": self.sdk,
            "extra": self.extra or None,
            "spans": list(self.spans) if self.type == "transaction" else None,
            "errors": [{"type": e} for e in self.errors] or None,
        }
        return {k: v for k, v in out.items() if v is not None}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True, allow_nan=False)

    def stream_fields(self, group: str | None, is_new: bool, is_regression: bool) -> dict[str, str]:
        """Flat string fields for the Redis stream entry: what consumers filter on without
        decoding `payload` (the whole normalized event as compact JSON). Absent values are ""."""
        return {
            "event_id": self.event_id,
            "timestamp": _num(self.timestamp),
            "received": _num(self.received),
            "group": group or "",
            "is_new": "1" if is_new else "0",
            "is_regression": "1" if is_regression else "0",
            "environment": self.environment or "",
            "release": self.release or "",
            "level": self.level,
            "user": self.user_tag or "",
            "tags": json.dumps([list(p) for p in self.tags], separators=(",", ":")),
            **self.descriptive_fields(),
            "payload": self.to_json(),
        }

    def descriptive_fields(self) -> dict[str, str]:
        """The stream fields that only describe the event. The rest (ids, time, group flags,
        environment, release, level, user, tags) the store writes itself, from what it saves."""
        fields = {
            "project_id": str(self.project_id),
            "type": self.type,
            "platform": self.platform,
            "transaction": self.transaction or "",
            "title": self.title,
        }
        if self.type == "transaction":
            fields["duration"] = _num(self.duration_ms or 0.0)
            fields["transaction_status"] = self.transaction_status or ""
            fields["transaction_op"] = self.transaction_op or ""
        return fields


def _num(value: float) -> str:
    """A float as a short exact decimal string (repr round-trips)."""
    return repr(float(value))
