"""Powertools bundled into the code asset, or taken from a layer: size, unzip time, cold start.

Two ways to ship the same functions, built side by side in one run from
``requirements/functions.lock``:

- **bundled** (what we deploy): the asset exactly as ``infra/bundling.py`` builds it,
  Powertools and its tracer and parser extras inside.
- **layer**: the same asset without Powertools and what only it needs, plus a layer
  directory holding what Powertools' public layer holds for the same version: pip
  installs ``aws-lambda-powertools[all]==<pin>`` under ``python/`` and then drops what the
  layer's build drops (boto3, botocore and their dependencies, byte-code, tests). The
  public layer also strips the debug symbols of its compiled files; this copy does not.

Sizes and unzip times are of the arm64 wheels that would ship (zipped in memory with
deflate; unzipped to a temporary directory, median of a few runs). Cold start needs wheels
that load here, so both ways are built again for this machine from the same lock and
versions: the cold-start figures are relative, on this machine's Python and CPU, not
Lambda's. Each cold start is a fresh ``python -I -S -B`` whose code times ``import
replica_pipeline.handlers.<name>`` with ``time.perf_counter`` (interpreter start-up left
out), with ``sys.path`` = [asset, boto3 as the runtime provides it] for *bundled* and
[asset, layer, boto3] for *layer*, as Lambda orders /var/task, /opt/python and its runtime.
``-B`` and a byte-code-free asset mean every import compiles its sources, as in Lambda
(whose /var/task is read-only and whose zips, both ways, carry no ``.pyc``). Rounds go
round-robin so noise on this shared machine falls on both alike; each figure is a median.

Run: ``.venv/bin/python -m bench.powertools_choice`` (``make bench`` runs it via bench.run_all).
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.figures import Figure, Report, mib, ms, run_alone
from infra.bundling import (
    LOCK,
    PYPROJECT,
    PipInstallLocally,
    distribution_name,
    lambda_platform_options,
    runtime_python_version,
)

POWERTOOLS = "aws-lambda-powertools"
HANDLERS = ("ingest", "callback", "status_api", "reconciler")
ROUNDS = 15
UNZIP_ROUNDS = 5
PIP_TIMEOUT_SECONDS = 600
# What Powertools' layer build removes after installing (the Lambda runtime provides them).
LAYER_DROPS = ("boto", "s3transfer", "dateutil", "python_dateutil", "urllib3", "six", "jmespath")
# What the Lambda runtime puts on sys.path after the asset and the layers.
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "dateutil", "six", "jmespath", "urllib3")
TIMED_IMPORT = (
    "import sys, time\nsys.path[:0] = {paths!r}\n"
    "started = time.perf_counter()\nimport {module}\nprint(time.perf_counter() - started)\n"
)


@dataclass(frozen=True)
class Shipment:
    """One way to ship: the code asset and, for the layer way, the layer's directory."""

    asset: Path
    layer: Path | None = None

    def parts(self) -> list[Path]:
        """What is zipped: the asset, and the layer with its ``python/`` folder."""
        return [self.asset] if self.layer is None else [self.asset, self.layer]

    def import_paths(self) -> list[Path]:
        """sys.path entries, in Lambda's order: /var/task first, then /opt/python."""
        return [self.asset] if self.layer is None else [self.asset, self.layer / "python"]


def powertools_pin() -> str:
    with PYPROJECT.open("rb") as file:
        dependencies: list[str] = tomllib.load(file)["project"]["dependencies"]
    (pin,) = [line for line in dependencies if distribution_name(line) == POWERTOOLS]
    return pin.split("==", 1)[1].strip()


def needed_without_powertools(lock_text: str) -> set[str]:
    """The locked packages something other than Powertools needs, from uv's ``# via`` notes."""
    parents: dict[str, set[str]] = {}
    current = ""
    in_via = False
    for line in lock_text.splitlines():
        pin = re.match(r"([A-Za-z0-9][\w.-]*)==", line)
        if pin:
            current, in_via = distribution_name(pin.group(1)), False
            parents[current] = set()
            continue
        note = line.strip().removeprefix("#").strip()
        if note.startswith("via"):
            in_via = True
            note = note.removeprefix("via").strip()
        if in_via and note and current:
            parents[current].add(note)
    needed: set[str] = set()
    changed = True
    while changed:  # a fixed point: needed by the project's own pins, or by a needed package
        changed = False
        for name, via in parents.items():
            if name in needed or name == POWERTOOLS:
                continue
            if any(p.endswith("(pyproject.toml)") or distribution_name(p) in needed for p in via):
                needed.add(name)
                changed = True
    return needed


