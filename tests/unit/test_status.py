"""Conditions, the rule's status after a reconcile, merge patches and who changed a spec."""

from __future__ import annotations

from datetime import UTC, datetime

from vigil.conditions import set_condition
from vigil.kube import merge_patch
from vigil.managers import spec_manager
from vigil.models import AlertRuleSpec
from vigil.models.base import ConditionStatus
from vigil.plan import plan
from vigil.rulestatus import reconciled, stalled
from tests.alertrule_cases import base_spec

T0 = datetime(2026, 12, 1, 10, tzinfo=UTC)
T1 = datetime(2026, 12, 1, 11, tzinfo=UTC)
TRUE, FALSE = ConditionStatus.TRUE, ConditionStatus.FALSE


def test_transition_time_moves_only_with_the_status() -> None:
    first = set_condition([], "Ready", TRUE, "Reconciled", "a", 1, T0)
    same = set_condition(first, "Ready", TRUE, "Reconciled", "b", 2, T1)
    assert same[0].last_transition_time == T0 and same[0].observed_generation == 2 and same[0].message == "b"
    moved = set_condition(same, "Ready", FALSE, "ProjectNotFound", "c", 3, T1)
    assert moved[0].last_transition_time == T1


def test_ready_comes_first_and_other_types_are_kept() -> None:
    conditions = set_condition([], "Stalled", TRUE, "X", "", 1, T0)
    conditions = set_condition(conditions, "Ready", FALSE, "X", "", 1, T0)
    assert [c.type for c in conditions] == ["Ready", "Stalled"]


def test_reconciled_status_after_create_update_and_a_stall() -> None:
    spec = AlertRuleSpec.model_validate(base_spec())
    created = reconciled(None, plan(None, spec, None, uid="u", generation=1),
                         generation=1, now=T0, open_incidents=0, snapshot=None)  # fmt: skip
    assert created.observed_generation == 1 and created.rule_status == "Pending"
    assert created.last_change is not None and created.last_change.summary == "created"
    newer = AlertRuleSpec.model_validate(base_spec() | {"query": "level:fatal"})
    updated = reconciled(created, plan(spec, newer, created, uid="u", generation=2),
                         generation=2, now=T1, open_incidents=0, snapshot="r-g1")  # fmt: skip
    assert (updated.last_snapshot, updated.snapshot_count) == ("r-g1", 1)
    assert updated.triggers == created.triggers  # ids survive
    assert updated.last_change is not None and updated.last_change.series_restarted
    assert updated.conditions[0].last_transition_time == T0
    stuck = stalled(updated, generation=3, now=T1, reason="ProjectNotFound", message="gone")
    assert [(c.type, c.status) for c in stuck.conditions] == [("Ready", "False"), ("Stalled", "True")]
    back = reconciled(stuck, plan(newer, newer, stuck, uid="u", generation=4),
                      generation=4, now=T1, open_incidents=0, snapshot=None)  # fmt: skip
    assert [c.type for c in back.conditions] == ["Ready"]
    assert back.last_change == updated.last_change  # a no-op reconcile keeps what the last change was


def test_merge_patch_clears_what_is_gone() -> None:
    current = {"a": 1, "b": {"x": 1, "y": 2}, "c": [1], "gone": True}
    desired = {"a": 1, "b": {"x": 1}, "c": [1, 2]}
    assert merge_patch(current, desired) == {"gone": None, "b": {"y": None}, "c": [1, 2]}
    assert merge_patch(desired, desired) == {}


def test_spec_manager_is_the_latest_spec_writer_but_us() -> None:
    fields = [
        {"manager": "kubectl-client-side-apply", "time": "2026-12-01T10:00:00Z", "fieldsV1": {"f:spec": {}}},
        {"manager": "argocd-controller", "time": "2026-12-01T11:00:00Z", "fieldsV1": {"f:spec": {}}},
        {"manager": "vigil-operator", "time": "2026-12-01T12:00:00Z", "subresource": "status",
         "fieldsV1": {"f:status": {}}},
        {"manager": "kopf", "time": "2026-12-01T12:00:00Z", "fieldsV1": {"f:metadata": {}}},
    ]  # fmt: skip
    assert spec_manager(fields) == "argocd-controller"
    assert spec_manager(None) is None
