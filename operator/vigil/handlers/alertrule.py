"""Kopf handlers for AlertRules: read, plan, write.

An update of a rule that has incidents runs Sentry's update_alert_rule in steps that are each
idempotent, so a crash anywhere and Kopf's retry end in the state an uninterrupted run leaves:
  1. write the AlertRuleSnapshot `<rule>-g<old generation>` (exists already: fine);
  2. re-point every incident of the rule to it (pointing there already: fine);
  3. close each one not closed (closed already: nothing added);
  4. record the incidents on the snapshot, then the new status on the rule.
The rule's status is written last, so until then a retry recomputes the same plan."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from vigil import incidents as lifecycle
from vigil import query, rulestatus
from vigil.faults import fault_point
from vigil.kube import RULE_LABEL, Body, Kube
from vigil.managers import spec_manager
from vigil.models import API_VERSION, GROUP, VERSION, AlertRuleSpec, AlertRuleStatus
from vigil.models.incident import IncidentStatus, IncidentStatusBlock
from vigil.models.snapshot import AlertRuleSnapshotSpec, RuleReference, SnapshotReason
from vigil.plan import Plan, archive, plan

RESOURCE = (GROUP, VERSION, "alertrules")
# A conflict or a passing API error is retried soon, not after Kopf's default minute.
RETRY = {"backoff": 5, "timeout": 600}


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _spec(raw: Any) -> AlertRuleSpec:
    try:
        return AlertRuleSpec.model_validate(dict(raw))
    except ValidationError as err:  # the CRD let through what the models refuse: a Vigil bug or an old CRD
        raise kopf.PermanentError(f"spec refused by the models: {err}") from err


_STATUS_KEYS = {f.alias or name for name, f in AlertRuleStatus.model_fields.items()}


def _status(raw: Any) -> AlertRuleStatus | None:
    """The rule's status as last written; keys this version does not know are ignored."""
    data = {k: v for k, v in dict(raw or {}).items() if k in _STATUS_KEYS}
    return AlertRuleStatus.model_validate(data) if data else None


def _missing_projects(kube: Kube, namespace: str, spec: AlertRuleSpec) -> list[str]:
    return [p for p in spec.projects or () if kube.get(namespace, "projects", p) is None]


def _open_count(kube: Kube, namespace: str, rule: str) -> int:
    return sum(
        1
        for inc in kube.rule_incidents(namespace, rule)
        if (inc.get("status") or {}).get("status", IncidentStatus.OPEN) != IncidentStatus.CLOSED
    )


def _problem(kube: Kube, namespace: str, spec: AlertRuleSpec) -> tuple[str, str] | None:
    """(reason, message) when the operator cannot act on the spec: what the API server could not
    check because it needs other objects or a parser."""
    try:
        query.parse(spec.query)
    except query.QueryError as err:
        return "InvalidQuery", f"query {spec.query!r} does not parse: {err}"
    missing = _missing_projects(kube, namespace, spec)
    if missing:
        return "ProjectNotFound", f"Project {', '.join(missing)} not found in namespace {namespace}"
    return None


def _check_acts_on(kube: Kube, body: Body, spec: AlertRuleSpec, previous: AlertRuleStatus | None) -> None:
    """Refuse, once and clearly, a spec the operator cannot act on (Ready=False, an Event, no retries)."""
    problem = _problem(kube, body["metadata"]["namespace"], spec)
    if problem is None:
        return
    reason, message = problem
    status = rulestatus.stalled(
        previous, generation=body["metadata"]["generation"], now=_now(), reason=reason, message=message
    )
    _patch_status(kube, body, status)
    kopf.warn(body, reason=reason, message=message)
    raise kopf.PermanentError(message)


def _snapshot_name(body: Body, generation: int) -> str:
    return f"{body['metadata']['name']}-g{generation}"


def _incidents(kube: Kube, body: Body, generation: int) -> list[Body]:
    """The incidents an archive of `generation` takes along (a retry finds some moved already)."""
    meta = body["metadata"]
    return kube.rule_incidents(meta["namespace"], meta["name"], _snapshot_name(body, generation))


def _archive_and_close(kube: Kube, body: Body, incidents: list[Body], old: AlertRuleSpec,
                       previous: AlertRuleStatus, reason: SnapshotReason, generation: int) -> str:  # fmt: skip
    """Steps 1-4 of an update (or delete) of a rule with incidents; the snapshot's name."""
    namespace = body["metadata"]["namespace"]
    snapshot = _snapshot_name(body, generation)
    kube.create_snapshot(namespace, _snapshot_body(body, snapshot, old, previous, reason, generation))
    fault_point("after-snapshot")
    now = _now()
    for inc in incidents:
        inc_name = inc["metadata"]["name"]
        if inc["spec"]["alertRuleRef"] != {"kind": "AlertRuleSnapshot", "name": snapshot}:
            inc = kube.repoint_incident(namespace, inc_name, "AlertRuleSnapshot", snapshot)
        current = IncidentStatusBlock.model_validate(inc.get("status") or {})
        closed = lifecycle.close_for_rule_change(current, previous.triggers, now)
        if closed is not None:
            kube.patch_status(namespace, "incidents", inc_name, closed.wire(), inc["metadata"]["resourceVersion"])
            fault_point("after-first-close")
    names = sorted(inc["metadata"]["name"] for inc in incidents)
    kube.patch_status(namespace, "alertrulesnapshots", snapshot, {"incidents": names, "incidentCount": len(names)}, None)
    return snapshot


