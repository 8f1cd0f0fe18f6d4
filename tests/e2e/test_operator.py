"""The update flow end to end: `kubectl apply` as a user would, the operator as a process with its
ServiceAccount's token, the real API server. One test per acceptance behaviour of
SENTRY_SEMANTICS.md, plus the Kubernetes conventions the operator promises."""

from __future__ import annotations

import copy
import json
import random
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import Operator
from tests.support import wait_until

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
Body = dict[str, Any]

RULE = "errors"


def rule_spec() -> Body:
    return {
        "name": "Errors",
        "query": "level:error",
        "aggregate": "count()",
        "timeWindow": 10,
        "thresholdType": "above",
        "resolveThreshold": 20,
        "thresholdPeriod": 2,
        "owner": "user:alice",
        "triggers": [
            {
                "label": "critical",
                "alertThreshold": 100,
                "actions": [
                    {"name": "page", "type": "pagerduty", "targetType": "specific", "targetIdentifier": "svc",
                     "priority": "critical"},
                    {"type": "email", "targetType": "team", "targetIdentifier": "backend"},
                ],
            },
            {
                "label": "warning",
                "alertThreshold": 50,
                "actions": [
                    {"type": "slack", "targetType": "specific", "targetIdentifier": "#ops", "integration": "acme"},
                    {"type": "email", "targetType": "team", "targetIdentifier": "backend"},
                ],
            },
        ],
    }  # fmt: skip


def apply(kubectl: Kubectl, spec: Body, name: str = RULE, check: bool = True) -> subprocess.CompletedProcess[str]:
    doc = {"apiVersion": "vigil.dev/v1alpha1", "kind": "AlertRule", "metadata": {"name": name}, "spec": spec}
    return kubectl("apply", "-f", "-", input=yaml.safe_dump(doc), check=check)


def get(kubectl: Kubectl, kind: str, name: str = RULE) -> Body:
    return json.loads(kubectl("get", kind, name, "-o", "json").stdout)


def names(kubectl: Kubectl, kind: str) -> list[str]:
    return sorted(i["metadata"]["name"] for i in json.loads(kubectl("get", kind, "-o", "json").stdout)["items"])


def reconciled(kubectl: Kubectl, name: str = RULE) -> Body:
    """The rule once the operator handled its current generation."""

    def check() -> Body | None:
        rule = get(kubectl, "alertrule", name)
        status = rule.get("status") or {}
        return rule if status.get("observedGeneration") == rule["metadata"]["generation"] else None

    return wait_until(check, 30, f"alertrule/{name} to be reconciled")  # type: ignore[return-value]


def open_incident(kubectl: Kubectl, name: str, identifier: int, rule: str = RULE, status: str = "Critical") -> None:
    doc = {
        "apiVersion": "vigil.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": name, "labels": {"vigil.dev/alert-rule": rule}},
        "spec": {"alertRuleRef": {"kind": "AlertRule", "name": rule}, "identifier": identifier,
                 "title": "Errors", "dateStarted": "2026-12-01T10:00:00Z"},
    }  # fmt: skip
    kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))
    body = {"status": {"status": status, "statusMethod": "RuleTriggered",
                       "triggers": [{"label": "critical", "state": "Active"}],
                       "activity": [{"type": "Created", "at": "2026-12-01T10:00:00Z"}]}}  # fmt: skip
    kubectl("patch", "incident", name, "--subresource=status", "--type=merge", "-p", json.dumps(body))


def events(kubectl: Kubectl, reason: str | None = None) -> list[Body]:
    items = json.loads(kubectl("get", "events", "-o", "json").stdout)["items"]
    return [e for e in items if e["involvedObject"]["kind"] == "AlertRule" and (reason is None or e["reason"] == reason)]


def condition(rule: Body, type: str) -> Body:
    return next(c for c in rule["status"]["conditions"] if c["type"] == type)


def status_trigger(rule: Body, label: str) -> Body:
    return next(t for t in rule["status"]["triggers"] if t["label"] == label)


# --- create ---------------------------------------------------------------------------------


