"""`replicas` as users install it: a wheel built from the repository, installed into a
fresh virtual environment outside it, run from a folder that is not the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "sample.mp4"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
# What a wheel is built from: the pyproject's packages and the files its metadata names.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "functions", "local")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `python -m pip wheel . --no-deps` builds, from a copy of the sources
    (building in place would write build/ into a tree others are editing)."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(ROOT / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-w", str(dist)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = dist.glob("replica_pipeline-*.whl")
    return wheel


@pytest.fixture(scope="module")
def replicas(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `replicas` command of `pip install '<wheel>[cli]'` in a new virtual environment
    (dependencies come from the package registry, through pip's cache)."""
    venv = tmp_path_factory.mktemp("user-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"{wheel}[cli]",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=outside_the_repository(),
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return venv / "bin" / "replicas"


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder outside the repository with no .local/ or cdk-outputs.json above it."""
    assert ROOT not in tmp_path.parents
    return tmp_path


def outside_the_repository(**settings: str) -> dict[str, str]:
    """This environment, less whatever points into the repository's own setup."""
    dropped = {"VIRTUAL_ENV", "PYTHONPATH", "AWS_ENDPOINT_URL"}
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in dropped and not key.startswith("REPLICAS_")
    }
    return {**environment, **settings}


def run(
    replicas: Path, *args: str, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(replicas), *args],
        cwd=cwd,
        env=dict(env) if env is not None else outside_the_repository(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_wheel_carries_the_licence_and_the_console_page(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()

    assert f"replica_pipeline-{VERSION}.dist-info/licenses/LICENSE" in names
    assert "replica_pipeline_local/cli/console_static/index.html" in names
    assert any(
        name.startswith("replica_pipeline_local/cli/console_static/assets/") for name in names
    )


def test_the_installed_cli_prints_its_version(replicas: Path, elsewhere: Path) -> None:
    shown = run(replicas, "--version", cwd=elsewhere)

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == f"replicas {VERSION}"


def test_the_installed_cli_checks_a_video_outside_the_repository(
    replicas: Path, elsewhere: Path
) -> None:
    checked = run(replicas, "--json", "check", str(SAMPLE), cwd=elsewhere)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["passed"] is True


def test_the_installed_cli_prints_bash_completion(replicas: Path, elsewhere: Path) -> None:
    script = run(replicas, "completion", "bash", cwd=elsewhere)

    assert script.returncode == 0, script.stderr
    assert "complete" in script.stdout
    assert "submit" in script.stdout


def test_outside_the_repository_without_a_stack_the_error_says_where_to_point_it(
    replicas: Path, elsewhere: Path
) -> None:
    listed = run(replicas, "--stack", "local", "list", cwd=elsewhere)

    assert listed.returncode == 1
    for hint in ("--local-state DIR", "REPLICAS_LOCAL_STATE", ".local/stack.json"):
        assert hint in listed.stderr


def test_the_installed_cli_lists_the_local_stack_named_by_the_environment(
    replicas: Path, elsewhere: Path, stack: dict[str, str]
) -> None:
    env = outside_the_repository(REPLICAS_LOCAL_STATE=stack["state_dir"])

    listed = run(replicas, "--stack", "local", "--json", "list", cwd=elsewhere, env=env)

    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert isinstance(json.loads(listed.stdout)["items"], list)


def test_the_installed_cli_lists_the_local_stack_named_by_the_option(
    replicas: Path, elsewhere: Path, stack: dict[str, str]
) -> None:
    listed = run(
        replicas, "--local-state", stack["state_dir"], "list", "--limit", "1", cwd=elsewhere
    )

    assert listed.returncode == 0, listed.stdout + listed.stderr
