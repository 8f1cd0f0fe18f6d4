"""Fixtures for e2e tests against the control plane of `vigil dev up` (`make cluster` starts it).

No controller-manager runs there: deleted namespaces stay Terminating, nothing is garbage
collected, no pods. Every test gets its own namespace.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KUBECTL_TIMEOUT = 60

Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path
    kubectl: str
    redis_url: str
    bin_dir: Path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.e2e)


def _run(cluster: Cluster, args: tuple[str, ...], input: str | None, check: bool,
         namespace: str | None) -> subprocess.CompletedProcess[str]:
    argv = [cluster.kubectl, f"--kubeconfig={cluster.kubeconfig}"]
    argv += [f"--namespace={namespace}"] if namespace else []
    argv += list(args)
    try:
        res = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=KUBECTL_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"kubectl {' '.join(args)} timed out after {KUBECTL_TIMEOUT}s") from e
    if check and res.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} exited {res.returncode}\n"
                             f"stdout:\n{res.stdout}\nstderr:\n{res.stderr}")
    return res


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    state_dir = Path(os.environ.get("VIGIL_STATE_DIR") or REPO / ".vigil")
    state_file = state_dir / "state.json"
    if not state_file.exists():
        pytest.fail(f"the local control plane is not running: run `make cluster` ({state_file} is missing)",
                    pytrace=False)
    state = json.loads(state_file.read_text())
    return Cluster(kubeconfig=state_dir / "kubeconfig", kubectl=state["kubectl"],
                   redis_url=(state_dir / "redis-url").read_text().strip(), bin_dir=Path(state["bin_dir"]))


def _slug(name: str, limit: int) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:limit].strip("-") or "test"


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    suffix = secrets.token_hex(3)[:5]
    name = f"e2e-{_slug(request.node.name, 63 - len('e2e--') - len(suffix))}-{suffix}"
    _run(cluster, ("create", "namespace", name), None, True, None)
    yield name
    # --wait=false: without a controller-manager the namespace stays Terminating forever.
    _run(cluster, ("delete", "namespace", name, "--wait=false", "--ignore-not-found"), None, False, None)


@pytest.fixture
def kubectl(cluster: Cluster, namespace: str) -> Kubectl:
    """`kubectl(*args, input=None, check=True, namespace=<the test's>)` with the cluster's kubeconfig."""

    def call(*args: str, input: str | None = None, check: bool = True,
             namespace: str | None = namespace) -> subprocess.CompletedProcess[str]:
        return _run(cluster, args, input, check, namespace)

    return call
