"""The real API server refuses every invalid AlertRule through `kubectl apply`, with a message that
names the problem, and stores the valid ones as the models would: the CRD and the models agree."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.alertrule_cases import ACCEPTED, REFUSED, Case
from vigil.models import AlertRuleSpec

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def manifest(name: str, spec: dict[str, Any]) -> str:
    return yaml.safe_dump({"apiVersion": "vigil.dev/v1alpha1", "kind": "AlertRule",
                           "metadata": {"name": name}, "spec": spec})  # fmt: skip


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.id)
def test_refused_by_api_server(case: Case, kubectl: Kubectl) -> None:
    res = kubectl("apply", "-f", "-", input=manifest(case.id, case.spec()), check=False)
    assert res.returncode != 0, f"the API server accepted {case.id}: {res.stdout}"
    expected = case.message or case.field
    assert expected in res.stderr, res.stderr
    # Nothing was stored.
    assert kubectl("get", "alertrules", "-o", "name").stdout == ""


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_accepted_and_stored_as_the_model_normalizes(case: Case, kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=manifest(case.id, case.spec()))
    stored = json.loads(kubectl("get", "alertrule", case.id, "-o", "json").stdout)
    # The API server's defaults (dataset, thresholdPeriod) are the model's defaults.
    assert stored["spec"] == AlertRuleSpec.model_validate(case.spec()).wire()
    assert stored["metadata"]["generation"] == 1
