"""The planner: SENTRY_SEMANTICS.md "Update" and the planning half of its "Acceptance behaviours",
then properties over generated specs (no-op re-applies, stable and never reused ids, determinism)."""

from __future__ import annotations

import copy
import dataclasses
import re
from typing import Any, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.strategies import Spec, valid_specs
from vigil.models.alertrule import (
    Action,
    AlertRuleSpec,
    AlertRuleStatus,
    DetectionType,
    Seasonality,
    Sensitivity,
    action_identity,
)
from vigil.plan import (
    SUMMARY_LIMIT,
    ActionChange,
    Plan,
    TriggerChange,
    action_id,
    archive,
    plan,
    resolution_for,
    trigger_id,
)

UID = "3f1c9a52-7d0e-4b8e-9a61-0c2d5e8f4a17"

PAGE = {"name": "page-oncall", "type": "pagerduty", "targetType": "specific", "targetIdentifier": "checkout",
        "priority": "critical"}
ALICE = {"type": "email", "targetType": "user", "targetIdentifier": "alice"}
OPS = {"type": "slack", "targetType": "specific", "targetIdentifier": "#ops", "integration": "acme"}


def base() -> Spec:
    """A static rule: critical with a named and an unnamed action, warning with an unnamed one."""
    return copy.deepcopy({
        "name": "Checkout errors",
        "query": "level:error",
        "aggregate": "count()",
        "timeWindow": 60,
        "thresholdType": "above",
        "resolveThreshold": 10,
        "triggers": [
            {"label": "critical", "alertThreshold": 100, "actions": [PAGE, ALICE]},
            {"label": "warning", "alertThreshold": 50, "actions": [OPS]},
        ],
    })  # fmt: skip


def edited(spec: Spec, change: Callable[[Spec], Any]) -> Spec:
    out = copy.deepcopy(spec)
    change(out)
    return out


def with_fields(spec: Spec, **fields: Any) -> Spec:
    """The spec with fields set; None removes one."""
    out = copy.deepcopy(spec)
    for key, value in fields.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def parse(spec: Spec) -> AlertRuleSpec:
    return AlertRuleSpec.model_validate(spec)


def status_of(p: Plan) -> AlertRuleStatus:
    """The status a handler writes after applying the plan."""
    return AlertRuleStatus(triggers=list(p.triggers))


def create(spec: Spec, generation: int = 1) -> tuple[Plan, AlertRuleStatus]:
    p = plan(None, parse(spec), None, uid=UID, generation=generation)
    return p, status_of(p)


def update(old: Spec, new: Spec, generation: int = 2) -> tuple[Plan, AlertRuleStatus]:
    """Create `old` at generation 1, then plan `new` over it."""
    _, status = create(old)
    return plan(parse(old), parse(new), status, uid=UID, generation=generation), status


def ids_by_label(status: AlertRuleStatus | Plan) -> dict[str, str]:
    return {t.label: t.id for t in status.triggers}


def action_ids(status: AlertRuleStatus | Plan, label: str) -> dict[tuple[str, ...], str]:
    trigger = next(t for t in status.triggers if t.label == label)
    return {action_identity(a): a.id for a in trigger.actions}  # type: ignore[arg-type]


def identity(action: Spec) -> tuple[str, ...]:
    return action_identity(Action.model_validate(action))


def no_trigger_changes(p: Plan) -> bool:
    return not (p.triggers_deleted or p.triggers_updated or p.triggers_created)


# --- create and re-apply --------------------------------------------------------------------


def test_create_creates_every_trigger_and_action_under_minted_ids() -> None:
    p, _ = create(base(), generation=1)
    assert p.created and p.changed
    assert p.changed_fields == ()
    assert p.series_restarted is False
    assert p.summary == "created"
    assert (p.triggers_deleted, p.triggers_updated) == ((), ())
    crit, warn = trigger_id(UID, "critical", 1), trigger_id(UID, "warning", 1)
    assert p.triggers_created == (
        TriggerChange("critical", crit, actions_created=(
            ActionChange(action_id(UID, crit, identity(PAGE), 1), identity(PAGE)),
            ActionChange(action_id(UID, crit, identity(ALICE), 1), identity(ALICE)),
        )),
        TriggerChange("warning", warn, actions_created=(
            ActionChange(action_id(UID, warn, identity(OPS), 1), identity(OPS)),
        )),
    )  # fmt: skip
    assert [t.id for t in p.triggers] == [crit, warn]
    assert [a.id for a in p.triggers[0].actions] == [c.id for c in p.triggers_created[0].actions_created]


