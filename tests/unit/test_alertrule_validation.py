"""Every rule of Sentry's serializers against the models; the same cases run through the real API
server in tests/e2e/test_alertrule_validation.py."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.alertrule_cases import ACCEPTED, REFUSED, Case
from vigil.models import AlertRuleSpec


def error_paths(err: ValidationError) -> list[str]:
    """Pydantic locations spelled like the API server's field paths: spec.triggers[0].label."""
    paths = []
    for e in err.errors():
        path = "spec"
        for part in e["loc"]:
            path += f"[{part}]" if isinstance(part, int) else f".{part}"
        paths.append(path)
    return paths


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.id)
def test_refused(case: Case) -> None:
    with pytest.raises(ValidationError) as info:
        AlertRuleSpec.model_validate(case.spec())
    if case.message:
        assert case.message in str(info.value)
    else:
        assert case.field in error_paths(info.value) or f"spec.{case.field}" in error_paths(info.value)


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_accepted(case: Case) -> None:
    spec = AlertRuleSpec.model_validate(case.spec())
    # What the model accepts, it writes back in the same wire shape.
    assert AlertRuleSpec.model_validate(spec.wire()) == spec


def test_cases_cover_distinct_rules() -> None:
    assert len({c.id for c in REFUSED}) == len(REFUSED) >= 30
    messages = {c.message for c in REFUSED if c.message}
    fields = {c.field for c in REFUSED if c.field}
    assert len(messages) + len(fields) >= 40

