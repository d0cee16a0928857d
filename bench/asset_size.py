"""Zipped size of the Lambda code asset, as ``cdk synth`` stages it.

Synthesizes with ``python -m infra.checks synth`` (cdk-nag included; the bundle
is reused from cdk.out when nothing in it changed), finds the functions' code
asset through the cloud assembly's asset manifest (the asset whose object key
the template's Lambda functions name), zips it in memory as CDK would upload
it, and compares with its unzipped size.

Run: ``.venv/bin/python -m bench.asset_size``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from bench import ROOT
from bench.figures import Figure, Report, mib, run_alone

CDK_OUT = ROOT / "cdk.out"
# Powertools with pydantic and the X-Ray SDK (bundled since the layer went, about 4.5 MiB)
# and cryptography for the CloudFront signer (about 4.5 MiB) are most of it; Lambda allows 50.
TARGET_BYTES = 12 * 2**20
SYNTH_TIMEOUT_SECONDS = 300


def synthesize() -> None:
    environment = {
        **os.environ,
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    result = subprocess.run(
        [sys.executable, "-m", "infra.checks", "synth"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=SYNTH_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
        raise RuntimeError("cdk synth failed: " + " / ".join(tail))


def code_asset_directories(cdk_out: Path = CDK_OUT) -> list[Path]:
    """The staged directories of the assets that the template's Lambda functions deploy."""
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    found: list[Path] = []
    for artifact in manifest["artifacts"].values():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        template = json.loads((cdk_out / artifact["properties"]["templateFile"]).read_text())
        keys = {
            resource["Properties"]["Code"]["S3Key"]
            for resource in template["Resources"].values()
            if resource["Type"] == "AWS::Lambda::Function"
            and isinstance(resource["Properties"].get("Code", {}).get("S3Key"), str)
        }
        for dependency in artifact.get("dependencies", []):
            assets = manifest["artifacts"].get(dependency, {})
            if assets.get("type") != "cdk:asset-manifest":
                continue
            files: dict[str, Any] = json.loads(
                (cdk_out / assets["properties"]["file"]).read_text()
            )["files"]
            for entry in files.values():
                object_keys = {d["objectKey"] for d in entry["destinations"].values()}
                if entry["source"].get("packaging") == "zip" and object_keys & keys:
                    found.append(cdk_out / entry["source"]["path"])
    return found


def zipped_size(directory: Path) -> tuple[int, int, int]:
    """(zipped bytes, unzipped bytes, files), zipped in memory with deflate."""
    buffer = io.BytesIO()
    unzipped = files = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory))
                unzipped += path.stat().st_size
                files += 1
    return len(buffer.getvalue()), unzipped, files


def measure() -> Report:
    synthesize()
    directories = code_asset_directories()
    if len(directories) != 1:
        raise RuntimeError(f"expected one code asset shared by the functions: {directories}")
    zipped, unzipped, files = zipped_size(directories[0])
    report = Report("Lambda code asset (cdk synth)")
    report.figures.append(
        Figure(
            "Lambda code asset, zipped",
            zipped,
            mib(zipped),
            unzipped,
            f"{mib(unzipped)} unzipped ({files} files)",
            f"≤ {TARGET_BYTES / 2**20:g} MiB (report)",
            zipped <= TARGET_BYTES,
        )
    )
    return report


def main() -> None:
    run_alone(measure)


if __name__ == "__main__":
    main()
