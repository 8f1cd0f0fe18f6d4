"""Test-only fault points: `VIGIL_FAULT=<point>` makes the process SIGKILL itself there, so tests
can prove that a crash between two steps of a reconcile leaves nothing half done."""

from __future__ import annotations

import os
import signal

ENV = "VIGIL_FAULT"


def fault_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
