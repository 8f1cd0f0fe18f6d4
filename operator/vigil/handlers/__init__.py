"""Kopf handlers; importing this package registers them."""

from vigil.handlers import alertrule, settings

__all__ = ["alertrule", "settings"]
