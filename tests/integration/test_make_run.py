"""The quick start, as a new user types it: `make run` in a fresh clone."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_make_run_from_a_fresh_clone_trains_the_sample(tmp_path: Path) -> None:
    clone = tmp_path / "replica-pipeline"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment.pop("VIRTUAL_ENV", None)
    try:
        result = subprocess.run(
            ["make", "run"],
            cwd=clone,
            env=environment,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "status      completed (100%)" in result.stdout
        assert (clone / ".local" / "stack.json").exists()
        assert "make down" in result.stdout
    finally:
        subprocess.run(["make", "down"], cwd=clone, env=environment, check=False)
    assert not (clone / ".local" / "stack.json").exists()