def test_create_writes_triggers_as_status_records_them() -> None:
    p, _ = create(base())
    crit = p.triggers[0]
    assert (crit.label, crit.alert_threshold) == ("critical", 100)
    page, alice = crit.actions
    assert (page.name, page.type, page.target_type, page.target_identifier) == (
        "page-oncall", "pagerduty", "specific", "checkout")  # fmt: skip
    assert (alice.name, alice.target_identifier, alice.integration) == (None, "alice", None)
    assert p.triggers[1].actions[0].integration == "acme"


def test_ids_are_short_prefixed_hashes_of_uid_identity_and_generation() -> None:
    tid = trigger_id(UID, "critical", 1)
    aid = action_id(UID, tid, ("name", "page-oncall"), 1)
    assert re.fullmatch(r"t-[0-9a-f]{12}", tid) and re.fullmatch(r"a-[0-9a-f]{12}", aid)
    assert trigger_id(UID, "critical", 1) == tid  # deterministic
    others = {
        trigger_id("another-uid", "critical", 1),
        trigger_id(UID, "warning", 1),
        trigger_id(UID, "critical", 2),
    }
    assert tid not in others and len(others) == 3
    assert aid != action_id(UID, trigger_id(UID, "warning", 1), ("name", "page-oncall"), 1)
    assert aid != action_id(UID, tid, ("name", "page-oncall"), 2)


def test_a_create_has_no_snapshot_to_write() -> None:
    p, _ = create(base())
    assert p.snapshot_due(has_incidents=True) is False


def test_reapplying_the_same_spec_changes_nothing() -> None:
    p, status = update(base(), base())
    assert not p.changed
    assert p.changed_fields == () and no_trigger_changes(p)
    assert p.series_restarted is False
    assert p.summary == "unchanged"
    assert list(p.triggers) == status.triggers
    assert p.snapshot_due(has_incidents=True) is False


def test_reordering_actions_or_set_fields_changes_nothing() -> None:
    old = with_fields(base(), projects=["web", "api"], eventTypes=["error", "default"])
    new = edited(with_fields(old, projects=["api", "web"], eventTypes=["default", "error"]),
                 lambda s: s["triggers"][0]["actions"].reverse())  # fmt: skip
    p, status = update(old, new)
    assert not p.changed
    assert action_ids(p, "critical") == action_ids(status, "critical")


def test_a_changed_rule_with_incidents_is_due_a_snapshot() -> None:
    p, _ = update(base(), with_fields(base(), name="Checkout errors (prod)"))
    assert p.changed
    assert p.snapshot_due(has_incidents=True) is True
    assert p.snapshot_due(has_incidents=False) is False


def test_the_plan_is_frozen() -> None:
    p, _ = create(base())
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.resolution = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.triggers_created[0].id = "t-x"  # type: ignore[misc]


# --- acceptance behaviours: triggers and actions --------------------------------------------


def test_dropping_trigger_2_deletes_it() -> None:
    p, status = update(base(), edited(base(), lambda s: s["triggers"].pop()))
    warn = ids_by_label(status)["warning"]
    assert p.triggers_deleted == (
        TriggerChange("warning", warn, actions_deleted=(ActionChange(action_ids(status, "warning")[identity(OPS)],
                                                                     identity(OPS)),)),
    )  # fmt: skip
    assert (p.triggers_updated, p.triggers_created) == ((), ())
    assert [(t.label, t.id) for t in p.triggers] == [("critical", ids_by_label(status)["critical"])]
    assert p.triggers[0] == status.triggers[0]  # the critical trigger is untouched
    assert p.summary == "deleted trigger warning"
    assert p.changed and p.snapshot_due(has_incidents=True)


def test_dropping_an_action_deletes_it() -> None:
    p, status = update(base(), edited(base(), lambda s: s["triggers"][0]["actions"].pop()))
    before = action_ids(status, "critical")
    (change,) = p.triggers_updated
    assert change == TriggerChange(
        "critical", ids_by_label(status)["critical"], actions_deleted=(ActionChange(before[identity(ALICE)], identity(ALICE)),)
    )
    assert action_ids(p, "critical") == {identity(PAGE): before[identity(PAGE)]}
    assert p.summary == "deleted action email:alice on critical"


