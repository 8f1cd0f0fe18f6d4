"""The real sentry-sdk sends to a real `vigil ingest` process over HTTP, which saves into a real
redis-server: each kind of event lands in the right stream with the right group."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import sentry_sdk

from tests.support import on_db, start_ingest, stop, wait_until

PROJECT = 42
KEY = "0123456789abcdef0123456789abcdef"
DB = 10  # a database of its own: the other tiers use others, and it is flushed around each test


@dataclass(frozen=True)
class Ingest:
    url: str
    redis: redis.Redis
    log: Path

    def dsn(self, key: str = KEY, project: int = PROJECT) -> str:
        return f"http://{key}@{self.url.removeprefix('http://')}/{project}"

    def stream(self, kind: str) -> list[dict[str, str]]:
        entries = self.redis.xrange(f"vigil:{{p{PROJECT}}}:{kind}")
        return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]

    def group(self, group: str) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.redis.hgetall(f"vigil:{{p{PROJECT}}}:group:{group}").items()}


@pytest.fixture
def ingest(redis_url: str, tmp_path: Path) -> Iterator[Ingest]:
    db_url = on_db(redis_url, DB)
    client = redis.Redis.from_url(db_url)
    client.flushdb()
    key = {"project_id": PROJECT, "namespace": "test", "project": "backend", "rate_limit": None}
    client.hset("vigil:keys", KEY, json.dumps(key))
    log = tmp_path / "ingest.log"
    url, proc = start_ingest(db_url, log)
    yield Ingest(url, client, log)
    stop(proc)
    client.flushdb()
    client.close()


@pytest.fixture
def sdk(ingest: Ingest) -> Iterator[Any]:
    """`sdk(**options)` initialises the real SDK against the ingest; flushed and closed after."""

    def init(**options: Any) -> None:
        sentry_sdk.init(dsn=ingest.dsn(), release="backend@1.2.3", environment="production",
                        default_integrations=False, **options)  # fmt: skip
        sentry_sdk.set_user({"id": "42", "email": "ada@example.com"})

    yield init
    sentry_sdk.flush(timeout=10)
    sentry_sdk.get_client().close()


class PaymentError(Exception):
    pass


def _charge() -> None:
    try:
        {}["card"]
    except KeyError as cause:
        raise PaymentError("card declined") from cause


@pytest.mark.parametrize("compression", ["gzip", "br"])
def test_capture_exception_lands_grouped(ingest: Ingest, sdk: Any, compression: str) -> None:
    sdk(_experiments={"transport_compression_algo": compression}, in_app_include=["tests"])
    for _ in range(2):
        try:
            _charge()
        except PaymentError:
            sentry_sdk.capture_exception()
    sentry_sdk.flush(timeout=10)
    events = wait_until(lambda: len(ingest.stream("events")) == 2 and ingest.stream("events"), 10, "two events")
    first, second = events
    assert first["group"] == second["group"] and first["is_new"] == "1" and second["is_new"] == "0"
    assert (first["type"], first["level"], first["environment"], first["release"]) == (
        "error", "error", "production", "backend@1.2.3")  # fmt: skip
    assert first["user"] == "id:42"
    payload = json.loads(first["payload"])
    assert [v["type"] for v in payload["exception"]["values"]] == ["KeyError", "PaymentError"]
    group = ingest.group(first["group"])
    assert group["times_seen"] == "2" and "PaymentError" in group["title"]


def test_capture_message(ingest: Ingest, sdk: Any) -> None:
    sdk()
    sentry_sdk.capture_message("disk almost full on 10.0.0.7", level="warning")
    sentry_sdk.capture_message("disk almost full on 10.0.0.9", level="warning")
    sentry_sdk.flush(timeout=10)
    events = wait_until(lambda: len(ingest.stream("events")) == 2 and ingest.stream("events"), 10, "two events")
    assert {e["level"] for e in events} == {"warning"} and {e["type"] for e in events} == {"default"}
    assert events[0]["group"] == events[1]["group"]  # numbers and IPs masked


def test_transaction_with_spans(ingest: Ingest, sdk: Any) -> None:
    sdk(traces_sample_rate=1.0)
    with sentry_sdk.start_transaction(op="http.server", name="GET /checkout"):
        with sentry_sdk.start_span(op="db", name="SELECT cart"):
            time.sleep(0.01)
    sentry_sdk.flush(timeout=10)
    (txn,) = wait_until(lambda: ingest.stream("transactions"), 10, "the transaction")  # type: ignore[misc]
    assert txn["type"] == "transaction" and txn["transaction"] == "GET /checkout"
    assert float(txn["duration"]) >= 10 and "group" not in txn or not txn.get("group")
    assert ingest.stream("events") == []
    assert len(json.loads(txn["payload"])["spans"]) == 1


def test_environment_release_and_user_are_registered(ingest: Ingest, sdk: Any) -> None:
    sdk()
    sentry_sdk.capture_message("hello")
    sentry_sdk.flush(timeout=10)
    wait_until(lambda: ingest.stream("events"), 10, "the event")
    assert ingest.redis.hexists(f"vigil:{{p{PROJECT}}}:environments", "production")
    assert ingest.redis.hexists(f"vigil:{{p{PROJECT}}}:releases", "backend@1.2.3")
    assert ingest.redis.hexists(f"vigil:{{p{PROJECT}}}:release-envs", "backend@1.2.3\0production")
