"""The grouping hash of an error or default event (Sentry's default grouping, restated). Pure.

- A fingerprint, when the event has one, decides: each entry is literal, except variables
  `{{ default }}` (the default components below; spaces optional), `{{ transaction }}`,
  `{{ type }}` / `{{ error.type }}`, `{{ value }}` / `{{ error.value }}`, `{{ function }}`,
  `{{ module }}`, `{{ level }}`, `{{ logger }}`, `{{ message }}`. A fingerprint of only
  `{{ default }}` hashes like no fingerprint at all.
- Else the exception chain: every exception's type and each in-app frame's module (else file
  name without directories) and function (line number only when a frame has no function). When
  no frame of the chain is in-app, all frames count. Without any frame, the exception values
  (masked, first line) count, as Sentry uses the value only when there is no stack trace.
- Else the message: the logentry template when params were applied (so "%s users" groups all
  its renderings), else the formatted message, with variable parts masked: UUIDs, e-mail
  addresses, ISO dates and times, IP addresses, hex ids (0x.. or 8+ hex digits with a digit and
  a letter) and numbers ("timeout after 30s on 10.0.0.1" -> "timeout after <int>s on <ip>").
- Else one fallback group.
- Transactions have no group: `grouping_hash` returns None for them.
The hash is the md5 of the JSON list of components: 32 lowercase hex digits.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re

from vigil.ingest.event import Event, Frame

__all__ = ["default_components", "grouping_components", "grouping_hash", "mask_message"]

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_.]+)\s*\}\}")
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"[\w.+\-]{1,64}@[\w\-]{1,63}(?:\.[\w\-]{1,63}){1,8}"), "<email>"),
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
        ),
        "<date>",
    ),
    (re.compile(r"(?<![\w:])\d{1,2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?![\w:])"), "<time>"),
)
_IP_CANDIDATE = re.compile(
    r"(?<![\w:.])(?:(?:\d{1,3}\.){3}\d{1,3}|(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{0,4}|(?:\d{1,3}\.){3}\d{1,3}))"
    r"(?![\w:.])"
)
_HEX = re.compile(r"\b0[xX][0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b")
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(\.\d+)?")


def _mask_ip(match: re.Match[str]) -> str:
    text = match.group(0)
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return text
    return "<ip>"


def mask_message(text: str) -> str:
    """`text` with its variable parts replaced by placeholders (see the module doc)."""
    for pattern, placeholder in _MASKS:
        text = pattern.sub(placeholder, text)
    text = _IP_CANDIDATE.sub(_mask_ip, text)
    text = _HEX.sub("<hex>", text)
    return _NUMBER.sub(lambda m: "<float>" if m.group(1) else "<int>", text)


def _frame_component(frame: Frame) -> str | None:
    place = frame.module or (frame.filename.replace("\\", "/").rsplit("/", 1)[-1] if frame.filename else None)
    if frame.function:
        return f"{place or ''}:{frame.function}"
    if place:
        return f"{place}:?:{frame.lineno if frame.lineno is not None else ''}"
    return None


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""


def default_components(event: Event) -> list[str]:
    """What Sentry's default grouping looks at for this event (without a fingerprint)."""
    if event.exceptions:
        frames = [f for exc in event.exceptions for f in exc.frames]
        in_app_only = any(f.in_app for f in frames)
        components = ["exception"]
        for exc in event.exceptions:
            components.append(f"type:{exc.type or ''}")
            for frame in exc.frames:
                if in_app_only and not frame.in_app:
                    continue
                part = _frame_component(frame)
                if part is not None:
                    components.append(f"frame:{part}")
            if not frames:
                components.append(f"value:{mask_message(_first_line(exc.value))}")
        return components
    text = event.message_template or event.message
    if text and text.strip():
        return ["message", mask_message(text.strip())]
    return ["fallback"]


def _top_frame(event: Event) -> Frame | None:
    newest_first = [f for exc in reversed(event.exceptions) for f in reversed(exc.frames)]
    return next((f for f in newest_first if f.in_app), None) or next(iter(newest_first), None)


def _variable(event: Event, name: str) -> list[str] | None:
    outermost = event.exceptions[-1] if event.exceptions else None
    top = _top_frame(event)
    values: dict[str, str | None] = {
        "transaction": event.transaction,
        "type": outermost.type if outermost else None,
        "value": outermost.value if outermost else None,
        "function": top.function if top else None,
        "module": top.module if top else None,
        "level": event.level,
        "logger": event.logger,
        "message": event.message,
    }
    name = name.removeprefix("error.") if name in ("error.type", "error.value") else name
    if name == "default":
        return default_components(event)
    if name in values:
        return [f"{name}={values[name] or ''}"]
    return None


def grouping_components(event: Event) -> list[str]:
    if not event.fingerprint:
        return default_components(event)
    parts = [_VARIABLE.fullmatch(p.strip()) for p in event.fingerprint]
    if all(m is not None and m.group(1).lower() == "default" for m in parts):
        return default_components(event)
    components = ["fingerprint"]
    for text, match in zip(event.fingerprint, parts):
        expanded = _variable(event, match.group(1).lower()) if match else None
        components.extend(expanded if expanded is not None else [f"literal:{text}"])
    return components


def grouping_hash(event: Event) -> str | None:
    """32 lowercase hex digits, or None for a transaction (transactions are not grouped)."""
    if event.type == "transaction":
        return None
    data = json.dumps(grouping_components(event), separators=(",", ":"))
    return hashlib.md5(data.encode("utf-8"), usedforsecurity=False).hexdigest()
