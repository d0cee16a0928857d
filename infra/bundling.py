"""The one code asset of every function: ``replica_pipeline`` plus its wheels, without Docker.

The wheels come from ``requirements/functions.lock`` (``make lock`` writes it
from ``[project].dependencies``): every transitive runtime dependency, pinned
with its hashes and resolved for Lambda's arm64 Python. pip installs exactly
those (``--require-hashes --no-deps``), so the same lock gives the same bundle.
Powertools is bundled too, at the version the tests run; only boto3 and
botocore, which the Lambda runtime provides, are left out.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import BundlingOptions, FileSystem, ILocalBundling
from aws_cdk import aws_lambda as lambda_

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
PACKAGE = "replica_pipeline"
PYPROJECT = ROOT / "pyproject.toml"
# Every runtime dependency of the functions, with hashes (make lock).
LOCK = ROOT / "requirements" / "functions.lock"
# The packages uv leaves out of the lock's resolution (make lock passes it as --excludes).
PROVIDED_LIST = ROOT / "requirements" / "provided-by-lambda.txt"

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
# Wheels for Lambda's arm64 Python (Amazon Linux 2023, glibc 2.34).
WHEEL_PLATFORM = "manylinux2014_aarch64"

# Provided by the Lambda runtime, so neither locked nor bundled (with what only they need).
PROVIDED_BY_RUNTIME = frozenset({"boto3", "botocore"})

# Byte-code caches: never shipped, never part of the asset's hash.
EXCLUDE = ("**/__pycache__", "**/*.pyc")

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def runtime_python_version() -> str:
    """``3.13`` for ``python3.13``: pip resolves wheels for the runtime, not for this machine."""
    match = re.fullmatch(r"python(\d+\.\d+)", RUNTIME.name)
    if match is None:
        raise ValueError(f"not a Python runtime: {RUNTIME.name}")
    return match.group(1)


def distribution_name(requirement: str) -> str:
    """The normalized name (PEP 503) of a requirement: ``aws-lambda-powertools[tracer]==3`` ->
    ``aws-lambda-powertools``."""
    name = re.split(r"[\s<>=!~;\[@]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(lock: Path = LOCK) -> dict[str, str]:
    """``{normalized name: version}`` of every package the lock pins."""
    return {distribution_name(name): version for name, version in _PIN.findall(lock.read_text())}


def lambda_platform_options() -> list[str]:
    """pip's options to fetch wheels for Lambda's platform rather than this machine's."""
    return [
        "--platform",
        WHEEL_PLATFORM,
        "--python-version",
        runtime_python_version(),
        "--implementation",
        "cp",
    ]


@jsii.implements(ILocalBundling)
class PipInstallLocally:
    """Bundles on this machine: pip fetches the locked manylinux wheels for the Lambda platform,
    checks each against the lock's hashes, and resolves nothing itself (no Docker needed)."""

    def __init__(
        self,
        lock: Path = LOCK,
        source: Path = FUNCTIONS_DIR / PACKAGE,
        *,
        for_lambda: bool = True,
    ) -> None:
        self.lock = lock
        self.source = source
        # False: wheels for this machine, so the bundle can be imported here (benchmarks and
        # the import test); same lock, same versions, other compiled files.
        self.for_lambda = for_lambda

    def pip_command(self, output_dir: str) -> list[str]:
        platform = lambda_platform_options() if self.for_lambda else []
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
            *platform,
            "--only-binary=:all:",
            # The lock is the whole resolution: a missing or tampered wheel fails the build.
            "--require-hashes",
            "--no-deps",
            "--requirement",
            str(self.lock),
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


def asset_hash(lock: Path = LOCK, source: Path = FUNCTIONS_DIR / PACKAGE) -> str:
    """Covers the package source, the lock and the target platform: a relocked dependency
    rebuilds the asset even when no source file changed, and an unchanged tree reuses the
    bundle in cdk.out."""
    lock_digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    return FileSystem.fingerprint(
        str(source),
        exclude=list(EXCLUDE),
        extra_hash=json.dumps([lock_digest, RUNTIME.name, WHEEL_PLATFORM]),
    )


def functions_code() -> lambda_.Code:
    """The shared asset of every function."""
    return lambda_.Code.from_asset(
        str(FUNCTIONS_DIR),
        asset_hash=asset_hash(),
        bundling=BundlingOptions(
            image=RUNTIME.bundling_image,
            local=PipInstallLocally(),
        ),
    )
