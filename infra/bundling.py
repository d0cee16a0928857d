"""The one code asset of every function: ``replica_pipeline`` plus its wheels, without Docker.

The pinned runtime dependencies come from ``pyproject.toml`` (one home for
each pin). boto3 ships with the Lambda runtime and Powertools (with pydantic
and the X-Ray SDK) with its public layer, so neither is bundled.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import BundlingOptions, FileSystem, ILocalBundling
from aws_cdk import aws_lambda as lambda_

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
PACKAGE = "replica_pipeline"
PYPROJECT = ROOT / "pyproject.toml"

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
# Wheels for Lambda's arm64 Python (Amazon Linux 2023, glibc 2.34).
WHEEL_PLATFORM = "manylinux2014_aarch64"

# Provided at run time: boto3 by the Lambda runtime, Powertools by its layer.
PROVIDED_BY_RUNTIME = frozenset({"boto3", "botocore", "aws-lambda-powertools"})

# Byte-code caches: never shipped, never part of the asset's hash.
EXCLUDE = ("**/__pycache__", "**/*.pyc")


def runtime_python_version() -> str:
    """``3.13`` for ``python3.13``: pip resolves wheels for the runtime, not for this machine."""
    match = re.fullmatch(r"python(\d+\.\d+)", RUNTIME.name)
    if match is None:
        raise ValueError(f"not a Python runtime: {RUNTIME.name}")
    return match.group(1)


def _distribution_name(requirement: str) -> str:
    name = re.split(r"[\s<>=!~;\[@]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def bundled_requirements(pyproject: Path = PYPROJECT) -> tuple[str, ...]:
    """The ``[project].dependencies`` pins the functions need and the runtime does not provide."""
    with pyproject.open("rb") as file:
        dependencies: list[str] = tomllib.load(file)["project"]["dependencies"]
    return tuple(
        requirement
        for requirement in dependencies
        if _distribution_name(requirement) not in PROVIDED_BY_RUNTIME
    )


@jsii.implements(ILocalBundling)
class PipInstallLocally:
    """Bundles on this machine: pip fetches manylinux wheels for the Lambda platform, no Docker."""

    def __init__(self, requirements: Sequence[str], source: Path = FUNCTIONS_DIR / PACKAGE) -> None:
        self.requirements = tuple(requirements)
        self.source = source

    def pip_command(self, output_dir: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",  # .pyc from this interpreter would not match the runtime's
            "--target",
            output_dir,
            "--platform",
            WHEEL_PLATFORM,
            "--only-binary=:all:",
            "--python-version",
            runtime_python_version(),
            "--implementation",
            "cp",
            *self.requirements,
        ]

    def try_bundle(self, output_dir: str, *options: Any, **option_fields: Any) -> bool:
        """Called by CDK with the bundling options, which this bundler does not need (jsii
        passes them as one positional struct, the typed protocol spells them as keywords)."""
        subprocess.run(self.pip_command(output_dir), check=True)  # nosec B603 # noqa: S603 - fixed argv
        # Console scripts of the wheels (hachoir-metadata, normalizer, ...) are never run.
        shutil.rmtree(Path(output_dir) / "bin", ignore_errors=True)
        shutil.copytree(
            self.source,
            Path(output_dir) / self.source.name,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            dirs_exist_ok=True,
        )
        return True


def asset_hash(requirements: Sequence[str], source: Path = FUNCTIONS_DIR / PACKAGE) -> str:
    """Covers the package source, the pins and the target platform: a new pin rebuilds the asset
    even when no source file changed, and an unchanged tree reuses the bundle in cdk.out."""
    return FileSystem.fingerprint(
        str(source),
        exclude=list(EXCLUDE),
        extra_hash=json.dumps([list(requirements), RUNTIME.name, WHEEL_PLATFORM]),
    )


def functions_code() -> lambda_.Code:
    """The shared asset of every function."""
    requirements = bundled_requirements()
    return lambda_.Code.from_asset(
        str(FUNCTIONS_DIR),
        asset_hash=asset_hash(requirements),
        bundling=BundlingOptions(
            image=RUNTIME.bundling_image,
            local=PipInstallLocally(requirements),
        ),
    )