def run_pip(arguments: list[str]) -> None:
    subprocess.run(  # noqa: S603 - this interpreter's pip, fixed arguments
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *arguments,
        ],
        check=True,
        timeout=PIP_TIMEOUT_SECONDS,
    )


def dist_info_name(dist_info: Path) -> str:
    """``pydantic-core`` for ``pydantic_core-2.50.5.dist-info``."""
    return distribution_name(dist_info.name.removesuffix(".dist-info").rsplit("-", 1)[0])


def remove_distribution(target: Path, name: str) -> None:
    """Uninstall one distribution from a ``pip --target`` directory, by its RECORD."""
    for dist_info in target.glob("*.dist-info"):
        if dist_info_name(dist_info) != name:
            continue
        for row in (dist_info / "RECORD").read_text().splitlines():
            path = (target / row.split(",", 1)[0]).resolve()
            if path.is_relative_to(target.resolve()) and path.is_file():
                path.unlink()
        shutil.rmtree(dist_info, ignore_errors=True)
    for directory in sorted(target.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()


def build_layer(target: Path, for_lambda: bool) -> Path:
    """What the public Powertools layer holds for the pinned version, under ``python/``."""
    python = target / "python"
    platform = lambda_platform_options() if for_lambda else []
    run_pip(
        [
            "--no-compile",
            "--target",
            str(python),
            *platform,
            "--only-binary=:all:",
            f"{POWERTOOLS}[all]=={powertools_pin()}",
        ]
    )
    for path in list(python.iterdir()):
        if path.name.lower().startswith(LAYER_DROPS) or path.name == "bin":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for tests in [p for p in python.rglob("tests") if p.is_dir()]:
        shutil.rmtree(tests, ignore_errors=True)
    return target


def build(root: Path, for_lambda: bool) -> tuple[Shipment, Shipment]:
    """(bundled, layer), for Lambda's platform or for this machine."""
    bundled = root / "bundled"
    PipInstallLocally(for_lambda=for_lambda).try_bundle(str(bundled))
    without = root / "asset-without-powertools"
    shutil.copytree(bundled, without)
    keep = needed_without_powertools(LOCK.read_text())
    for dist_info in list(without.glob("*.dist-info")):
        name = dist_info_name(dist_info)
        if name not in keep:
            remove_distribution(without, name)
    layer = build_layer(root / "layer", for_lambda)
    return Shipment(bundled), Shipment(without, layer)


def duplicated_in_layer(layered: Shipment, root: Path) -> tuple[list[str], int]:
    """(distributions both the asset and the layer hold, the asset's zipped size without them).

    With a layer, the asset still carries what we pin ourselves (cryptography for the
    signer); relying on the layer's copy instead would tie our pin to the layer's build."""
    if layered.layer is None:
        return [], 0
    in_layer = {dist_info_name(d) for d in (layered.layer / "python").glob("*.dist-info")}
    both = sorted(in_layer & {dist_info_name(d) for d in layered.asset.glob("*.dist-info")})
    slimmer = root / "asset-without-layer-duplicates"
    shutil.copytree(layered.asset, slimmer)
    for name in both:
        remove_distribution(slimmer, name)
    return both, len(zip_bytes(slimmer)[0])


def zip_bytes(directory: Path) -> tuple[bytes, int]:
    """(the zip, unzipped bytes), files in sorted order, deflated."""
    buffer = io.BytesIO()
    unzipped = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory))
                unzipped += path.stat().st_size
    return buffer.getvalue(), unzipped


def unzip_seconds(archive: bytes) -> float:
    with tempfile.TemporaryDirectory(prefix="unzip-") as scratch:
        started = time.perf_counter()
        with zipfile.ZipFile(io.BytesIO(archive)) as opened:
            opened.extractall(scratch)
        return time.perf_counter() - started


@dataclass(frozen=True)
class Sizes:
    zipped: int
    unzipped: int
    unzip_seconds: float
    text: str


def sizes(shipment: Shipment) -> Sizes:
    archives = [zip_bytes(part) for part in shipment.parts()]
    samples = [sum(unzip_seconds(archive) for archive, _ in archives) for _ in range(UNZIP_ROUNDS)]
    zipped = sum(len(archive) for archive, _ in archives)
    unzipped = sum(size for _, size in archives)
    text = " + ".join(
        f"{name} {mib(len(archive))} ({mib(size)} unzipped)"
        for name, (archive, size) in zip(("asset", "layer"), archives, strict=False)
    )
    return Sizes(zipped, unzipped, statistics.median(samples), text)


