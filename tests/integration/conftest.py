"""Fixtures for integration tests against the real redis-server of `vigil dev up` (`make cluster`).

Tests may be `async def`: they run on the per-test event loop of `runner` (no pytest-asyncio
needed), the same loop the `store` fixture's connections live on. Each test gets database 9,
flushed before and after, so tests never see each other's keys nor the e2e tier's (database 0).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import on_db, state_dir
from vigil.store import Store
TEST_DB = 9


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run an `async def` test to completion on the test's own loop."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    runner: asyncio.Runner = pyfuncitem.funcargs["runner"]
    names = inspect.signature(pyfuncitem.obj).parameters
    runner.run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True


@pytest.fixture(scope="session")
def redis_url() -> str:
    url_file = state_dir() / "redis-url"
    if not url_file.exists():
        pytest.fail(f"redis is not running: run `make cluster` ({url_file} is missing)", pytrace=False)
    return url_file.read_text().strip()


@pytest.fixture(autouse=True)
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as r:
        yield r


@pytest.fixture
def store(redis_url: str, runner: asyncio.Runner) -> Iterator[Store]:
    s = Store.from_url(on_db(redis_url, TEST_DB))
    if not runner.run(s.ping()):
        runner.run(s.close())
        pytest.fail(f"redis at {redis_url} does not answer: run `make cluster`", pytrace=False)
    runner.run(s.redis.flushdb())
    try:
        yield s
    finally:
        runner.run(s.redis.flushdb())
        runner.run(s.close())
