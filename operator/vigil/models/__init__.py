"""Vigil's resources as pydantic models: the single source of the CRD schemas and validation."""

from vigil.models.alertrule import (
    Action,
    AlertRule,
    AlertRuleSpec,
    AlertRuleStatus,
    Trigger,
    action_identity,
    effective_detection_type,
    stored_threshold,
)
from vigil.models.base import API_VERSION, CATEGORY, GROUP, VERSION, Condition, Resource
from vigil.models.incident import Incident, IncidentSpec, IncidentStatusBlock
from vigil.models.project import Project, ProjectSpec, ProjectStatus
from vigil.models.snapshot import AlertRuleSnapshot, AlertRuleSnapshotSpec, ArchivedRule

# Every custom resource Vigil defines, in the order the CRD files are written.
RESOURCES: tuple[type[Resource], ...] = (AlertRule, AlertRuleSnapshot, Incident, Project)

__all__ = [
    "API_VERSION",
    "CATEGORY",
    "GROUP",
    "RESOURCES",
    "VERSION",
    "Action",
    "AlertRule",
    "AlertRuleSnapshot",
    "AlertRuleSnapshotSpec",
    "AlertRuleSpec",
    "AlertRuleStatus",
    "ArchivedRule",
    "Condition",
    "Incident",
    "IncidentSpec",
    "IncidentStatusBlock",
    "Project",
    "ProjectSpec",
    "ProjectStatus",
    "Resource",
    "Trigger",
    "action_identity",
    "effective_detection_type",
    "stored_threshold",
]