def test_create_assigns_ids_and_reports_ready(kubectl: Kubectl, operator: Operator) -> None:
    apply(kubectl, rule_spec())
    rule = reconciled(kubectl)
    status = rule["status"]
    assert [t["label"] for t in status["triggers"]] == ["critical", "warning"]
    ids = [t["id"] for t in status["triggers"]] + [a["id"] for t in status["triggers"] for a in t["actions"]]
    assert len(set(ids)) == 6 and all(ids)
    assert status["resolution"] == 1 and status["detection"] == {"type": "static"}
    ready = condition(rule, "Ready")
    assert ready["status"] == "True" and ready["observedGeneration"] == 1 and ready["reason"] == "Reconciled"
    assert ready["lastTransitionTime"]
    assert wait_until(lambda: events(kubectl, "Created"), 10, "the Created event")


def test_operator_never_writes_the_spec(kubectl: Kubectl, operator: Operator) -> None:
    apply(kubectl, rule_spec())
    rule = reconciled(kubectl)
    assert rule["spec"] == get(kubectl, "alertrule")["spec"]
    assert rule["metadata"]["generation"] == 1
    spec = rule_spec() | {"query": "level:fatal"}
    apply(kubectl, spec)
    reconciled(kubectl)
    rule = json.loads(kubectl("get", "alertrule", RULE, "-o", "json", "--show-managed-fields").stdout)
    assert rule["metadata"]["generation"] == 2
    managers = {(m["manager"], m.get("subresource", "")) for m in rule["metadata"]["managedFields"]}
    spec_writers = {m["manager"] for m in rule["metadata"]["managedFields"]
                    if "f:spec" in m.get("fieldsV1", {}) and not m.get("subresource")}  # fmt: skip
    assert "vigil-operator" not in spec_writers
    assert ("vigil-operator", "status") in managers


def test_unknown_project_is_refused_once(kubectl: Kubectl, operator: Operator) -> None:
    apply(kubectl, rule_spec() | {"projects": ["nope"]})
    rule = reconciled(kubectl)
    ready, stalled = condition(rule, "Ready"), condition(rule, "Stalled")
    assert (ready["status"], ready["reason"]) == ("False", "ProjectNotFound")
    assert "Project nope not found" in ready["message"] and stalled["status"] == "True"
    wait_until(lambda: events(kubectl, "ProjectNotFound"), 10, "the ProjectNotFound event")
    time.sleep(3)  # no retry storm: the handler does not run again
    assert sum(e.get("count", 1) for e in events(kubectl, "ProjectNotFound")) == 1
    # Once the project exists, the rule is taken into service without any change to it.
    project = {"apiVersion": "vigil.dev/v1alpha1", "kind": "Project", "metadata": {"name": "nope"},
               "spec": {"id": random.randint(100_000, 2**31 - 1)}}  # fmt: skip
    kubectl("apply", "-f", "-", input=yaml.safe_dump(project))
    wait_until(lambda: condition(get(kubectl, "alertrule"), "Ready")["status"] == "True", 30, "Ready=True")
    rule = get(kubectl, "alertrule")
    assert [c["type"] for c in rule["status"]["conditions"]] == ["Ready"]
    assert len(rule["status"]["triggers"]) == 2 and rule["metadata"]["generation"] == 1


