"""The ingest's refusals, each carrying the HTTP answer Sentry's ingest gives for it. Pure.

Every error answers with an `X-Sentry-Error` header and a JSON body `{"detail": message}` (what
Sentry's SDKs log). 429 adds `Retry-After` and `X-Sentry-Rate-Limits`, 503 adds `Retry-After`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "BadRequest",
    "Forbidden",
    "IngestError",
    "RateLimited",
    "TooLarge",
    "Unavailable",
    "UnsupportedEncoding",
]

_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")
_MAX_HEADER_MESSAGE = 200


def _header_safe(text: str) -> str:
    """One printable-ASCII line: header values cannot carry newlines or non-latin-1 text."""
    text = _UNPRINTABLE.sub("?", text)
    return text if len(text) <= _MAX_HEADER_MESSAGE else text[: _MAX_HEADER_MESSAGE - 3] + "..."


def _seconds(value: float) -> int:
    """Whole seconds for a header, rounded up, at least 1 (0 would invite an immediate retry)."""
    if not math.isfinite(value):
        return 1
    return max(1, math.ceil(value))


class IngestError(Exception):
    """A request the ingest refuses. `response()` is the (status, headers, json body) to send."""

    status: int = 400
    default_message: str = "bad request"

    def __init__(self, message: str | None = None, *, headers: Mapping[str, str] | None = None) -> None:
        self.message = message or self.default_message
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(self.message)

    def response(self) -> tuple[int, dict[str, str], dict[str, Any]]:
        headers = {"X-Sentry-Error": _header_safe(self.message), **self.headers}
        return self.status, headers, {"detail": self.message}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class BadRequest(IngestError):
    status = 400
    default_message = "bad request"


class Forbidden(IngestError):
    status = 403
    default_message = "missing or unknown sentry_key"


class TooLarge(IngestError):
    status = 413
    default_message = "request too large"


class UnsupportedEncoding(IngestError):
    """An unknown Content-Encoding: 415, as HTTP prescribes for an unsupported content coding."""

    status = 415
    default_message = "unsupported content encoding"


class RateLimited(IngestError):
    """429. `categories` empty means every category; `scope` is Sentry's (key, project,
    organization); `reason` its reason code. The header is
    `X-Sentry-Rate-Limits: <seconds>:<cat;cat>:<scope>[:<reason>]`."""

    status = 429
    default_message = "rate limit exceeded"

    def __init__(
        self,
        retry_after: float,
        *,
        categories: Sequence[str] = (),
        scope: str = "key",
        reason: str | None = None,
        message: str | None = None,
    ) -> None:
        self.retry_after = _seconds(retry_after)
        self.categories = tuple(categories)
        self.scope = scope
        self.reason = reason
        limit = f"{self.retry_after}:{';'.join(self.categories)}:{scope}"
        if reason:
            limit += f":{reason}"
        super().__init__(
            message,
            headers={"Retry-After": str(self.retry_after), "X-Sentry-Rate-Limits": _header_safe(limit)},
        )


class Unavailable(IngestError):
    """503: the ingest cannot save right now (e.g. Redis is down); the SDK retries later."""

    status = 503
    default_message = "service unavailable, retry later"

    def __init__(self, retry_after: float = 60, message: str | None = None) -> None:
        self.retry_after = _seconds(retry_after)
        super().__init__(message, headers={"Retry-After": str(self.retry_after)})