def test_dropping_a_triggers_last_action_is_refused_before_planning() -> None:
    with pytest.raises(ValidationError, match="Each trigger must have an associated action"):
        parse(edited(base(), lambda s: s["triggers"][1].update(actions=[])))


def test_changing_a_named_actions_target_updates_it_in_place() -> None:
    p, status = update(base(), edited(base(), lambda s: s["triggers"][0]["actions"][0].update(targetIdentifier="payments")))
    page_id = action_ids(status, "critical")[identity(PAGE)]
    (change,) = p.triggers_updated
    assert (change.actions_deleted, change.actions_created) == ((), ())
    assert change.actions_updated == (ActionChange(page_id, ("name", "page-oncall")),)
    assert change.threshold_changed is False
    page = p.triggers[0].actions[0]
    assert (page.id, page.target_identifier) == (page_id, "payments")
    assert p.summary == "updated action page-oncall on critical"


def test_changing_an_unnamed_actions_target_is_a_delete_and_a_create() -> None:
    bob = ALICE | {"targetIdentifier": "bob"}
    p, status = update(base(), edited(base(), lambda s: s["triggers"][0]["actions"][1].update(targetIdentifier="bob")))
    crit = ids_by_label(status)["critical"]
    (change,) = p.triggers_updated
    assert change.actions_deleted == (ActionChange(action_ids(status, "critical")[identity(ALICE)], identity(ALICE)),)
    assert change.actions_created == (ActionChange(action_id(UID, crit, identity(bob), 2), identity(bob)),)
    assert change.actions_updated == ()
    assert action_ids(p, "critical")[identity(bob)] not in action_ids(status, "critical").values()
    assert p.summary == "deleted action email:alice on critical; created action email:bob on critical"


@pytest.mark.parametrize("fields", [{"inputChannelId": "C024BE91L"}, {"secretRef": {"name": "slack", "key": "token"}}])
def test_an_unnamed_actions_other_fields_update_it_in_place(fields: Spec) -> None:
    p, status = update(base(), edited(base(), lambda s: s["triggers"][1]["actions"][0].update(fields)))
    (change,) = p.triggers_updated
    assert change.actions_updated == (ActionChange(action_ids(status, "warning")[identity(OPS)], identity(OPS)),)
    assert p.summary == "updated action slack:#ops@acme on warning"


def test_an_action_priority_change_updates_it_in_place() -> None:
    p, status = update(base(), edited(base(), lambda s: s["triggers"][0]["actions"][0].update(priority="info")))
    assert p.triggers_updated[0].actions_updated == (
        ActionChange(action_ids(status, "critical")[("name", "page-oncall")], ("name", "page-oncall")),
    )


def test_adding_a_warning_trigger_creates_it_with_its_actions() -> None:
    one = edited(base(), lambda s: s["triggers"].pop())
    p, status = update(one, base(), generation=4)
    warn = trigger_id(UID, "warning", 4)
    assert p.triggers_created == (
        TriggerChange("warning", warn, actions_created=(ActionChange(action_id(UID, warn, identity(OPS), 4), identity(OPS)),)),
    )
    assert p.triggers[0] == status.triggers[0]
    assert p.summary == "created trigger warning"


def test_a_changed_threshold_updates_the_trigger() -> None:
    p, status = update(base(), edited(base(), lambda s: s["triggers"][0].update(alertThreshold=200)))
    assert p.triggers_updated == (TriggerChange("critical", ids_by_label(status)["critical"], threshold_changed=True),)
    assert p.triggers[0].alert_threshold == 200
    assert p.summary == "updated threshold of critical"


def test_a_deleted_then_recreated_trigger_or_action_gets_a_new_id() -> None:
    one = edited(base(), lambda s: s["triggers"].pop())
    no_alice = edited(base(), lambda s: s["triggers"][0]["actions"].pop())
    first, status1 = create(base(), generation=1)
    dropped = plan(parse(base()), parse(one), status1, uid=UID, generation=2)
    back = plan(parse(one), parse(base()), status_of(dropped), uid=UID, generation=3)
    assert back.triggers_created[0].id == trigger_id(UID, "warning", 3) != ids_by_label(first)["warning"]

    no_alice_plan = plan(parse(base()), parse(no_alice), status1, uid=UID, generation=2)
    alice_back = plan(parse(no_alice), parse(base()), status_of(no_alice_plan), uid=UID, generation=3)
    new_alice = alice_back.triggers_updated[0].actions_created[0].id
    assert new_alice != action_ids(first, "critical")[identity(ALICE)]
    assert action_ids(alice_back, "critical")[identity(PAGE)] == action_ids(first, "critical")[identity(PAGE)]