def test_a_query_that_does_not_parse_is_refused_once(kubectl: Kubectl, operator: Operator) -> None:
    apply(kubectl, rule_spec() | {"query": "(level:error OR level:fatal"})
    rule = reconciled(kubectl)
    ready = condition(rule, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidQuery")
    assert "unbalanced parenthesis" in ready["message"]
    assert wait_until(lambda: events(kubectl, "InvalidQuery"), 10, "the InvalidQuery event")


# --- update ---------------------------------------------------------------------------------


def test_update_with_two_incidents_writes_one_snapshot_and_closes_them(kubectl: Kubectl, operator: Operator) -> None:
    apply(kubectl, rule_spec())
    before = reconciled(kubectl)
    open_incident(kubectl, "errors-1", 1)
    open_incident(kubectl, "errors-2", 2, status="Warning")
    new = rule_spec() | {"query": "level:fatal", "timeWindow": 60, "thresholdType": "above", "resolveThreshold": 10,
                         "aggregate": "count_unique(user)", "thresholdPeriod": 3}  # fmt: skip
    apply(kubectl, new)
    rule = reconciled(kubectl)

    assert names(kubectl, "alertrulesnapshots") == ["errors-g1"]
    snap = get(kubectl, "alertrulesnapshot", "errors-g1")
    old = snap["spec"]["rule"]
    for key in ("query", "timeWindow", "thresholdType", "resolveThreshold", "aggregate", "thresholdPeriod"):
        assert old[key] == rule_spec()[key], key
    assert snap["spec"]["reason"] == "RuleUpdated"
    assert snap["spec"]["alertRule"] == {"name": RULE, "uid": before["metadata"]["uid"], "generation": 1}
    assert snap["spec"]["changedBy"] == "kubectl-client-side-apply"
    assert snap["metadata"]["labels"] == {"vigil.dev/alert-rule": RULE}
    # The snapshot has its own copies of the triggers and actions, with the ids they had.
    assert [(t["label"], t["alertThreshold"]) for t in old["triggers"]] == [("critical", 100), ("warning", 50)]
    assert [[(a["type"], a["targetIdentifier"]) for a in t["actions"]] for t in old["triggers"]] == [
        [("pagerduty", "svc"), ("email", "backend")], [("slack", "#ops"), ("email", "backend")]]  # fmt: skip
    assert [t["id"] for t in old["triggers"]] == [t["id"] for t in before["status"]["triggers"]]
    assert snap["status"] == {"incidents": ["errors-1", "errors-2"], "incidentCount": 2}

    for name, previous in (("errors-1", "Critical"), ("errors-2", "Warning")):
        inc = get(kubectl, "incident", name)
        assert inc["spec"]["alertRuleRef"] == {"kind": "AlertRuleSnapshot", "name": "errors-g1"}
        status = inc["status"]
        assert (status["status"], status["statusMethod"]) == ("Closed", "RuleUpdated") and status["dateClosed"]
        changes = [a for a in status["activity"] if a["type"] == "StatusChange"]
        assert [(a["value"], a["previousValue"]) for a in changes] == [("Closed", previous)]
        assert [t["state"] for t in status["triggers"]] == ["Resolved"]
        # Resolve notifications owed, one per distinct target, the warning trigger's copy preferred.
        owed = {(n["type"], n["targetIdentifier"], n["trigger"]) for n in status["notifications"]}
        assert owed == {("pagerduty", "svc", "critical"), ("email", "backend", "warning"), ("slack", "#ops", "warning")}
        assert {n["state"] for n in status["notifications"]} == {"Pending"}

    status = rule["status"]
    assert (status["lastSnapshot"], status["snapshotCount"], status["openIncidents"]) == ("errors-g1", 1, 0)
    assert status["lastChange"]["seriesRestarted"] is True
    assert set(status["lastChange"]["fields"]) >= {"query", "timeWindow", "aggregate", "resolveThreshold"}
    assert status["resolution"] == 3
    updated = wait_until(lambda: events(kubectl, "Updated"), 10, "the Updated event")
    assert "archived as errors-g1" in updated[0]["message"] and "query" in updated[0]["message"]


def test_update_without_incidents_writes_no_snapshot(kubectl: Kubectl, operator: Operator) -> None:
    apply(kubectl, rule_spec())
    reconciled(kubectl)
    apply(kubectl, rule_spec() | {"query": "level:fatal"})
    rule = reconciled(kubectl)
    assert names(kubectl, "alertrulesnapshots") == []
    assert rule["status"]["lastChange"]["fields"] == ["query"] and rule["status"]["snapshotCount"] == 0


def test_reapplying_the_same_spec_changes_nothing(kubectl: Kubectl, operator: Operator) -> None:
    apply(kubectl, rule_spec())
    open_incident(kubectl, "errors-1", 1)
    first = reconciled(kubectl)
    wait_until(lambda: events(kubectl, "Created"), 10, "the Created event")
    apply(kubectl, rule_spec())
    time.sleep(3)
    again = get(kubectl, "alertrule")
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert names(kubectl, "alertrulesnapshots") == []
    assert [e["reason"] for e in events(kubectl)] == ["Created"]
    assert get(kubectl, "incident", "errors-1")["status"]["status"] == "Critical"


def test_dropping_trigger_2_deletes_it(kubectl: Kubectl, operator: Operator) -> None:
    apply(kubectl, rule_spec())
    critical = status_trigger(reconciled(kubectl), "critical")
    spec = rule_spec()
    del spec["triggers"][1]
    apply(kubectl, spec)
    rule = reconciled(kubectl)
    assert rule["status"]["triggers"] == [critical]
    assert "deleted trigger warning" in rule["status"]["lastChange"]["summary"]


def test_dropping_an_action_deletes_it(kubectl: Kubectl, operator: Operator) -> None:
    apply(kubectl, rule_spec())
    page = status_trigger(reconciled(kubectl), "critical")["actions"][0]
    spec = rule_spec()
    del spec["triggers"][0]["actions"][1]
    apply(kubectl, spec)
    rule = reconciled(kubectl)
    assert status_trigger(rule, "critical")["actions"] == [page]
    assert "deleted action email:backend on critical" in rule["status"]["lastChange"]["summary"]


def test_dropping_a_triggers_last_action_is_refused(kubectl: Kubectl, operator: Operator) -> None:
    apply(kubectl, rule_spec())
    before = reconciled(kubectl)
    spec = rule_spec()
    spec["triggers"][1]["actions"] = []
    res = apply(kubectl, spec, check=False)
    assert res.returncode != 0
    assert "Each trigger must have an associated action for this alert to fire." in res.stderr
    after = get(kubectl, "alertrule")
    assert after["spec"] == before["spec"] and after["metadata"]["generation"] == 1


def test_changing_a_named_actions_target_updates_it_in_place(kubectl: Kubectl, operator: Operator) -> None:
    apply(kubectl, rule_spec())
    page = status_trigger(reconciled(kubectl), "critical")["actions"][0]
    spec = rule_spec()
    spec["triggers"][0]["actions"][0]["targetIdentifier"] = "other-svc"
    apply(kubectl, spec)
    rule = reconciled(kubectl)
    moved = status_trigger(rule, "critical")["actions"][0]
    assert moved["id"] == page["id"] and moved["targetIdentifier"] == "other-svc"
    assert "updated action page on critical" in rule["status"]["lastChange"]["summary"]


def test_resolve_threshold_and_owner_can_change_and_clear(kubectl: Kubectl, operator: Operator) -> None:
    apply(kubectl, rule_spec())
    reconciled(kubectl)
    spec = rule_spec()
    del spec["resolveThreshold"]
    spec["owner"] = "team:backend"
    apply(kubectl, spec)
    rule = reconciled(kubectl)
    assert "resolveThreshold" not in rule["spec"] and rule["spec"]["owner"] == "team:backend"
    assert set(rule["status"]["lastChange"]["fields"]) == {"owner", "resolveThreshold"}
    del spec["owner"]
    apply(kubectl, spec)
    assert reconciled(kubectl)["status"]["lastChange"]["fields"] == ["owner"]


def test_comparison_delta_doubles_the_resolution(kubectl: Kubectl, operator: Operator) -> None:
    spec = rule_spec() | {"timeWindow": 60}
    apply(kubectl, spec)
    assert reconciled(kubectl)["status"]["resolution"] == 3
    apply(kubectl, spec | {"comparisonDelta": 60})
    status = reconciled(kubectl)["status"]
    assert status["resolution"] == 6 and status["detection"] == {"type": "percent", "comparisonDelta": 60}
    apply(kubectl, spec)
    assert reconciled(kubectl)["status"]["resolution"] == 3


def test_detection_type_changes_clear_what_they_must(kubectl: Kubectl, operator: Operator) -> None:
    percent = rule_spec() | {"timeWindow": 15, "comparisonDelta": 60, "sensitivity": "high"}
    apply(kubectl, percent)
    assert reconciled(kubectl)["status"]["detection"] == {"type": "percent", "comparisonDelta": 60}
    dynamic = copy.deepcopy(percent) | {"detectionType": "dynamic", "thresholdType": "above_and_below"}
    del dynamic["resolveThreshold"]
    for trigger in dynamic["triggers"]:
        trigger["alertThreshold"] = 0
    apply(kubectl, dynamic)
    detection = reconciled(kubectl)["status"]["detection"]
    assert detection == {"type": "dynamic", "sensitivity": "high", "seasonality": "auto"}
    apply(kubectl, percent | {"detectionType": "percent"})
    assert reconciled(kubectl)["status"]["detection"] == {"type": "percent", "comparisonDelta": 60}
    apply(kubectl, percent | {"detectionType": "static", "seasonality": "daily"})
    assert reconciled(kubectl)["status"]["detection"] == {"type": "static"}


# --- delete ---------------------------------------------------------------------------------


def test_delete_with_incidents_leaves_a_final_snapshot(kubectl: Kubectl, operator: Operator) -> None:
    apply(kubectl, rule_spec())
    reconciled(kubectl)
    open_incident(kubectl, "errors-1", 1)
    kubectl("delete", "alertrule", RULE, "--timeout=30s")
    snap = get(kubectl, "alertrulesnapshot", "errors-g1")
    assert snap["spec"]["reason"] == "RuleDeleted" and snap["status"]["incidents"] == ["errors-1"]
    inc = get(kubectl, "incident", "errors-1")
    assert inc["status"]["status"] == "Closed" and inc["spec"]["alertRuleRef"]["name"] == "errors-g1"


def test_delete_without_incidents_leaves_nothing(kubectl: Kubectl, operator: Operator) -> None:
    apply(kubectl, rule_spec())
    reconciled(kubectl)
    kubectl("delete", "alertrule", RULE, "--timeout=30s")
    assert names(kubectl, "alertrules") == [] and names(kubectl, "alertrulesnapshots") == []


# --- what users see -------------------------------------------------------------------------


def test_kubectl_get_shows_useful_columns(kubectl: Kubectl, operator: Operator) -> None:
    apply(kubectl, rule_spec())
    reconciled(kubectl)
    open_incident(kubectl, "errors-1", 1)
    apply(kubectl, rule_spec() | {"query": "level:fatal"})
    reconciled(kubectl)
    out = kubectl("get", "ar,ars,inc").stdout
    lines = [line.split() for line in out.splitlines() if line.strip()]
    rule_row = next(line for line in lines if line[0] == "alertrule.vigil.dev/errors")
    assert rule_row[1:6] == ["Errors", "count()", "10", "100", "True"]
    assert rule_row[6] == "0"
    snap_row = next(line for line in lines if line[0] == "alertrulesnapshot.vigil.dev/errors-g1")
    assert snap_row[1:5] == ["errors", "1", "RuleUpdated", "1"]
    inc_row = next(line for line in lines if line[0] == "incident.vigil.dev/errors-1")
    assert inc_row[1:4] == ["errors-g1", "Closed", "RuleUpdated"]


def test_conditions_read_as_current_by_kstatus(kubectl: Kubectl, operator: Operator) -> None:
    """kstatus: Current when status.observedGeneration == generation, Ready=True, and neither
    Reconciling nor Stalled is True."""
    apply(kubectl, rule_spec())
    rule = reconciled(kubectl)
    conditions = {c["type"]: c for c in rule["status"]["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert all(c["status"] != "True" for t, c in conditions.items() if t in ("Reconciling", "Stalled"))
    for c in conditions.values():
        assert set(c) == {"type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"}
        assert c["observedGeneration"] == rule["metadata"]["generation"]


# --- crash safety ---------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["after-snapshot", "after-first-close"])
def test_a_crash_mid_update_ends_as_an_uninterrupted_run(kubectl: Kubectl, operator: Operator, fault: str) -> None:
    apply(kubectl, rule_spec())
    reconciled(kubectl)
    for i in (1, 2, 3):
        open_incident(kubectl, f"errors-{i}", i)
    operator.stop()
    operator.start(VIGIL_FAULT=fault)
    apply(kubectl, rule_spec() | {"query": "level:fatal"})
    assert operator.wait_killed() == -9
    operator.start()
    rule = reconciled(kubectl)
    assert names(kubectl, "alertrulesnapshots") == ["errors-g1"]
    assert rule["status"]["snapshotCount"] == 1 and rule["status"]["openIncidents"] == 0
    for i in (1, 2, 3):
        status = get(kubectl, "incident", f"errors-{i}")["status"]
        assert status["status"] == "Closed"
        assert [a["type"] for a in status["activity"]] == ["Created", "StatusChange"]
        assert len(status["notifications"]) == 3  # pagerduty, slack, and email once
    assert get(kubectl, "alertrulesnapshot", "errors-g1")["status"]["incidentCount"] == 3
    assert len([e for e in events(kubectl) if e["reason"] == "Updated"]) == 1
