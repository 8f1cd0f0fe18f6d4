"""Properties of the models over generated specs: valid ones are accepted and round-trip through
the wire form unchanged; anything else is refused with a ValidationError, never a crash."""

from __future__ import annotations

from hypothesis import given, settings
from pydantic import ValidationError

from tests.strategies import Spec, specs, valid_specs
from vigil.models import AlertRuleSpec, ArchivedRule


@given(valid_specs())
def test_valid_specs_are_accepted_and_round_trip(spec: Spec) -> None:
    model = AlertRuleSpec.model_validate(spec)
    wire = model.wire()
    assert AlertRuleSpec.model_validate(wire) == model
    # What was written is kept: the wire form holds the input plus defaults, nothing else.
    assert {k: wire[k] for k in spec} == spec


@settings(max_examples=300)
@given(specs())
def test_any_spec_is_accepted_or_refused_cleanly(spec: Spec) -> None:
    try:
        model = AlertRuleSpec.model_validate(spec)
    except ValidationError as err:
        assert err.errors()
    else:
        assert AlertRuleSpec.model_validate(model.wire()) == model


@given(valid_specs())
def test_a_rule_archives_into_a_snapshot(spec: Spec) -> None:
    """A snapshot holds the spec as it was plus ids; archived rules carry no validation."""
    for i, trigger in enumerate(spec["triggers"]):
        trigger["id"] = f"t{i}"
        for j, action in enumerate(trigger["actions"]):
            action["id"] = f"a{i}{j}"
    archived = ArchivedRule.model_validate(spec)
    assert archived.wire()["triggers"][0]["id"] == "t0"