def test_the_same_action_on_both_triggers_has_two_ids() -> None:
    both = edited(base(), lambda s: s["triggers"][1]["actions"].append(ALICE))
    p, _ = create(both)
    assert action_ids(p, "critical")[identity(ALICE)] != action_ids(p, "warning")[identity(ALICE)]


# --- acceptance behaviours: rule fields ------------------------------------------------------


def test_resolve_threshold_can_be_cleared() -> None:
    p, status = update(base(), with_fields(base(), resolveThreshold=None))
    assert p.changed_fields == ("resolveThreshold",)
    assert no_trigger_changes(p) and list(p.triggers) == status.triggers
    assert p.series_restarted is False
    assert p.summary == "changed resolveThreshold"


@pytest.mark.parametrize(
    ("before", "after"),
    [(None, "team:payments"), ("user:alice", "team:payments"), ("team:payments", None), ("team:payments", "user:bob")],
)
def test_owner_can_be_set_changed_and_cleared(before: str | None, after: str | None) -> None:
    p, _ = update(with_fields(base(), owner=before), with_fields(base(), owner=after))
    assert p.changed_fields == ("owner",)
    assert p.summary == "changed owner"
    assert p.snapshot_due(has_incidents=True)


def test_comparison_delta_doubles_the_resolution_and_clearing_it_restores_it() -> None:
    percent = with_fields(base(), comparisonDelta=60)
    p, _ = update(base(), percent)
    assert (p.detection_type, p.comparison_delta, p.resolution) == (DetectionType.PERCENT, 60, 6)
    assert p.changed_fields == ("comparisonDelta",)
    # Thresholds become percentages: stored as 100 + x for an above rule.
    assert [t.alert_threshold for t in p.triggers] == [200, 150]
    assert {t.label for t in p.triggers_updated if t.threshold_changed} == {"critical", "warning"}

    back = plan(parse(percent), parse(base()), status_of(p), uid=UID, generation=3)
    assert (back.detection_type, back.comparison_delta, back.resolution) == (DetectionType.STATIC, None, 3)
    assert [t.alert_threshold for t in back.triggers] == [100, 50]


def percent_rule() -> Spec:
    return with_fields(
        base(), comparisonDelta=60, resolveThreshold=None,
        triggers=[{"label": "critical", "alertThreshold": 50, "actions": [PAGE]},
                  {"label": "warning", "alertThreshold": 40, "actions": [OPS]}],
    )  # fmt: skip


def dynamic_rule(**fields: Any) -> Spec:
    return with_fields(
        base(), resolveThreshold=None, detectionType="dynamic", sensitivity="high", **fields,
        triggers=[{"label": "critical", "alertThreshold": 0, "actions": [PAGE]},
                  {"label": "warning", "alertThreshold": 0, "actions": [OPS]}],
    )  # fmt: skip


@pytest.mark.parametrize("keep_delta", [True, False], ids=["delta-left-in-spec", "delta-removed"])
def test_percent_to_dynamic_clears_comparison_delta_and_sets_sensitivity_and_seasonality(keep_delta: bool) -> None:
    p, _ = update(percent_rule(), dynamic_rule(comparisonDelta=60 if keep_delta else None))
    assert p.detection_type is DetectionType.DYNAMIC
    assert p.comparison_delta is None
    assert p.sensitivity is Sensitivity.HIGH
    assert p.seasonality is Seasonality.AUTO
    assert p.resolution == 3  # no longer doubled


def test_dynamic_keeps_a_seasonality_it_is_given() -> None:
    p, _ = create(dynamic_rule(seasonality="daily"))
    assert (p.sensitivity, p.seasonality) == (Sensitivity.HIGH, Seasonality.DAILY)


