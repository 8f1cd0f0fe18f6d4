"""manifests/ (kustomize) against the real API server: everything validates server-side, and the
pod meets the restricted Pod Security Standard the namespace enforces (no warnings)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


def test_manifests_apply_server_side(kubectl: Kubectl) -> None:
    # A server-side dry run cannot see a namespace it would create, so that one goes first.
    kubectl("apply", "-f", str(MANIFESTS / "namespace.yaml"), namespace=None)
    res = kubectl("apply", "-k", str(MANIFESTS), "--dry-run=server", namespace=None)
    assert "deployment.apps/vigil" in res.stdout and "service/vigil-ingest" in res.stdout
    assert "Warning" not in res.stderr, res.stderr
