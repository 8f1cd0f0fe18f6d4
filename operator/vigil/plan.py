"""The planner: what an AlertRule update does, as a pure diff of the last handled spec and the new
one (SENTRY_SEMANTICS.md "Update", steps 2-5). No I/O, no clocks, no randomness: the same inputs
give an equal Plan, so a reconcile that crashed and is retried writes exactly the same ids.

Identity across applies (YAML has no database ids): a trigger is its label; an action is
`action_identity` (its name, else type + targetType + targetIdentifier + integration). Same
identity = updated in place, keeping its id; gone = deleted; new = created. What counts as
existing is the old spec; `status` only says which ids were assigned.

Ids: an identity keeps the id `status` holds for it; otherwise it gets one minted from (rule uid,
identity, generation). Minting is deterministic, so a retry mints the same ids, and never reuses
an id, because anything re-created after a deletion is minted at a later generation. Two edges:
- status lost the ids of triggers or actions the old spec had: they still count as existing
  (updated or unchanged, never created) and get ids minted at this generation, as if created now;
- status already holds an id for an identity the old spec lacks (an interrupted apply of this
  change wrote status, then the spec moved on): it is created, under the id status holds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from vigil.models.alertrule import (
    Action,
    ActionStatus,
    AlertRuleSpec,
    AlertRuleStatus,
    DetectionType,
    Seasonality,
    Sensitivity,
    Trigger,
    TriggerStatus,
    action_identity,
    effective_detection_type,
    stored_threshold,
)
from vigil.models.snapshot import ArchivedRule

ActionIdentity = tuple[str, ...]

# Rule-level spec fields as (python name, camelCase name), in spec order; triggers are diffed apart.
RULE_FIELDS: tuple[tuple[str, str], ...] = tuple(
    (name, info.alias or name) for name, info in AlertRuleSpec.model_fields.items() if name != "triggers"
)
# Lists declared as sets (x-kubernetes-list-type: set): reordering them changes nothing.
SET_FIELDS = frozenset({"projects", "event_types"})
# A change to these starts a fresh evaluation series, as Sentry re-creates the subscription.
SERIES_FIELDS = ("query", "aggregate", "timeWindow", "dataset", "eventTypes", "environment", "projects")

# Minutes between evaluations for windows of at least the key (Sentry step 3); below 30: 1.
RESOLUTIONS: dict[int, int] = {30: 2, 60: 3, 90: 3, 120: 3, 240: 5, 720: 5, 1440: 15}
DEFAULT_RESOLUTION = 1
PERCENT_RESOLUTION_FACTOR = 2  # a percent rule also queries the window comparisonDelta ago
# The summary becomes an Event message, which Kopf cuts at 1024 characters: cut it ourselves.
SUMMARY_LIMIT = 1024


# --- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionChange:
    """An action deleted, updated in place or created, with the id it has (or had)."""

    id: str
    identity: ActionIdentity

    @property
    def display(self) -> str:
        """How a human names the action: its name, else type:target (@integration)."""
        if self.identity[0] == "name":
            return self.identity[1]
        _, kind, _, target, integration = self.identity
        return f"{kind}:{target}" + (f"@{integration}" if integration else "")


@dataclass(frozen=True)
class TriggerChange:
    """A trigger deleted, updated or created, with its id. A deleted trigger lists all its actions
    as deleted and a created one all its actions as created (they go with it, as in Sentry)."""

    label: str
    id: str
    threshold_changed: bool = False
    actions_deleted: tuple[ActionChange, ...] = ()
    actions_updated: tuple[ActionChange, ...] = ()
    actions_created: tuple[ActionChange, ...] = ()

    @property
    def changed(self) -> bool:
        return self.threshold_changed or bool(self.actions_deleted or self.actions_updated or self.actions_created)


@dataclass(frozen=True)
class Plan:
    """What an apply changes, in the order Sentry applies it: rule fields and the settings they
    imply (steps 2-4), then triggers deleted, updated, created (step 5).

    The effective detection settings and `triggers` go to status; the user's spec is never
    rewritten. `triggers` holds pydantic models: treat them as read-only."""

    created: bool
    changed_fields: tuple[str, ...]
    detection_type: DetectionType
    sensitivity: Sensitivity | None
    seasonality: Seasonality | None
    comparison_delta: int | None
    resolution: int
    series_restarted: bool
    triggers_deleted: tuple[TriggerChange, ...]
    triggers_updated: tuple[TriggerChange, ...]
    triggers_created: tuple[TriggerChange, ...]
    triggers: tuple[TriggerStatus, ...]

    @property
    def changed(self) -> bool:
        """Anything at all differs; re-applying the same spec gives False."""
        return self.created or bool(
            self.changed_fields or self.triggers_deleted or self.triggers_updated or self.triggers_created
        )

    def snapshot_due(self, has_incidents: bool) -> bool:
        """Sentry step 1: an update of a rule with incidents archives the old rule first. A
        re-apply that changes nothing is no update; a create has nothing to archive."""
        return has_incidents and self.changed and not self.created

    @property
    def summary(self) -> str:
        """One line naming what changed: the Event message and status.lastChange.summary."""
        if self.created:
            return "created"
        survivors = self.triggers_updated
        parts = [f"changed {', '.join(self.changed_fields)}"] if self.changed_fields else []
        parts += [f"deleted trigger {t.label}" for t in self.triggers_deleted]
        parts += [f"deleted action {a.display} on {t.label}" for t in survivors for a in t.actions_deleted]
        parts += [f"updated threshold of {t.label}" for t in survivors if t.threshold_changed]
        parts += [f"updated action {a.display} on {t.label}" for t in survivors for a in t.actions_updated]
        parts += [f"created trigger {t.label}" for t in self.triggers_created]
        parts += [f"created action {a.display} on {t.label}" for t in survivors for a in t.actions_created]
        return _clip("; ".join(parts) or "unchanged")


def plan(
    old: AlertRuleSpec | None, new: AlertRuleSpec, status: AlertRuleStatus | None, *, uid: str, generation: int
) -> Plan:
    """What applying `new` over `old` (None: a create) does to the rule with this uid, whose
    metadata.generation is now `generation`. `status` supplies the ids assigned so far.

    On create nothing has "changed" (changed_fields is empty, series_restarted False): the rule
    is new, which `created` says."""
    ids = _Ids.of(status, uid=uid, generation=generation)
    detection, sensitivity, seasonality, comparison_delta = _detection_settings(new)
    changed_fields = _changed_fields(old, new) if old is not None else ()
    deleted, updated, created, triggers = _plan_triggers(old, new, ids)
    return Plan(
        created=old is None,
        changed_fields=changed_fields,
        detection_type=detection,
        sensitivity=sensitivity,
        seasonality=seasonality,
        comparison_delta=comparison_delta,
        # A pure function of window and detection, so recomputing it always is the same as
        # Sentry's "recompute when timeWindow or comparisonDelta change".
        resolution=resolution_for(new.time_window, detection),
        series_restarted=any(f in SERIES_FIELDS for f in changed_fields),
        triggers_deleted=deleted,
        triggers_updated=updated,
        triggers_created=created,
        triggers=triggers,
    )


# --- rule fields (steps 2-4) ----------------------------------------------------------------


def _changed_fields(old: AlertRuleSpec, new: AlertRuleSpec) -> tuple[str, ...]:
    """The camelCase names of the rule-level fields whose value differs, as written in the spec
    (setting detectionType to the type already inferred is still a change of the spec)."""
    return tuple(wire for name, wire in RULE_FIELDS if _field_value(old, name) != _field_value(new, name))


def _field_value(spec: AlertRuleSpec, name: str) -> Any:
    value = getattr(spec, name)
    return sorted(value) if name in SET_FIELDS and value is not None else value


def _detection_settings(
    spec: AlertRuleSpec,
) -> tuple[DetectionType, Sensitivity | None, Seasonality | None, int | None]:
    """Sentry step 2: the effective detection type decides which of its settings hold. static
    clears sensitivity, seasonality and comparisonDelta; percent clears sensitivity and
    seasonality; dynamic clears comparisonDelta and models seasonality `auto` unless told."""
    detection = effective_detection_type(spec)
    if detection is DetectionType.STATIC:
        return detection, None, None, None
    if detection is DetectionType.PERCENT:
        return detection, None, None, spec.comparison_delta
    sensitivity = Sensitivity(spec.sensitivity) if spec.sensitivity else None
    return detection, sensitivity, Seasonality(spec.seasonality or Seasonality.AUTO), None


def resolution_for(time_window: int, detection: DetectionType) -> int:
    """Minutes between evaluations (Sentry step 3): 1 for windows under 30 minutes, else the
    value for the largest key not above the window; doubled for percent rules."""
    key = max((window for window in RESOLUTIONS if window <= time_window), default=None)
    base = DEFAULT_RESOLUTION if key is None else RESOLUTIONS[key]
    return base * PERCENT_RESOLUTION_FACTOR if DetectionType(detection) is DetectionType.PERCENT else base


# --- triggers and actions (step 5) ----------------------------------------------------------


def _plan_triggers(
    old: AlertRuleSpec | None, new: AlertRuleSpec, ids: _Ids
) -> tuple[tuple[TriggerChange, ...], tuple[TriggerChange, ...], tuple[TriggerChange, ...], tuple[TriggerStatus, ...]]:
    """Triggers by label, deletes first (Sentry step 5). A trigger dropped from the spec is
    deleted with all its actions, and its id is never used again. A label that stays keeps its id
    and is updated when its stored threshold or any of its actions changed. A new label is
    created with its actions, under ids minted at this generation."""
    triggers = tuple(_trigger_status(new, t, ids) for t in new.triggers)
    if old is None:
        return (), (), tuple(_added(t, ids) for t in new.triggers), triggers
    before = {t.label: t for t in old.triggers}
    after = {t.label: t for t in new.triggers}
    deleted = tuple(_dropped(t, ids) for label, t in before.items() if label not in after)
    kept = (_kept(old, new, before[label], t, ids) for label, t in after.items() if label in before)
    updated = tuple(change for change in kept if change.changed)
    created = tuple(_added(t, ids) for label, t in after.items() if label not in before)
    return deleted, updated, created, triggers


def _dropped(trigger: Trigger, ids: _Ids) -> TriggerChange:
    tid = ids.trigger(trigger.label)
    return TriggerChange(trigger.label, tid, actions_deleted=_whole(trigger, tid, ids))


def _added(trigger: Trigger, ids: _Ids) -> TriggerChange:
    tid = ids.trigger(trigger.label)
    return TriggerChange(trigger.label, tid, actions_created=_whole(trigger, tid, ids))


def _kept(old_spec: AlertRuleSpec, new_spec: AlertRuleSpec, old: Trigger, new: Trigger, ids: _Ids) -> TriggerChange:
    """A trigger whose label stays. Thresholds compare as stored, so 50 on a percent rule that
    turns from above to below (150 -> 50) is a change, and an unchanged number is not."""
    tid = ids.trigger(new.label)
    threshold_changed = stored_threshold(old_spec, old.alert_threshold) != stored_threshold(
        new_spec, new.alert_threshold
    )
    return TriggerChange(new.label, tid, threshold_changed, *_plan_actions(old, new, tid, ids))


def _plan_actions(
    old: Trigger, new: Trigger, tid: str, ids: _Ids
) -> tuple[tuple[ActionChange, ...], tuple[ActionChange, ...], tuple[ActionChange, ...]]:
    """Actions of a kept trigger by identity, deletes first. A dropped action is deleted; one
    whose identity stays keeps its id and is updated when any of its fields changed (so a named
    action whose target changes is updated in place, while an unnamed one is a delete plus a
    create); a new identity is created. Their order in the list means nothing."""
    before = {action_identity(a): a for a in old.actions}
    after = {action_identity(a): a for a in new.actions}
    deleted = tuple(_action_change(key, new.label, tid, ids) for key in before if key not in after)
    updated = tuple(
        _action_change(key, new.label, tid, ids)
        for key, action in after.items()
        if key in before and _differs(before[key], action)
    )
    created = tuple(_action_change(key, new.label, tid, ids) for key in after if key not in before)
    return deleted, updated, created


def _whole(trigger: Trigger, tid: str, ids: _Ids) -> tuple[ActionChange, ...]:
    """The actions of a trigger deleted or created as a whole."""
    return tuple(_action_change(action_identity(a), trigger.label, tid, ids) for a in trigger.actions)


def _action_change(identity: ActionIdentity, label: str, tid: str, ids: _Ids) -> ActionChange:
    return ActionChange(ids.action(label, tid, identity), identity)


def _differs(old: Action, new: Action) -> bool:
    return old.model_dump() != new.model_dump()


def _trigger_status(spec: AlertRuleSpec, trigger: Trigger, ids: _Ids) -> TriggerStatus:
    """A trigger as status records it: with ids, and the threshold as Sentry stores it."""
    tid = ids.trigger(trigger.label)
    return TriggerStatus(
        id=tid,
        label=trigger.label,
        alert_threshold=stored_threshold(spec, trigger.alert_threshold),
        actions=[
            ActionStatus(
                id=ids.action(trigger.label, tid, action_identity(a)),
                name=a.name,
                type=a.type,
                target_type=a.target_type,
                target_identifier=a.target_identifier,
                integration=a.integration,
            )
            for a in trigger.actions
        ],
    )


# --- ids ------------------------------------------------------------------------------------


def trigger_id(uid: str, label: str, generation: int) -> str:
    """The id minted for a trigger first seen (or first seen again) at `generation`."""
    return "t-" + _digest(uid, "trigger", label, generation)


def action_id(uid: str, trigger_id: str, identity: ActionIdentity, generation: int) -> str:
    """The id minted for an action first seen (or first seen again) at `generation`."""
    return "a-" + _digest(uid, "action", trigger_id, list(identity), generation)


def _digest(*parts: Any) -> str:
    # JSON keeps the parts apart unambiguously; 48 bits is plenty within one rule.
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class _Ids:
    """Where ids come from: the one status holds for an identity, else one minted now."""

    uid: str
    generation: int
    held: dict[str, TriggerStatus]

    @classmethod
    def of(cls, status: AlertRuleStatus | None, *, uid: str, generation: int) -> _Ids:
        return cls(uid, generation, _held_triggers(status))

    def trigger(self, label: str) -> str:
        held = self.held.get(label)
        return held.id if held else trigger_id(self.uid, label, self.generation)

    def action(self, label: str, tid: str, identity: ActionIdentity) -> str:
        return _held_action_id(self.held.get(label), identity) or action_id(self.uid, tid, identity, self.generation)


def _held_triggers(status: AlertRuleStatus | None) -> dict[str, TriggerStatus]:
    return {t.label: t for t in status.triggers} if status is not None else {}


def _held_action_id(trigger: TriggerStatus | None, identity: ActionIdentity) -> str | None:
    for held in trigger.actions if trigger is not None else ():
        # ActionStatus carries exactly the fields action_identity reads.
        if action_identity(held) == identity:  # type: ignore[arg-type]
            return held.id
    return None


# --- snapshots ------------------------------------------------------------------------------


def archive(spec: AlertRuleSpec, status: AlertRuleStatus | None) -> ArchivedRule:
    """The spec as it was, with the ids status holds for its triggers and actions (matched by
    identity), for the AlertRuleSnapshot written before an update. An id status does not hold is
    archived as "": history records what was known and invents nothing."""
    held = _held_triggers(status)
    rule = spec.model_dump()
    for data, trigger in zip(rule["triggers"], spec.triggers):
        held_trigger = held.get(trigger.label)
        data["id"] = held_trigger.id if held_trigger else ""
        for action_data, action in zip(data["actions"], trigger.actions):
            action_data["id"] = _held_action_id(held_trigger, action_identity(action)) or ""
    return ArchivedRule.model_validate(rule)


def _clip(text: str) -> str:
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"
