"""The code stays free of unused imports, undefined names and syntax errors (ruff's pyflakes)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_ruff_finds_nothing() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is missing: it comes with the dev extra"
    res = subprocess.run([ruff, "check", "operator", "tests", "bench", "tools"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
