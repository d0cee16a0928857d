"""The functions' code assets: ``replica_pipeline`` plus its wheels, built without Docker.

The wheels come from ``requirements/functions.lock`` (``make lock`` writes it
from ``[project].dependencies``): every transitive runtime dependency, pinned
with its hashes and resolved for Lambda's arm64 Python. pip installs exactly
those (``--require-hashes --no-deps``), so the same lock gives the same bundle.
Powertools is bundled too, at the version the tests run; only boto3 and
botocore, which the Lambda runtime provides, are left out.

Every function shares that asset but the deep-check one (the ``deep_check``
setting), whose asset is built the same way from ``requirements/deep-check.lock``:
the same pins plus the ``deep-check`` extra (PyAV, numpy, OpenCV), about ten
times the size, which the other functions would only load more slowly.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
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
# The deep-check function's: the same pins plus the deep-check extra (make lock).
DEEP_CHECK_LOCK = ROOT / "requirements" / "deep-check.lock"
# The packages uv leaves out of the lock's resolution (make lock passes it as --excludes).
PROVIDED_LIST = ROOT / "requirements" / "provided-by-lambda.txt"

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
# Wheels for Lambda's arm64 Python (Amazon Linux 2023, glibc 2.34).
WHEEL_PLATFORM = "manylinux2014_aarch64"
# PyAV's and numpy's arm64 wheels need glibc 2.28, which Amazon Linux 2023 has; the rest of
# the deep-check lock is manylinux2014 (glibc 2.17). pip takes the first platform it can.
DEEP_CHECK_WHEEL_PLATFORMS = ("manylinux_2_28_aarch64", WHEEL_PLATFORM)

# Provided by the Lambda runtime, so neither locked nor bundled (with what only they need).
PROVIDED_BY_RUNTIME = frozenset({"boto3", "botocore"})

# Byte-code caches: never shipped, never part of the asset's hash.
EXCLUDE = ("**/__pycache__", "**/*.pyc")

# The face detector's model (replica_pipeline.preflight.faces loads it from cv2.data).
FACE_CASCADE = "cv2/data/haarcascade_frontalface_default.xml"

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


def lambda_platform_options(platforms: Sequence[str] = (WHEEL_PLATFORM,)) -> list[str]:
    """pip's options to fetch wheels for Lambda's platform rather than this machine's."""
    return [
        *(option for platform in platforms for option in ("--platform", platform)),
        "--python-version",
        runtime_python_version(),
        "--implementation",
        "cp",
    ]


@dataclass(frozen=True)
class BundleTrim:
    """What a bundle leaves out of the wheels pip installed, so it fits Lambda's 250 MB."""

    # Distributions removed whole (every file their RECORD lists), by normalized name.
    distributions: tuple[str, ...] = ()
    # Files and directories removed, as globs relative to the bundle ...
    paths: tuple[str, ...] = ()
    # ... except these files, relative to the bundle, which must be there afterwards.
    keep: tuple[str, ...] = ()

    def apply(self, bundle: Path) -> None:
        for dist_info in sorted(bundle.glob("*.dist-info")):
            name = distribution_name(dist_info.name.split("-")[0])
            if name in self.distributions:
                _remove_distribution(bundle, dist_info)
        kept = {bundle / path for path in self.keep}
        for pattern in self.paths:
            for path in sorted(bundle.glob(pattern), reverse=True):  # children before parents
                if path in kept or any(keep.is_relative_to(path) for keep in kept):
                    continue
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
        missing = [str(path.relative_to(bundle)) for path in kept if not path.is_file()]
        if missing:
            raise FileNotFoundError(f"the bundle lacks what it must keep: {missing}")

    def fingerprint(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def _remove_distribution(bundle: Path, dist_info: Path) -> None:
    """Uninstall one distribution from a ``pip --target`` directory, as its RECORD lists it."""
    top_levels: set[Path] = set()
    for line in (dist_info / "RECORD").read_text().splitlines():
        relative = line.rsplit(",", 2)[0]
        if not relative:
            continue
        path = (bundle / relative).resolve()
        if not path.is_relative_to(bundle.resolve()):
            continue  # console scripts pip writes beside the target (bin/ is removed anyway)
        top_levels.add(bundle / Path(relative).parts[0])
        path.unlink(missing_ok=True)
    for top in top_levels:
        if top.is_dir():
            shutil.rmtree(top)


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
        platforms: Sequence[str] = (WHEEL_PLATFORM,),
        trim: BundleTrim | None = None,
    ) -> None:
        self.lock = lock
        self.source = source
        # False: wheels for this machine, so the bundle can be imported here (benchmarks and
        # the import test); same lock, same versions, other compiled files.
        self.for_lambda = for_lambda
        self.platforms = tuple(platforms)
        self.trim = trim

    def pip_command(self, output_dir: str) -> list[str]:
        platform = lambda_platform_options(self.platforms) if self.for_lambda else []
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
        if self.trim is not None:
            self.trim.apply(Path(output_dir))
        shutil.copytree(
            self.source,
            Path(output_dir) / self.source.name,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            dirs_exist_ok=True,
        )
        return True