def test_dynamic_to_percent_clears_sensitivity_and_seasonality() -> None:
    # The user left both in the spec: Vigil never rewrites it, the effective values say percent.
    percent = with_fields(percent_rule(), sensitivity="high", seasonality="daily")
    p, _ = update(dynamic_rule(seasonality="daily"), percent)
    assert (p.detection_type, p.sensitivity, p.seasonality, p.comparison_delta) == (
        DetectionType.PERCENT, None, None, 60)  # fmt: skip
    assert p.resolution == 6
    assert "detectionType" in p.changed_fields and "comparisonDelta" in p.changed_fields


@pytest.mark.parametrize("source", ["percent", "dynamic"])
def test_to_static_clears_sensitivity_seasonality_and_comparison_delta(source: str) -> None:
    old = percent_rule() if source == "percent" else dynamic_rule(seasonality="daily")
    static = with_fields(percent_rule(), detectionType="static", sensitivity="low", seasonality="weekly")
    p, _ = update(old, static)
    assert (p.detection_type, p.sensitivity, p.seasonality, p.comparison_delta) == (
        DetectionType.STATIC, None, None, None)  # fmt: skip
    assert p.resolution == 3
    assert [t.alert_threshold for t in p.triggers] == [50, 40]  # plain values again


def test_detection_type_written_as_inferred_is_a_spec_change_but_not_a_behaviour_change() -> None:
    p, _ = update(base(), with_fields(base(), detectionType="static"))
    assert p.changed_fields == ("detectionType",)
    assert no_trigger_changes(p)
    assert p.detection_type is DetectionType.STATIC and p.resolution == 3


def test_a_percent_threshold_type_flip_changes_the_stored_thresholds() -> None:
    p, _ = update(percent_rule(), with_fields(percent_rule(), thresholdType="below"))
    assert p.changed_fields == ("thresholdType",)
    assert [(t.label, t.threshold_changed) for t in p.triggers_updated] == [("critical", True), ("warning", True)]
    assert [t.alert_threshold for t in p.triggers] == [50, 60]  # 100 - x


# --- resolution --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "expected"),
    [(1, 1), (29, 1), (30, 2), (59, 2), (60, 3), (89, 3), (90, 3), (119, 3), (120, 3), (239, 3), (240, 5),
     (719, 5), (720, 5), (1439, 5), (1440, 15)],
)  # fmt: skip
def test_resolution_table_boundaries(window: int, expected: int) -> None:
    assert resolution_for(window, DetectionType.STATIC) == expected
    assert resolution_for(window, DetectionType.DYNAMIC) == expected
    assert resolution_for(window, DetectionType.PERCENT) == 2 * expected


@pytest.mark.parametrize(("window", "expected"), [(29, 1), (30, 2), (240, 5), (1440, 15)])
def test_a_window_change_recomputes_the_resolution(window: int, expected: int) -> None:
    p, _ = update(base(), with_fields(base(), timeWindow=window))
    assert p.resolution == expected
    assert p.changed_fields == ("timeWindow",)


# --- series restarts ---------------------------------------------------------------------------

SERIES_CHANGES = {
    "query": {"query": "level:fatal"},
    "aggregate": {"aggregate": "count_unique(user)"},
    "timeWindow": {"timeWindow": 120},
    "dataset": {"dataset": "transactions"},
    "eventTypes": {"eventTypes": ["error"]},
    "environment": {"environment": "production"},
    "projects": {"projects": ["checkout"]},
}


@pytest.mark.parametrize("field", sorted(SERIES_CHANGES))
def test_a_series_field_change_restarts_the_series(field: str) -> None:
    p, _ = update(base(), with_fields(base(), **SERIES_CHANGES[field]))
    assert p.changed_fields == (field,)
    assert p.series_restarted is True


@pytest.mark.parametrize("field", sorted(SERIES_CHANGES))
def test_a_series_field_being_cleared_restarts_the_series(field: str) -> None:
    old = with_fields(base(), **SERIES_CHANGES[field])
    new = with_fields(old, **{field: base().get(field)}) if field in base() else with_fields(old, **{field: None})
    p, _ = update(old, new)
    assert p.changed_fields == (field,)
    assert p.series_restarted is True


