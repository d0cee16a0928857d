"""The one code asset: every handler and its dependencies, built for arm64 Lambda, from the lock."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from infra.bundling import (
    LOCK,
    WHEEL_PLATFORM,
    PipInstallLocally,
    asset_hash,
    runtime_python_version,
)
from tests.infra.conftest import Synthesized

# Powertools with pydantic and the X-Ray SDK is about 4 MiB of it, cryptography about 4 MiB.
MAX_ZIPPED_BYTES = 12 * 1024 * 1024
AARCH64 = 0xB7  # ELF e_machine of 64-bit Arm


def asset_directory(synth: Synthesized) -> Path:
    functions = synth.of_type("AWS::Lambda::Function").values()
    keys = {
        resource["Properties"]["Code"]["S3Key"]
        for resource in functions
        if "S3Key" in resource["Properties"].get("Code", {})
    }
    (key,) = keys  # CDK's notification handler is inline; ours share one asset
    return synth.outdir / f"asset.{key.removesuffix('.zip')}"


def zipped_size(directory: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory))
    return len(buffer.getvalue())


def tree_digest(directory: Path) -> str:
    """One digest of every file's relative path and bytes (not of times or owners)."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if path.is_file():
            digest.update(f"file {relative} {path.stat().st_mode & 0o111:o}\n".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        elif path.is_dir():
            digest.update(f"dir {relative}\n".encode())
    return digest.hexdigest()


def test_asset_holds_every_handler_and_the_runtime_dependencies(synth: Synthesized) -> None:
    asset = asset_directory(synth)
    for handler in ("ingest", "callback", "status_api", "reconciler"):
        assert (asset / "replica_pipeline" / "handlers" / f"{handler}.py").is_file(), handler
    for package in (
        "requests",
        "urllib3",
        "idna",
        "certifi",
        "charset_normalizer",
        "hachoir",
        # Powertools and what its tracer and the status API's validation need.
        "aws_lambda_powertools",
        "aws_xray_sdk",
        "pydantic",
        "pydantic_core",
    ):
        assert (asset / package / "__init__.py").is_file(), package


def test_asset_leaves_out_what_the_lambda_runtime_provides_and_caches(
    synth: Synthesized,
) -> None:
    asset = asset_directory(synth)
    # boto3, botocore, and what only they need.
    for provided in ("boto3", "botocore", "s3transfer", "dateutil", "six.py"):
        assert not (asset / provided).exists(), provided
    assert not (asset / "bin").exists(), "console scripts are never run"
    assert not list(asset.rglob("__pycache__"))
    assert not list(asset.rglob("*.pyc"))


def test_asset_zips_to_at_most_12_mb(synth: Synthesized) -> None:
    size = zipped_size(asset_directory(synth))
    assert size <= MAX_ZIPPED_BYTES, f"{size / 1024 / 1024:.2f} MB"


def test_compiled_wheels_are_for_linux_arm64(synth: Synthesized) -> None:
    compiled = list(asset_directory(synth).rglob("*.so"))
    assert compiled, "charset_normalizer and pydantic_core ship compiled code"
    for library in compiled:
        header = library.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", library.name
        assert int.from_bytes(header[18:20], "little") == AARCH64, library.name


def test_pip_installs_exactly_the_lock_hash_checked_for_the_lambda_runtime(
    tmp_path: Path,
) -> None:
    command = PipInstallLocally().pip_command(str(tmp_path))
    joined = " ".join(command)
    assert f"--platform {WHEEL_PLATFORM}" in joined
    assert "--only-binary=:all:" in joined
    assert f"--python-version {runtime_python_version()}" in joined
    assert "--implementation cp" in joined
    assert "--require-hashes" in command
    assert "--no-deps" in command, "the lock is the whole resolution"
    assert command[-2:] == ["--requirement", str(LOCK)]


def test_the_bundle_built_again_has_the_same_bytes(synth: Synthesized, tmp_path: Path) -> None:
    # The synthesis built it once; build it again from the same lock and source.
    again = tmp_path / "again"
    assert PipInstallLocally().try_bundle(str(again))
    assert tree_digest(again) == tree_digest(asset_directory(synth))


def test_a_relocked_dependency_changes_the_asset_hash(tmp_path: Path) -> None:
    same = tmp_path / "same.lock"
    same.write_bytes(LOCK.read_bytes())
    relocked = tmp_path / "relocked.lock"
    relocked.write_text(LOCK.read_text().replace("requests==", "requests===", 1))
    assert asset_hash(same) == asset_hash()
    assert asset_hash(relocked) != asset_hash()