def asset_hash(
    lock: Path = LOCK,
    source: Path = FUNCTIONS_DIR / PACKAGE,
    *,
    platforms: Sequence[str] = (WHEEL_PLATFORM,),
    trim: BundleTrim | None = None,
) -> str:
    """Covers the package source, the lock, the target platform and what is trimmed: a
    relocked dependency rebuilds the asset even when no source file changed, and an unchanged
    tree reuses the bundle in cdk.out."""
    lock_digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    trimmed = [trim.fingerprint()] if trim is not None else []
    return FileSystem.fingerprint(
        str(source),
        exclude=list(EXCLUDE),
        extra_hash=json.dumps([lock_digest, RUNTIME.name, *platforms, *trimmed]),
    )


def functions_code() -> lambda_.Code:
    """The shared asset of every function."""
    return _code_asset(PipInstallLocally())


def _code_asset(bundler: PipInstallLocally) -> lambda_.Code:
    """The functions' folder as ``bundler`` bundles it, hashed over what it is made of."""
    return lambda_.Code.from_asset(
        str(FUNCTIONS_DIR),
        asset_hash=asset_hash(
            bundler.lock, bundler.source, platforms=bundler.platforms, trim=bundler.trim
        ),
        bundling=BundlingOptions(image=RUNTIME.bundling_image, local=bundler),
    )


# Lambda refuses a function whose code (with its layers) is larger than this, unzipped.
LAMBDA_UNZIPPED_LIMIT_BYTES = 262_144_000  # 250 MiB

# The deep-check wheels come to about 283 MB; these bring them under Lambda's limit. Only what
# the deep check never loads goes: verified by importing the trimmed bundle
# (tests/infra/test_deep_check.py).
DEEP_CHECK_TRIM = BundleTrim(
    # Only URL signing needs them (ingest, the signing-key handler); the deep check never signs.
    distributions=("cryptography", "cffi", "pycparser"),
    paths=(
        # OpenCV's 17 Haar cascades (9.8 MB): the face detector loads one of them.
        "cv2/data/*.xml",
        # numpy's own test suites, and f2py, its Fortran-wrapping build tool.
        "numpy/**/tests",
        "numpy/f2py",
        # For compilers and type checkers only: C headers, static libraries, Cython
        # declarations and sources, type stubs.
        "numpy/_core/include",
        "**/*.a",
        "**/*.pxd",
        "**/*.pyx",
        "**/*.pyi",
    ),
    keep=(FACE_CASCADE,),
)


def deep_check_bundler(*, for_lambda: bool = True) -> PipInstallLocally:
    """The deep-check function's bundle: the package, the deep-check lock's wheels, trimmed."""
    return PipInstallLocally(
        DEEP_CHECK_LOCK,
        for_lambda=for_lambda,
        platforms=DEEP_CHECK_WHEEL_PLATFORMS,
        trim=DEEP_CHECK_TRIM,
    )


def deep_check_code() -> lambda_.Code:
    """The deep-check function's asset (the deep_check setting): its own, with PyAV, numpy and
    OpenCV, which no other function loads."""
    return _code_asset(deep_check_bundler())
