"""Incident status changes and the resolve notifications a rule change owes."""

from __future__ import annotations

from datetime import UTC, datetime

from vigil.incidents import AUTO_RESOLVED, change_status, close_for_rule_change, resolve_notifications
from vigil.models.alertrule import ActionStatus, TriggerStatus
from vigil.models.incident import IncidentStatus, IncidentStatusBlock, IncidentTrigger, StatusMethod

T0 = datetime(2026, 12, 1, 10, tzinfo=UTC)
T1 = datetime(2026, 12, 1, 11, tzinfo=UTC)


def action(id: str, type: str, target: str, integration: str | None = None) -> ActionStatus:
    target_type = "team" if type == "email" else "specific"
    return ActionStatus(id=id, type=type, target_type=target_type, target_identifier=target, integration=integration)


TRIGGERS = [
    TriggerStatus(id="t1", label="critical", alert_threshold=100,
                  actions=[action("a1", "pagerduty", "svc"), action("a2", "email", "backend")]),
    TriggerStatus(id="t2", label="warning", alert_threshold=50,
                  actions=[action("a3", "email", "backend"), action("a4", "slack", "#ops", "acme")]),
]  # fmt: skip


def critical() -> IncidentStatusBlock:
    return IncidentStatusBlock(
        status=IncidentStatus.CRITICAL, triggers=[IncidentTrigger(label="critical", state="Active")]
    )


def test_same_status_changes_nothing() -> None:
    assert change_status(critical(), IncidentStatus.CRITICAL, StatusMethod.MANUAL, T1) is None


def test_closing_records_the_change_and_date() -> None:
    closed = change_status(critical(), IncidentStatus.CLOSED, StatusMethod.MANUAL, T1, "done")
    assert closed is not None
    assert (closed.status, closed.status_method, closed.date_closed) == ("Closed", "Manual", T1)
    (entry,) = closed.activity
    assert (entry.type, entry.value, entry.previous_value, entry.comment) == ("StatusChange", "Closed", "Critical", "done")


def test_reopening_clears_the_closing_date() -> None:
    closed = change_status(critical(), IncidentStatus.CLOSED, StatusMethod.MANUAL, T0)
    assert closed is not None
    reopened = change_status(closed, IncidentStatus.OPEN, StatusMethod.MANUAL, T1)
    assert reopened is not None and reopened.date_closed is None and len(reopened.activity) == 2


def test_resolve_goes_once_per_target_preferring_the_warning_copy() -> None:
    owed = resolve_notifications(TRIGGERS, T1)
    assert [(n.action_id, n.trigger, n.event) for n in owed] == [
        ("a3", "warning", "resolve"), ("a4", "warning", "resolve"), ("a1", "critical", "resolve")]  # fmt: skip
    assert {n.state for n in owed} == {"Pending"}


def test_rule_change_closes_resolves_triggers_and_owes_notifications_once() -> None:
    closed = close_for_rule_change(critical(), TRIGGERS, T1)
    assert closed is not None
    assert (closed.status, closed.status_method) == ("Closed", "RuleUpdated")
    assert closed.activity[-1].comment == AUTO_RESOLVED
    assert [t.state for t in closed.triggers] == ["Resolved"]
    assert len(closed.notifications) == 3
    # A retry of the same step finds it closed and adds nothing.
    assert close_for_rule_change(closed, TRIGGERS, T1) is None
