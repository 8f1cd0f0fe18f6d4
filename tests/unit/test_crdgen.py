"""crds/ is generated from the models: it must not drift, and it must be structural."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import Field

from vigil import crdgen
from vigil.cli import main
from vigil.models import RESOURCES, AlertRule
from vigil.models.base import Model, Resource

REPO = Path(__file__).resolve().parents[2]


def test_crds_directory_matches_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crds", "--check", "--out", str(REPO / "crds")]) == 0


def test_check_reports_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crds", "--out", str(tmp_path)]) == 0
    target = tmp_path / "vigil.dev_alertrules.yaml"
    target.write_text(target.read_text().replace("maxLength: 256", "maxLength: 255"))
    (tmp_path / "stray.yaml").write_text("kind: Nothing\n")
    assert main(["crds", "--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "-                    maxLength: 255" in err or "maxLength: 255" in err
    assert "stray.yaml: not generated from any model" in err


def _walk(node: dict[str, Any], path: str = "") -> list[str]:
    """Every structural violation under `node`."""
    problems = []
    if "type" not in node:
        problems.append(f"{path}: untyped")
    for bad in ("$ref", "anyOf", "oneOf", "allOf", "x-kubernetes-preserve-unknown-fields"):
        if bad in node:
            problems.append(f"{path}: {bad}")
    for name, child in node.get("properties", {}).items():
        if path.count(".") >= 0 and name != "metadata" and not child.get("description"):
            problems.append(f"{path}.{name}: no description")
        problems += _walk(child, f"{path}.{name}")
    if "items" in node:
        problems += _walk(node["items"], f"{path}[]")
    return problems


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.kind)
def test_schemas_are_structural_and_described(resource: type[Resource]) -> None:
    crd = crdgen.crd_of(resource)
    version = crd["spec"]["versions"][0]
    assert _walk(version["schema"]["openAPIV3Schema"]) == []
    assert version["subresources"] == {"status": {}}
    assert crd["spec"]["names"]["categories"] == ["vigil"]
    assert crd["spec"]["names"]["shortNames"]
    assert [c["name"] for c in version["additionalPrinterColumns"]][-1] == "Age"


def test_rules_land_in_the_crd_with_their_messages() -> None:
    spec = crdgen.crd_of(AlertRule)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    messages = {r["message"] for r in spec["x-kubernetes-validations"]}
    assert 'First trigger must be labeled "critical"' in messages
    action = spec["properties"]["triggers"]["items"]["properties"]["actions"]["items"]
    assert any("targetIdentifier" in r["rule"] for r in action["x-kubernetes-validations"])


class _Loose(Model):
    """A model with a field the API server could not type."""

    value: int | str = Field(description="Either.")


class _Undescribed(Model):
    """A model with an undescribed field."""

    value: int


def _resource(spec_model: type[Model]) -> type[Resource]:
    class Broken(Resource):
        """Broken."""

        kind: ClassVar[str] = "Broken"
        plural: ClassVar[str] = "brokens"
        spec: spec_model  # type: ignore[valid-type]
        status: spec_model | None = None  # type: ignore[valid-type]

    return Broken


@pytest.mark.parametrize("model, reason", [(_Loose, "Union"), (_Undescribed, "no description")])
def test_invalid_model_definition_fails_loudly(model: type[Model], reason: str) -> None:
    with pytest.raises(crdgen.SchemaError, match=reason):
        crdgen.crd_of(_resource(model))
