"""The one code asset: every handler and its dependencies, built for arm64 Lambda, small."""

from __future__ import annotations

import io
import tomllib
import zipfile
from pathlib import Path

from infra.bundling import (
    PYPROJECT,
    PipInstallLocally,
    bundled_requirements,
    runtime_python_version,
)
from tests.infra.conftest import Synthesized

MAX_ZIPPED_BYTES = 5 * 1024 * 1024
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


def test_asset_holds_every_handler_and_the_runtime_dependencies(synth: Synthesized) -> None:
    asset = asset_directory(synth)
    for handler in ("ingest", "callback", "status_api", "reconciler"):
        assert (asset / "replica_pipeline" / "handlers" / f"{handler}.py").is_file(), handler
    for package in ("requests", "urllib3", "idna", "certifi", "charset_normalizer", "hachoir"):
        assert (asset / package / "__init__.py").is_file(), package


def test_asset_leaves_out_what_the_runtime_and_layer_provide_and_caches(
    synth: Synthesized,
) -> None:
    asset = asset_directory(synth)
    for provided in ("boto3", "botocore", "aws_lambda_powertools", "pydantic"):
        assert not (asset / provided).exists(), provided
    assert not list(asset.rglob("__pycache__"))
    assert not list(asset.rglob("*.pyc"))


def test_asset_zips_to_at_most_5_mb(synth: Synthesized) -> None:
    size = zipped_size(asset_directory(synth))
    assert size <= MAX_ZIPPED_BYTES, f"{size / 1024 / 1024:.2f} MB"


def test_compiled_wheels_are_for_linux_arm64(synth: Synthesized) -> None:
    compiled = list(asset_directory(synth).rglob("*.so"))
    assert compiled, "charset_normalizer ships compiled speedups"
    for library in compiled:
        header = library.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", library.name
        assert int.from_bytes(header[18:20], "little") == AARCH64, library.name


def test_bundled_pins_are_pyprojects_minus_what_lambda_provides() -> None:
    with PYPROJECT.open("rb") as file:
        dependencies = tomllib.load(file)["project"]["dependencies"]
    expected = [
        pin
        for pin in dependencies
        if not pin.startswith(("boto3", "botocore", "aws-lambda-powertools"))
    ]
    assert list(bundled_requirements()) == expected
    assert any(pin.startswith("requests==") for pin in expected)
    assert any(pin.startswith("hachoir==") for pin in expected)


def test_pip_resolves_wheels_for_the_lambda_runtime_not_this_machine(tmp_path: Path) -> None:
    command = PipInstallLocally(["requests==1"]).pip_command(str(tmp_path))
    joined = " ".join(command)
    assert "--platform manylinux2014_aarch64" in joined
    assert "--only-binary=:all:" in joined
    assert f"--python-version {runtime_python_version()}" in joined
    assert "--implementation cp" in joined
    assert command[-1] == "requests==1"
