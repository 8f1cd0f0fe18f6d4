"""Kopf handlers; importing this package registers them."""

from vigil.handlers import alertrule, project, settings

__all__ = ["alertrule", "project", "settings"]