@pytest.mark.parametrize(
    "fields",
    [{"name": "Renamed"}, {"description": "Paged at night"}, {"owner": "team:payments"}, {"thresholdPeriod": 3},
     {"resolveThreshold": 20}, {"resolveThreshold": None}, {"comparisonDelta": 60}],
    ids=lambda f: next(iter(f)),
)  # fmt: skip
def test_other_field_changes_keep_the_series(fields: Spec) -> None:
    p, _ = update(base(), with_fields(base(), **fields))
    assert p.changed_fields == tuple(fields)
    assert p.series_restarted is False


def test_changed_fields_come_in_spec_order() -> None:
    p, _ = update(base(), with_fields(base(), timeWindow=120, query="level:fatal", name="Renamed", owner="team:x"))
    assert p.changed_fields == ("name", "owner", "query", "timeWindow")
    assert p.summary == "changed name, owner, query, timeWindow"


# --- summary -----------------------------------------------------------------------------------


def test_summary_names_fields_then_deletes_then_creates() -> None:
    old = edited(base(), lambda s: s["triggers"][0]["actions"].pop(0))  # no page-oncall yet
    new = edited(with_fields(base(), query="level:fatal", timeWindow=120), lambda s: s["triggers"].pop())
    p, _ = update(old, new)
    assert p.summary == "changed query, timeWindow; deleted trigger warning; created action page-oncall on critical"


def test_summary_follows_sentrys_order_deletes_updates_creates() -> None:
    one = edited(base(), lambda s: s["triggers"].pop())

    def change(s: Spec) -> None:
        crit = s["triggers"][0]
        crit["alertThreshold"] = 300
        crit["actions"] = [PAGE | {"targetIdentifier": "payments"}, ALICE | {"targetIdentifier": "bob"}]

    new = edited(base(), change)
    new["name"] = "Renamed"
    p, _ = update(one, new)
    assert p.summary == (
        "changed name; deleted action email:alice on critical; updated threshold of critical; "
        "updated action page-oncall on critical; created trigger warning; created action email:bob on critical"
    )
    assert [f.name for f in dataclasses.fields(Plan)][-4:] == [
        "triggers_deleted", "triggers_updated", "triggers_created", "triggers"]  # fmt: skip


def test_a_long_summary_is_cut_to_the_event_limit() -> None:
    def many(prefix: str) -> list[Spec]:
        return [ALICE | {"targetIdentifier": f"{prefix}{i}-" + "x" * 400} for i in range(10)]

    old = edited(base(), lambda s: s["triggers"][0].update(actions=many("a")))
    new = edited(base(), lambda s: s["triggers"][0].update(actions=many("b")))
    p, _ = update(old, new)
    assert len(p.summary) == SUMMARY_LIMIT
    assert p.summary.startswith("deleted action email:a0-") and p.summary.endswith("…")


# --- ids when status is missing, partial or ahead ----------------------------------------------


def test_lost_status_keeps_triggers_existing_under_ids_minted_now() -> None:
    p = plan(parse(base()), parse(base()), None, uid=UID, generation=5)
    assert not p.changed  # nothing was created: the old spec says they exist
    crit = trigger_id(UID, "critical", 5)
    assert ids_by_label(p) == {"critical": crit, "warning": trigger_id(UID, "warning", 5)}
    assert action_ids(p, "critical")[identity(PAGE)] == action_id(UID, crit, identity(PAGE), 5)


def test_lost_status_still_reports_deletions() -> None:
    p = plan(parse(base()), parse(edited(base(), lambda s: s["triggers"].pop())), AlertRuleStatus(), uid=UID,
             generation=5)  # fmt: skip
    assert [(t.label, t.id) for t in p.triggers_deleted] == [("warning", trigger_id(UID, "warning", 5))]
    assert p.summary == "deleted trigger warning"


def test_partial_status_keeps_what_it_holds_and_mints_the_rest() -> None:
    _, status = create(base(), generation=1)
    partial = AlertRuleStatus(triggers=[status.triggers[0].model_copy(update={"actions": status.triggers[0].actions[:1]})])
    p = plan(parse(base()), parse(base()), partial, uid=UID, generation=7)
    crit = ids_by_label(status)["critical"]
    assert ids_by_label(p) == {"critical": crit, "warning": trigger_id(UID, "warning", 7)}
    assert action_ids(p, "critical") == {
        identity(PAGE): action_ids(status, "critical")[identity(PAGE)],
        identity(ALICE): action_id(UID, crit, identity(ALICE), 7),
    }


