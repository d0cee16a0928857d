"""The pinned CDK command line (package.json, installed by `make cdk-cli`) is the one
`npx cdk` runs, and it reads the cloud assembly our aws-cdk-lib writes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PINNED = json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
CDK = ROOT / "node_modules" / ".bin" / "cdk"


@pytest.fixture(scope="module")
def npx() -> list[str]:
    """`npx --no-install cdk`: the repository's CLI, never one fetched on the fly."""
    if shutil.which("npx") is None:
        pytest.fail("npx is missing: install Node.js 18 or newer")
    if not CDK.exists():
        pytest.fail("the pinned CDK CLI is not installed: run `make cdk-cli`")
    return ["npx", "--no-install", "cdk"]


def without_aws_credentials(home: Path) -> dict[str, str]:
    """This environment with every AWS setting removed and config files that do not exist:
    synthesis must not need an account."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    return {
        **environment,
        "AWS_CONFIG_FILE": str(home / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance-metadata probe for credentials
        "CDK_DISABLE_VERSION_CHECK": "1",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }


def test_the_lock_file_pins_the_same_cdk_cli_as_package_json() -> None:
    lock = json.loads((ROOT / "package-lock.json").read_text())

    assert PINNED[0].isdigit(), f"pin an exact version, not {PINNED!r}"
    assert lock["packages"]["node_modules/aws-cdk"]["version"] == PINNED


def test_npx_cdk_runs_the_pinned_version(npx: list[str], tmp_path: Path) -> None:
    shown = subprocess.run(
        [*npx, "--version"],
        cwd=ROOT,
        env=without_aws_credentials(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split()[0] == PINNED


def test_the_pinned_cdk_cli_synthesizes_our_app_without_aws_credentials(
    npx: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "cdk.out"  # not the repository's: others synthesize there

    synth = subprocess.run(
        [*npx, "synth", "--quiet", "--no-notices", "--output", str(out)],
        cwd=ROOT,
        env=without_aws_credentials(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert synth.returncode == 0, synth.stdout[-3000:] + synth.stderr[-3000:]
    templates = [path.name for path in out.glob("*.template.json")]
    assert any(name.startswith("ReplicaPipeline-") for name in templates), templates
