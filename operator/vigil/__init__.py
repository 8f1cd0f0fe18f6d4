"""Vigil: Sentry-style metric alerting as Kubernetes-native resources."""

__version__ = "0.1.0"