def test_a_retry_after_status_was_written_gives_the_same_ids() -> None:
    new = edited(base(), lambda s: s["triggers"][0]["actions"].append(ALICE | {"targetIdentifier": "carol"}))
    first, _ = update(base(), new)
    retry = plan(parse(base()), parse(new), status_of(first), uid=UID, generation=2)
    assert retry.triggers == first.triggers
    assert retry.triggers_created == first.triggers_created and retry.triggers_updated == first.triggers_updated


def test_a_creation_status_already_holds_keeps_that_id_across_generations() -> None:
    """An apply at generation 2 added the warning trigger and wrote status, then crashed; the
    spec moved on to generation 3 before the retry: the warning trigger keeps its id."""
    one = edited(base(), lambda s: s["triggers"].pop())
    _, status1 = create(one)
    interrupted = plan(parse(one), parse(base()), status1, uid=UID, generation=2)
    newer = with_fields(base(), name="Renamed")
    p = plan(parse(one), parse(newer), status_of(interrupted), uid=UID, generation=3)
    assert [(t.label, t.id) for t in p.triggers_created] == [("warning", trigger_id(UID, "warning", 2))]


# --- archive -----------------------------------------------------------------------------------


def test_archive_keeps_the_spec_and_adds_the_ids_status_holds() -> None:
    spec = with_fields(base(), owner="team:payments", comparisonDelta=None)
    p, status = create(spec)
    archived = archive(parse(spec), status)
    data = archived.model_dump()
    for t_data, t_status in zip(data["triggers"], status.triggers):
        assert t_data.pop("id") == t_status.id
        assert [a.pop("id") for a in t_data["actions"]] == [a.id for a in t_status.actions]
    assert data == parse(spec).model_dump()


def test_archive_matches_ids_by_identity_not_position() -> None:
    _, status = create(base())
    reordered = edited(base(), lambda s: s["triggers"][0]["actions"].reverse())
    archived = archive(parse(reordered), status)
    assert {(a.target_identifier, a.id) for a in archived.triggers[0].actions} == {
        ("alice", action_ids(status, "critical")[identity(ALICE)]),
        ("checkout", action_ids(status, "critical")[identity(PAGE)]),
    }


def test_archive_records_ids_status_lost_as_unknown() -> None:
    archived = archive(parse(base()), None)
    assert [t.id for t in archived.triggers] == ["", ""]
    assert {a.id for t in archived.triggers for a in t.actions} == {""}


# --- properties --------------------------------------------------------------------------------


@st.composite
def rule_specs(draw: st.DrawFn) -> AlertRuleSpec:
    """Valid specs whose actions are named or not (unnamed ones are identified by their target)."""
    spec = draw(valid_specs())
    unnamed = copy.deepcopy(spec)
    for trigger in unnamed["triggers"]:
        for action in trigger["actions"]:
            if draw(st.booleans()):
                del action["name"]
    try:
        return parse(unnamed)
    except ValidationError:  # two unnamed actions with the same target
        return parse(spec)


def normalized(spec: AlertRuleSpec) -> dict[str, Any]:
    """The spec with the orders that mean nothing removed."""
    data = spec.model_dump()
    for key in ("projects", "event_types"):
        if data[key] is not None:
            data[key] = sorted(data[key])
    for trigger, model in zip(data["triggers"], spec.triggers):
        trigger["actions"] = sorted(
            (repr(action_identity(a)), d) for a, d in zip(model.actions, trigger["actions"])
        )  # fmt: skip
    return data


@given(rule_specs(), st.integers(1, 1000))
def test_planning_a_spec_against_itself_is_a_no_op(spec: AlertRuleSpec, generation: int) -> None:
    created = plan(None, spec, None, uid=UID, generation=generation)
    p = plan(spec, spec, status_of(created), uid=UID, generation=generation + 1)
    assert not p.changed
    assert p.summary == "unchanged"
    assert p.triggers == created.triggers


@given(rule_specs(), rule_specs())
def test_applying_a_plan_then_replanning_is_a_no_op(a: AlertRuleSpec, b: AlertRuleSpec) -> None:
    created = plan(None, a, None, uid=UID, generation=1)
    p = plan(a, b, status_of(created), uid=UID, generation=2)
    again = plan(b, b, status_of(p), uid=UID, generation=3)
    assert not again.changed
    assert again.triggers == p.triggers


