"""What the integration and e2e tiers share: where `vigil dev up` left its state, polling with a
deadline, and `vigil ingest` as a child process. Free ports come from `vigil.devcluster`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from vigil.devcluster import free_port

REPO = Path(__file__).resolve().parents[1]

__all__ = ["REPO", "free_port", "http_status", "on_db", "start_ingest", "state_dir", "stop", "wait_until"]


def state_dir() -> Path:
    """The control plane the tests run against (`make test` points VIGIL_STATE_DIR at its own)."""
    return Path(os.environ.get("VIGIL_STATE_DIR") or REPO / ".vigil")


def on_db(redis_url: str, db: int) -> str:
    """The same Redis, another database: each test module keeps to its own."""
    return urlsplit(redis_url)._replace(path=f"/{db}", query="").geturl()


def wait_until(check: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> object:
    """Poll `check` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def http_status(url: str, timeout: float = 2) -> int:
    """The status a GET answers; 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as res:
            return res.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0


def start_ingest(redis_url: str, log: Path, *extra: str) -> tuple[str, subprocess.Popen[bytes]]:
    """`vigil ingest` on a free loopback port, once /readyz answers 200: (base URL, process)."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "vigil", "ingest", "--host", "127.0.0.1", "--port", str(port),
                                 "--redis-url", redis_url, *extra], stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: proc.poll() is not None or http_status(f"{url}/readyz") == 200, 20, "the ingest")
    assert proc.poll() is None, f"the ingest exited:\n{log.read_text()}"
    return url, proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a child, killing it when it does not stop within 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
