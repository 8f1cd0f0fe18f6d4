"""vigil.ingest.grouping: the same error groups together, different in-app code does not,
fingerprints (with {{ default }} and other variables), message masking, transactions ungrouped."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.ingest.event import Event
from vigil.ingest.grouping import default_components, grouping_components, grouping_hash, mask_message
from vigil.ingest.normalize import normalize

RECEIVED = 1_700_000_000.0
FRAMES = [
    {"module": "django.core.handlers", "function": "inner", "filename": "django/core/handlers.py", "lineno": 55,
     "in_app": False},
    {"module": "shop.views", "function": "checkout", "filename": "shop/views.py", "lineno": 31, "in_app": True},
    {"module": "shop.cart", "function": "total", "filename": "shop/cart.py", "lineno": 120, "in_app": True},
]


def _error(frames: list[dict[str, Any]] | None = None, *, type_: str = "ValueError", value: str = "bad cart 17",
           event_id: str = "a" * 32, **extra: Any) -> dict[str, Any]:
    exc: dict[str, Any] = {"type": type_, "value": value}
    if frames is not None:
        exc["stacktrace"] = {"frames": copy.deepcopy(frames)}
    return {"event_id": event_id, "exception": {"values": [exc]}, **extra}


def _event(raw: dict[str, Any]) -> Event:
    return normalize(raw, project_id=1, received=RECEIVED, fallback_id="f" * 32)


def _hash(raw: dict[str, Any]) -> str | None:
    return grouping_hash(_event(raw))


def test_hash_shape() -> None:
    h = _hash(_error(FRAMES))
    assert h is not None and re.fullmatch(r"[0-9a-f]{32}", h)


def test_same_error_twice_same_group() -> None:
    first = _error(FRAMES, event_id="a" * 32, value="bad cart 17", timestamp=RECEIVED - 5)
    second = _error(FRAMES, event_id="b" * 32, value="bad cart 99", timestamp=RECEIVED - 1,
                    tags={"x": "y"}, environment="staging", release="2.0")
    assert _hash(first) == _hash(second)


def test_line_numbers_and_non_app_frames_do_not_split_groups() -> None:
    moved = copy.deepcopy(FRAMES)
    moved[1]["lineno"] = 300  # the code moved
    moved[0] = {"module": "other.lib", "function": "wrapper", "in_app": False}  # different framework frame
    assert _hash(_error(FRAMES)) == _hash(_error(moved))


def test_different_in_app_frames_different_groups() -> None:
    other = copy.deepcopy(FRAMES)
    other[2]["function"] = "subtotal"
    assert _hash(_error(FRAMES)) != _hash(_error(other))
    other_module = copy.deepcopy(FRAMES)
    other_module[1]["module"] = "shop.api"
    assert _hash(_error(FRAMES)) != _hash(_error(other_module))


def test_different_exception_types_different_groups() -> None:
    assert _hash(_error(FRAMES, type_="ValueError")) != _hash(_error(FRAMES, type_="KeyError"))


def test_all_frames_count_when_none_is_in_app() -> None:
    lib = [{"module": "lib.a", "function": "f"}, {"module": "lib.b", "function": "g", "in_app": False}]
    other = [{"module": "lib.a", "function": "f"}, {"module": "lib.c", "function": "g"}]
    assert _hash(_error(lib)) != _hash(_error(other))
    assert default_components(_event(_error(lib))) == ["exception", "type:ValueError", "frame:lib.a:f",
                                                       "frame:lib.b:g"]


def test_filename_without_directories_when_no_module() -> None:
    a = [{"filename": "/srv/release-1/app/main.py", "function": "run", "in_app": True}]
    b = [{"filename": "/srv/release-2/app/main.py", "function": "run", "in_app": True}]
    c = [{"filename": "C:\\app\\main.py", "function": "run", "in_app": True}]
    assert _hash(_error(a)) == _hash(_error(b)) == _hash(_error(c))
    no_function = [{"filename": "main.js", "lineno": 10, "in_app": True}]
    assert default_components(_event(_error(no_function)))[-1] == "frame:main.js:?:10"


def test_chained_exceptions_all_count() -> None:
    chained = {"exception": {"values": [
        {"type": "KeyError", "stacktrace": {"frames": [FRAMES[2]]}},
        {"type": "ValueError", "stacktrace": {"frames": FRAMES}},
    ]}}
    other_cause = copy.deepcopy(chained)
    other_cause["exception"]["values"][0]["type"] = "IndexError"
    assert _hash(chained) != _hash(other_cause)
    assert default_components(_event(chained)) == [
        "exception", "type:KeyError", "frame:shop.cart:total",
        "type:ValueError", "frame:shop.views:checkout", "frame:shop.cart:total",
    ]


def test_exception_without_stacktrace_uses_masked_value() -> None:
    a = _error(None, value="timeout after 30s on 10.0.0.1\nmore")
    b = _error(None, value="timeout after 45s on 10.0.0.2")
    c = _error(None, value="connection refused")
    assert _hash(a) == _hash(b) != _hash(c)


def test_message_masking_groups_variable_messages() -> None:
    a = {"message": "timeout after 30s on 10.0.0.1"}
    b = {"message": "timeout after 45s on 10.0.0.2"}
    c = {"message": "timeout after 45s on db.internal"}
    assert _hash(a) == _hash(b)
    assert _hash(a) != _hash(c)


def test_message_template_groups_all_renderings() -> None:
    a = {"logentry": {"message": "User %s failed login", "params": ["ann"]}}
    b = {"logentry": {"message": "User %s failed login", "params": ["bob"]}}
    c = {"logentry": {"message": "User %s logged in", "params": ["ann"]}}
    assert _hash(a) == _hash(b) != _hash(c)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("timeout after 30s on 10.0.0.1", "timeout after <int>s on <ip>"),
        ("order 550e8400-e29b-41d4-a716-446655440000 failed", "order <uuid> failed"),
        ("at 2024-01-02T10:00:00.123Z and 2024-01-02 10:00:00+02:00", "at <date> and <date>"),
        ("on 2024-01-02 at 10:00:01", "on <date> at <time>"),
        ("pointer 0xDEADBEEF commit 3f2a9c1b7e", "pointer <hex> commit <hex>"),
        ("host ::1 and fe80::1ff:fe23:4567:890a", "host <ip> and <ip>"),
        ("mail ann.lee+x@example.co.uk bounced", "mail <email> bounced"),
        ("took 1.25 ms, -3 retries", "took <float> ms, <int> retries"),
        ("v2 build user123", "v2 build user123"),  # numbers inside words stay
        ("deadbeef", "deadbeef"),  # letters only: a word, not an id
        ("12:30", "<int>:<int>"),
        ("no digits here", "no digits here"),
    ],
)
def test_mask_message(text: str, masked: str) -> None:
    assert mask_message(text) == masked


def test_fingerprint_overrides_default_grouping() -> None:
    a = _error(FRAMES, fingerprint=["database-unavailable"])
    b = _error([{"module": "x", "function": "y", "in_app": True}], type_="OSError", fingerprint=["database-unavailable"])
    c = _error(FRAMES, fingerprint=["other"])
    assert _hash(a) == _hash(b) != _hash(c)
    assert _hash({"message": "one", "fingerprint": ["k"]}) == _hash({"message": "two", "fingerprint": ["k"]})


def test_fingerprint_default_alone_is_the_default_group() -> None:
    plain = _error(FRAMES)
    for spelling in ("{{ default }}", "{{default}}", "{{  default  }}", " {{ DEFAULT }} "):
        assert _hash({**plain, "fingerprint": [spelling]}) == _hash(plain)


def test_fingerprint_default_extended() -> None:
    base = _error(FRAMES)
    a = {**base, "fingerprint": ["{{ default }}", "tenant-1"]}
    b = {**base, "fingerprint": ["{{default}}", "tenant-1"]}
    c = {**base, "fingerprint": ["{{ default }}", "tenant-2"]}
    assert _hash(a) == _hash(b)
    assert _hash(a) != _hash(c)
    assert _hash(a) != _hash(base)
    other_code = _error([{"module": "x", "function": "y", "in_app": True}])
    assert _hash({**other_code, "fingerprint": ["{{ default }}", "tenant-1"]}) != _hash(a)
    assert grouping_components(_event(a)) == ["fingerprint", *default_components(_event(base)), "literal:tenant-1"]


def test_fingerprint_variables() -> None:
    def fp(parts: list[str], **fields: Any) -> str | None:
        return _hash(_error(FRAMES, fingerprint=parts, **fields))

    assert fp(["{{ transaction }}"], transaction="/a") != fp(["{{ transaction }}"], transaction="/b")
    assert fp(["{{ transaction }}"], transaction="/a", value="x") == fp(["{{ transaction }}"], transaction="/a")
    assert fp(["{{ type }}"]) == fp(["{{ error.type }}"])
    assert fp(["{{ function }}"]) == _hash(_error([FRAMES[2]], fingerprint=["{{ function }}"]))
    assert fp(["{{ level }}"], level="error") != fp(["{{ level }}"], level="fatal")
    assert fp(["{{ unknown }}"]) == fp(["{{ unknown }}"], value="other")
    assert fp(["{{ unknown }}"]) != fp(["{{ other }}"])


def test_event_without_anything_is_one_fallback_group() -> None:
    assert _hash({}) == _hash({"extra": {"x": 1}}) == _hash({"message": "   "})
    assert default_components(_event({})) == ["fallback"]


def test_transactions_have_no_group() -> None:
    tx = {"type": "transaction", "start_timestamp": RECEIVED - 1, "transaction": "/x"}
    assert grouping_hash(_event(tx)) is None


@given(st.text(max_size=300))
def test_mask_message_total_and_idempotent(text: str) -> None:
    once = mask_message(text)
    assert mask_message(once) == once