def _snapshot_body(body: Body, snapshot: str, old: AlertRuleSpec, previous: AlertRuleStatus,
                   reason: SnapshotReason, generation: int) -> Body:  # fmt: skip
    meta = body["metadata"]
    spec = AlertRuleSnapshotSpec(
        alert_rule=RuleReference(name=meta["name"], uid=meta["uid"], generation=generation),
        rule=archive(old, previous),
        reason=reason,
        changed_by=spec_manager(meta.get("managedFields")),
        created_at=_now(),
    )
    return {
        "apiVersion": API_VERSION,
        "kind": "AlertRuleSnapshot",
        # Only our own label: tracking labels of Argo CD or Flux must not make them prune history.
        "metadata": {"name": snapshot, "namespace": meta["namespace"], "labels": {RULE_LABEL: meta["name"]}},
        "spec": spec.wire(),
    }


def _patch_status(kube: Kube, body: Body, status: AlertRuleStatus) -> None:
    """Written by us rather than through Kopf's patch, so the write carries our field manager."""
    kube.update_status(body, "alertrules", status.wire())


def _write(kube: Kube, body: Body, plan_: Plan, previous: AlertRuleStatus | None, snapshot: str | None,
           open_incidents: int) -> None:  # fmt: skip
    status = rulestatus.reconciled(
        previous,
        plan_,
        generation=body["metadata"]["generation"],
        now=_now(),
        open_incidents=open_incidents,
        snapshot=snapshot,
    )
    _patch_status(kube, body, status)


def establish(kube: Kube, body: Body) -> None:
    """Take a rule into service: ids, status, Ready, a Created Event (or refuse it, once)."""
    new, previous = _spec(body["spec"]), _status(body.get("status"))
    _check_acts_on(kube, body, new, previous)
    meta = body["metadata"]
    plan_ = plan(None, new, previous, uid=meta["uid"], generation=meta["generation"])
    _write(kube, body, plan_, previous, None, _open_count(kube, meta["namespace"], meta["name"]))
    kopf.info(body, reason="Created", message=f"{plan_.summary}; resolution {plan_.resolution} min")


def waiting_for_project(rule: Body, project: str) -> bool:
    """Whether the rule was refused for lacking this project (and so waits for it)."""
    ready = next((c for c in (rule.get("status") or {}).get("conditions", []) if c["type"] == "Ready"), {})
    return ready.get("reason") == "ProjectNotFound" and project in (rule["spec"].get("projects") or [])


@kopf.on.create(*RESOURCE, **RETRY)
def rule_created(body: Body, memo: Any, **_: Any) -> None:
    establish(memo.kube, body)


@kopf.on.update(*RESOURCE, field="spec", **RETRY)
def rule_updated(body: Body, old: Any, new: Any, status: Any, memo: Any, **_: Any) -> None:
    kube: Kube = memo.kube
    new_spec, previous = _spec(new), _status(status)
    _check_acts_on(kube, body, new_spec, previous)
    old_spec = _spec(old) if old else None
    meta = body["metadata"]
    plan_ = plan(old_spec, new_spec, previous, uid=meta["uid"], generation=meta["generation"])
    snapshot, open_incidents = None, previous.open_incidents if previous else 0
    if plan_.changed and old_spec is not None and previous is not None:
        old_generation = previous.observed_generation or meta["generation"] - 1
        incidents = _incidents(kube, body, old_generation)
        if plan_.snapshot_due(has_incidents=bool(incidents)):
            snapshot = _archive_and_close(kube, body, incidents, old_spec, previous, SnapshotReason.RULE_UPDATED,
                                          old_generation)  # fmt: skip
        open_incidents = 0  # every incident the rule had is now closed on the snapshot
    _write(kube, body, plan_, previous, snapshot, open_incidents)
    if plan_.changed:
        where = f"; archived as {snapshot}" if snapshot else ""
        kopf.info(body, reason="Updated", message=f"{plan_.summary}{where}")


@kopf.on.resume(*RESOURCE, **RETRY)
def rule_resumed(body: Body, spec: Any, status: Any, memo: Any, **_: Any) -> None:
    """After a restart: a rule never reconciled is handled as created; otherwise only what may
    have moved while the operator was away (the open incident count) is refreshed."""
    kube: Kube = memo.kube
    previous = _status(status)
    if previous is None or not previous.triggers:
        establish(kube, body)
        return
    count = _open_count(kube, body["metadata"]["namespace"], body["metadata"]["name"])
    if count != previous.open_incidents:
        _patch_status(kube, body, previous.model_copy(update={"open_incidents": count}))


@kopf.on.delete(*RESOURCE, **RETRY)
def rule_deleted(body: Body, spec: Any, status: Any, memo: Any, **_: Any) -> None:
    """With incidents, a final snapshot (RuleDeleted) and the incidents closed; else nothing."""
    previous = _status(status)
    if previous is None:
        return  # never reconciled: it has no ids, so it raised no incident
    try:
        current = AlertRuleSpec.model_validate(dict(spec))
    except ValidationError:
        return
    # Deletion bumps metadata.generation; what is archived is the spec last handled.
    generation = previous.observed_generation or body["metadata"]["generation"]
    incidents = _incidents(memo.kube, body, generation)
    if incidents:
        snapshot = _archive_and_close(memo.kube, body, incidents, current, previous, SnapshotReason.RULE_DELETED,
                                      generation)  # fmt: skip
        kopf.info(body, reason="Deleted", message=f"archived as {snapshot}; its incidents are closed")