@contextmanager
def lambda_runtime_modules() -> Iterator[Path]:
    """A directory holding only boto3 and what it needs, as Lambda's runtime provides them."""
    with tempfile.TemporaryDirectory(prefix="lambda-runtime-") as scratch:
        runtime = Path(scratch)
        for name in RUNTIME_MODULES:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                raise RuntimeError(f"{name} is not installed here (make install)")
            origin = Path(spec.origin)
            source = origin.parent if origin.name == "__init__.py" else origin
            (runtime / source.name).symlink_to(source)
        yield runtime


def time_import(module: str, paths: list[str]) -> float:
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "bench",
    }
    result = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-I", "-S", "-B", "-c", TIMED_IMPORT.format(paths=paths, module=module)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def cold_starts(
    bundled: Shipment, layered: Shipment, rounds: int
) -> dict[str, tuple[float, float]]:
    """{handler: (bundled median, layer median)} in seconds."""
    samples: dict[tuple[str, str], list[float]] = {}
    with lambda_runtime_modules() as runtime:
        ways = {
            way: [*map(str, shipment.import_paths()), str(runtime)]
            for way, shipment in (("bundled", bundled), ("layer", layered))
        }
        for _ in range(rounds):
            for handler in HANDLERS:
                for way, paths in ways.items():
                    module = f"replica_pipeline.handlers.{handler}"
                    samples.setdefault((handler, way), []).append(time_import(module, paths))
    return {
        handler: (
            statistics.median(samples[(handler, "bundled")]),
            statistics.median(samples[(handler, "layer")]),
        )
        for handler in HANDLERS
    }


def measure(rounds: int = ROUNDS) -> Report:
    report = Report("Powertools: bundled in the asset vs its public layer")
    pin = powertools_pin()
    with tempfile.TemporaryDirectory(prefix="powertools-choice-") as scratch:
        root = Path(scratch)
        arm_bundled, arm_layered = build(root / "arm64", for_lambda=True)
        bundled_sizes, layered_sizes = sizes(arm_bundled), sizes(arm_layered)
        duplicates, slimmer_zipped = duplicated_in_layer(arm_layered, root / "arm64")
        for label, value, reference, format_ in (
            ("zipped", bundled_sizes.zipped, layered_sizes.zipped, mib),
            ("unzipped", bundled_sizes.unzipped, layered_sizes.unzipped, mib),
            ("unzip time", bundled_sizes.unzip_seconds, layered_sizes.unzip_seconds, ms),
        ):
            report.figures.append(
                Figure(
                    f"Powertools {pin} bundled, arm64: {label}",
                    value,
                    format_(value),
                    reference,
                    f"{format_(reference)} with the layer",
                    "report",
                    None,
                )
            )
        local_bundled, local_layered = build(root / "local", for_lambda=False)
        for handler, (bundled, layered) in cold_starts(
            local_bundled, local_layered, rounds
        ).items():
            report.figures.append(
                Figure(
                    f"cold start, bundled: import handlers.{handler} (median of {rounds})",
                    bundled,
                    ms(bundled),
                    layered,
                    f"{ms(layered)} with the layer",
                    "report",
                    None,
                )
            )
        report.notes.extend(
            [
                f"bundled, arm64: {bundled_sizes.text}; with the layer: {layered_sizes.text}.",
                f"The layer holds Powertools {pin} with all its extras, as the public one "
                "does (its compiled files are not stripped here, the public layer's are).",
                f"With the layer, the asset and the layer both hold {', '.join(duplicates)}; "
                f"an asset relying on the layer's copies would zip to {mib(slimmer_zipped)} "
                "(and tie those pins to the layer's build).",
                "With the layer, jmespath comes from the runtime (byte-compiled there, as "
                "the layer's build removes it); bundled, the locked jmespath is compiled at "
                "import like the rest of the asset.",
                "Cold starts ran on this machine's wheels and Python "
                f"({sys.version.split()[0]}), not Lambda's arm64 Python "
                f"{runtime_python_version()}: compare the two ways, not the absolute times.",
            ]
        )
    return report


def main() -> None:
    run_alone(measure)


if __name__ == "__main__":
    main()