@given(rule_specs(), rule_specs())
def test_survivors_keep_their_ids_and_newcomers_are_minted(a: AlertRuleSpec, b: AlertRuleSpec) -> None:
    created = plan(None, a, None, uid=UID, generation=1)
    p = plan(a, b, status_of(created), uid=UID, generation=2)
    old_ids = ids_by_label(created)
    for trigger in p.triggers:
        expected = old_ids.get(trigger.label, trigger_id(UID, trigger.label, 2))
        assert trigger.id == expected
        old_actions = action_ids(created, trigger.label) if trigger.label in old_ids else {}
        for action in trigger.actions:
            key = action_identity(action)  # type: ignore[arg-type]
            assert action.id == old_actions.get(key, action_id(UID, trigger.id, key, 2))


@given(rule_specs(), rule_specs())
def test_the_plan_accounts_for_every_trigger_and_action(a: AlertRuleSpec, b: AlertRuleSpec) -> None:
    p = plan(a, b, status_of(plan(None, a, None, uid=UID, generation=1)), uid=UID, generation=2)
    old, new = {t.label for t in a.triggers}, {t.label for t in b.triggers}
    assert {t.label for t in p.triggers_deleted} == old - new
    assert {t.label for t in p.triggers_created} == new - old
    assert {t.label for t in p.triggers_updated} <= old & new
    assert [t.label for t in p.triggers] == [t.label for t in b.triggers]
    for change in p.triggers_updated:
        before = {action_identity(x) for x in next(t for t in a.triggers if t.label == change.label).actions}
        after = {action_identity(x) for x in next(t for t in b.triggers if t.label == change.label).actions}
        assert {x.identity for x in change.actions_deleted} == before - after
        assert {x.identity for x in change.actions_created} == after - before
        assert {x.identity for x in change.actions_updated} <= before & after


@given(rule_specs(), rule_specs())
def test_changed_exactly_when_the_spec_differs(a: AlertRuleSpec, b: AlertRuleSpec) -> None:
    p = plan(a, b, status_of(plan(None, a, None, uid=UID, generation=1)), uid=UID, generation=2)
    assert p.changed == (normalized(a) != normalized(b))
    assert p.snapshot_due(has_incidents=True) == p.changed
    assert p.series_restarted == bool(
        {"query", "aggregate", "timeWindow", "dataset", "eventTypes", "environment", "projects"} & set(p.changed_fields)
    )


@given(rule_specs(), rule_specs(), st.booleans())
def test_the_plan_is_deterministic(a: AlertRuleSpec, b: AlertRuleSpec, with_status: bool) -> None:
    status = status_of(plan(None, a, None, uid=UID, generation=1)) if with_status else None
    first = plan(a, b, status, uid=UID, generation=2)
    again = plan(
        parse(a.wire()), parse(b.wire()), AlertRuleStatus.model_validate(status.wire()) if status else None,
        uid=UID, generation=2,
    )  # fmt: skip
    assert first == again
    assert first.summary == again.summary


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(rule_specs(), st.integers(1, 3), st.integers(0, 9)), min_size=2, max_size=8))
def test_ids_are_never_reused(steps: list[tuple[AlertRuleSpec, int, int]]) -> None:
    """Apply specs in sequence with increasing generations, now and then losing status: an id,
    once deleted, never comes back, and every id new to status is one never seen before."""
    old: AlertRuleSpec | None = None
    status: AlertRuleStatus | None = None
    generation = 0
    deleted: set[str] = set()
    seen: set[str] = set()
    for spec, step, luck in steps:
        generation += step
        if luck == 0:
            status = None  # status lost
        p = plan(old, spec, status, uid=UID, generation=generation)
        created = {t.id for t in p.triggers_created} | {
            a.id for t in (*p.triggers_created, *p.triggers_updated) for a in t.actions_created
        }
        assert not created & deleted
        live = [t.id for t in p.triggers] + [a.id for t in p.triggers for a in t.actions]
        assert len(live) == len(set(live))
        held = {t.id for t in status.triggers} | {a.id for t in status.triggers for a in t.actions} if status else set()
        assert not (set(live) - held) & seen
        deleted |= {t.id for t in p.triggers_deleted} | {
            a.id for t in (*p.triggers_deleted, *p.triggers_updated) for a in t.actions_deleted
        }
        seen |= set(live) | deleted
        old, status = spec, status_of(p)
