"""The CRDs as users meet them: examples apply, `kubectl explain` reads our descriptions, `kubectl
get` shows useful columns, short names and the `vigil` category work."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from vigil.models import Action, AlertRuleSpec

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_every_example_applies(kubectl: Kubectl) -> None:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        kubectl("apply", "-f", str(path))
    names = kubectl("get", "vigil", "-o", "name").stdout.split()
    assert sorted(names) == [
        "alertrule.vigil.dev/backend-error-spike",
        "incident.vigil.dev/backend-error-spike-1",
        "incident.vigil.dev/backend-error-spike-2",
        "project.vigil.dev/backend",
    ]


def test_printer_columns_and_short_names(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", str(EXAMPLES / "alertrule.yaml"))
    header, row = kubectl("get", "ar").stdout.splitlines()
    assert header.split()[:5] == ["NAME", "DISPLAY", "NAME", "AGGREGATE", "WINDOW"]
    assert "OPEN INCIDENTS" in header
    assert row.split()[:6] == ["backend-error-spike", "Backend", "error", "spike", "count()", "5"]
    kubectl("apply", "-f", str(EXAMPLES / "incident.yaml"))
    inc = kubectl("get", "inc").stdout
    assert inc.split()[:5] == ["NAME", "RULE", "STATUS", "METHOD", "STARTED"]
    for short in ("ars", "vproj"):
        kubectl("get", short)


def test_explain_shows_model_descriptions(kubectl: Kubectl) -> None:
    text = " ".join(kubectl("explain", "alertrule.spec.triggers.actions", namespace=None).stdout.split())
    for field in ("name", "target_type", "secret_ref"):
        description = Action.model_fields[field].description
        assert description and " ".join(description.split())[:60] in text
    spec = " ".join(kubectl("explain", "alertrule.spec", namespace=None).stdout.split())
    assert " ".join(AlertRuleSpec.model_fields["threshold_period"].description.split()) in spec


def test_invalid_examples_are_refused_with_their_documented_message(kubectl: Kubectl) -> None:
    for path in sorted((EXAMPLES / "invalid").glob("*.yaml")):
        lines = path.read_text().splitlines()
        expected = lines[lines.index(next(l for l in lines if l.endswith("answers:"))) + 1].lstrip("# ").strip()
        res = kubectl("apply", "-f", str(path), check=False)
        assert res.returncode != 0 and expected in res.stderr, res.stderr
