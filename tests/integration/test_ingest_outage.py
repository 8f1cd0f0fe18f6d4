"""Redis dies under a steady client: `vigil ingest` answers 503 + Retry-After (never a false 200,
never another 5xx, never a hang), recovers by itself when Redis is back, and a client that resends
what got 503 ends up with every event stored exactly once.

The Redis here is private (its own port and directory) and durable (`appendfsync always`): what it
acknowledged before `kill -9` is still there after the restart, so any event answered 200 and
missing afterwards is the ingest's fault, not Redis's."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from tests.support import free_port, http_status, start_ingest, stop, wait_until

PROJECT = 42
KEY = "0123456789abcdef0123456789abcdef"
EVENTS = 300
KILL_AFTER = 100  # responses before Redis is killed
OUTAGE_SECONDS = 2.0
PACE_SECONDS = 0.02  # between two sends: ~100 events before, ~100 during, ~100 after the outage
CLIENT_TIMEOUT = 8.0  # no answer within this is a hang

@dataclass
class Redis:
    """A private, durable redis-server that can be killed and brought back on the same port."""

    port: int
    dir: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                 "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no",
                 "--protected-mode", "no"],
                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        wait_until(self._pings, 10, f"redis-server on port {self.port}")

    def _pings(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
        try:
            with redis.Redis(port=self.port, socket_timeout=1) as r:
                return bool(r.ping())
        except redis.RedisError:  # refused, or still loading the AOF
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Redis]:
    data = tmp_path / "redis"
    data.mkdir()
    server = Redis(free_port(), data, tmp_path / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ingest(private_redis: Redis, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    with private_redis.client() as r:
        r.flushdb()
        r.hset("vigil:keys", KEY, json.dumps({"project_id": PROJECT, "namespace": "test", "project": "backend",
                                              "rate_limit": None}))  # fmt: skip
    log = tmp_path / "ingest.log"
    url, proc = start_ingest(private_redis.url, log)
    try:
        yield url, proc, log
    finally:
        stop(proc)


@dataclass
class Answer:
    status: int
    retry_after: str | None
    sentry_error: str | None
    seconds: float


@dataclass
class Client:
    """Sends EVENTS distinct events over one keep-alive connection, one every PACE_SECONDS."""

    port: int
    ids: list[str] = field(default_factory=lambda: [uuid.uuid4().hex for _ in range(EVENTS)])
    answers: dict[str, Answer] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    count: int = 0
    conn: http.client.HTTPConnection | None = None

    def send(self, event_id: str) -> Answer:
        payload = json.dumps({"event_id": event_id, "message": f"outage probe {event_id}", "level": "error",
                              "timestamp": time.time()}).encode()  # fmt: skip
        item = json.dumps({"type": "event", "length": len(payload)}).encode()
        body = b"\n".join([json.dumps({"event_id": event_id}).encode(), item, payload]) + b"\n"
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=CLIENT_TIMEOUT)
        started = time.monotonic()
        self.conn.request("POST", f"/api/{PROJECT}/envelope/", body=body, headers={
            "X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={KEY}",
            "Content-Type": "application/x-sentry-envelope"})  # fmt: skip
        res = self.conn.getresponse()
        res.read()
        if res.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return Answer(res.status, res.getheader("Retry-After"), res.getheader("X-Sentry-Error"),
                      time.monotonic() - started)  # fmt: skip

    def run(self) -> None:
        for event_id in self.ids:
            try:
                self.answers[event_id] = self.send(event_id)
            except (OSError, http.client.HTTPException) as err:  # a hang (timeout) or a dropped connection
                self.failures.append(f"{event_id}: {err!r}")
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
            self.count += 1
            time.sleep(PACE_SECONDS)


def _stored(r: redis.Redis) -> Counter[str]:
    entries = r.xrange(f"vigil:{{p{PROJECT}}}:events")
    return Counter(fields[b"event_id"].decode() for _, fields in entries)


def test_redis_killed_mid_traffic(private_redis: Redis, ingest: tuple[str, subprocess.Popen[bytes], Path]) -> None:
    url, proc, log = ingest
    client = Client(int(url.rsplit(":", 1)[1]))
    thread = threading.Thread(target=client.run, daemon=True)
    started = time.monotonic()
    thread.start()

    wait_until(lambda: client.count >= KILL_AFTER, 30, f"{KILL_AFTER} answers")
    before_kill = client.count
    private_redis.kill()
    killed_at = client.count
    time.sleep(OUTAGE_SECONDS / 2)
    ready_during_outage = http_status(f"{url}/readyz")
    time.sleep(OUTAGE_SECONDS / 2)
    restarted_at = client.count
    private_redis.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the client is stuck"

    # Every request got an answer in time: 200 or 503 (+ Retry-After), nothing else.
    assert client.failures == [], client.failures
    statuses = Counter(a.status for a in client.answers.values())
    assert set(statuses) <= {200, 503}, (statuses, log.read_text()[-3000:])
    for answer in client.answers.values():
        assert answer.seconds < CLIENT_TIMEOUT
        if answer.status == 503:
            assert answer.retry_after is not None and int(answer.retry_after) >= 1
            assert answer.sentry_error and "unavailable" in answer.sentry_error
    # The outage happened in the middle of the traffic.
    order = [client.answers[i].status for i in client.ids]
    assert set(order[:before_kill]) == {200}, "every event answered before the kill is saved"
    assert 503 in order[killed_at:restarted_at], "Redis was down, the ingest must have said so"
    assert ready_during_outage == 503

    # The ingest recovers by itself (same process) once Redis is back.
    assert proc.poll() is None
    wait_until(lambda: http_status(f"{url}/readyz") == 200, 15, "/readyz 200 after the restart")
    assert order[-1] == 200, "the last events, sent after the restart, were saved"

    # No false 200: everything acknowledged is in the stream, once; a 503'd event at most once.
    with private_redis.client() as r:
        stored = _stored(r)
        acknowledged = [i for i in client.ids if client.answers[i].status == 200]
        refused = [i for i in client.ids if client.answers[i].status != 200]
        assert [i for i in acknowledged if stored[i] != 1] == []
        assert [i for i in refused if stored[i] > 1] == []
        assert set(stored) <= set(client.ids) and max(stored.values()) == 1

        # The client resends what got 503 (as an SDK would after Retry-After): each lands once.
        for event_id in refused:
            for _ in range(20):
                if client.send(event_id).status == 200:
                    break
                time.sleep(0.25)
            else:
                pytest.fail(f"{event_id} never accepted after recovery")
        stored = _stored(r)
    assert sorted(stored) == sorted(client.ids) and set(stored.values()) == {1}
    assert proc.poll() is None and http_status(f"{url}/readyz") == 200 and http_status(f"{url}/healthz") == 200
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    assert time.monotonic() - started < 30
    slowest = max(a.seconds for a in client.answers.values())
    print(f"outage: {dict(statuses)} first pass, {len(refused)} resent; kill after {before_kill}, "
          f"restart after {restarted_at} answers; slowest answer {slowest:.3f}s")
