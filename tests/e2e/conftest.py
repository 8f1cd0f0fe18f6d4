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
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support import REPO, free_port, http_status, state_dir, stop, wait_until

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
    state = state_dir()
    state_file = state / "state.json"
    if not state_file.exists():
        pytest.fail(f"the local control plane is not running: run `make cluster` ({state_file} is missing)",
                    pytrace=False)
    recorded = json.loads(state_file.read_text())
    return Cluster(kubeconfig=state / "kubeconfig", kubectl=recorded["kubectl"],
                   redis_url=(state / "redis-url").read_text().strip(), bin_dir=Path(recorded["bin_dir"]))


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


# --- the operator, as a process, with its ServiceAccount's token -------------------------------

MANIFESTS = REPO / "manifests"
OPERATOR_READY_TIMEOUT = 30.0


@pytest.fixture(scope="session")
def operator_kubeconfig(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kubeconfig holding a token of the vigil-operator ServiceAccount, bound by manifests/'s RBAC:
    a permission the operator lacks fails the test that needs it."""
    _run(cluster, ("apply", "-k", str(MANIFESTS)), None, True, None)
    token = _run(cluster, ("create", "token", "vigil-operator", "--duration=2h"), None, True, "vigil-system")
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"] = [{"name": "vigil-operator", "user": {"token": token.stdout.strip()}}]
    for context in config["contexts"]:
        context["context"]["user"] = "vigil-operator"
    path = tmp_path_factory.mktemp("operator") / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


class Operator:
    """`vigil operator -n <namespace>` as a child process."""

    def __init__(self, kubeconfig: Path, namespace: str, log: Path, redis_url: str) -> None:
        self.kubeconfig, self.namespace, self.log, self.redis_url = kubeconfig, namespace, log, redis_url
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, **env: str) -> None:
        port = free_port()
        argv = [sys.executable, "-m", "vigil", "operator", "-n", self.namespace,
                "--liveness", f"http://127.0.0.1:{port}/healthz"]  # fmt: skip
        environ = {k: v for k, v in os.environ.items() if k != "VIGIL_FAULT"}
        environ |= {"KUBECONFIG": str(self.kubeconfig), "VIGIL_REDIS_URL": self.redis_url,
                    "VIGIL_INGEST_URL": "https://ingest.example.test", "VIGIL_PROJECT_RESYNC_SECONDS": "2",
                    **env}  # fmt: skip
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=environ)
        proc = self.proc
        wait_until(lambda: proc.poll() is not None or http_status(f"http://127.0.0.1:{port}/healthz") == 200,
                   OPERATOR_READY_TIMEOUT, "the operator")  # fmt: skip
        assert proc.poll() is None, f"the operator exited:\n{self.tail()}"

    def wait_killed(self, timeout: float = 30.0) -> int:
        """Wait for the process to die by itself (a fault point); its return code."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the operator did not reach its fault point:\n{self.tail()}") from None

    def stop(self) -> None:
        if self.proc:
            stop(self.proc)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def operator(operator_kubeconfig: Path, namespace: str, tmp_path: Path, cluster: Cluster,
             request: pytest.FixtureRequest) -> Iterator[Operator]:  # fmt: skip
    """The operator watching the test's namespace, started; stopped after the test (its log is
    printed when the test failed). It mirrors Project keys to the cluster's Redis."""
    op = Operator(operator_kubeconfig, namespace, tmp_path / "operator.log", cluster.redis_url)
    op.start()
    yield op
    op.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"--- operator log ({op.log}) ---\n{op.tail(80)}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
