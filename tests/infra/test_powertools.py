"""One Powertools everywhere: the functions run the Powertools version the tests run.

No public layer (its account differs per partition, and its versions lag PyPI's):
Powertools is bundled from ``requirements/functions.lock`` at the version that
``pyproject.toml`` pins, with the extras the functions use.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from infra.bundling import (
    FUNCTIONS_DIR,
    PACKAGE,
    PROVIDED_BY_RUNTIME,
    PYPROJECT,
    PipInstallLocally,
    distribution_name,
    locked_versions,
)
from infra.settings import SettingsError, StackSettings
from tests.infra.conftest import Synthesized
from tests.infra.test_code_asset import asset_directory

POWERTOOLS = "aws-lambda-powertools"
# What the Lambda runtime puts on sys.path besides the asset: boto3 and what only it needs.
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "dateutil", "six")


def powertools_pin() -> Requirement:
    with PYPROJECT.open("rb") as file:
        dependencies: list[str] = tomllib.load(file)["project"]["dependencies"]
    (pin,) = [Requirement(line) for line in dependencies if distribution_name(line) == POWERTOOLS]
    return pin


def pinned_version(requirement: Requirement) -> str:
    (specifier,) = requirement.specifier
    assert specifier.operator == "==", f"pin {requirement} exactly"
    return specifier.version


def test_no_function_runs_with_a_layer(synth: Synthesized, synth_alternative: Synthesized) -> None:
    for synthesized in (synth, synth_alternative):
        functions = synthesized.of_type("AWS::Lambda::Function")
        assert functions
        for logical_id, function in functions.items():
            assert "Layers" not in function["Properties"], logical_id
        assert not synthesized.of_type("AWS::Lambda::LayerVersion")


def test_bundled_powertools_is_the_version_pyproject_pins_and_the_tests_run(
    synth: Synthesized,
) -> None:
    pinned = pinned_version(powertools_pin())
    assert locked_versions()[POWERTOOLS] == pinned
    (dist_info,) = asset_directory(synth).glob("aws_lambda_powertools-*.dist-info")
    metadata = (dist_info / "METADATA").read_text()
    assert f"\nVersion: {pinned}\n" in metadata
    assert importlib.metadata.version(POWERTOOLS) == pinned, "these tests run another version"


def test_every_powertools_extra_pinned_is_locked() -> None:
    pin = powertools_pin()
    # The tracer (X-Ray SDK) and the status API's validation (pydantic) are used.
    assert {"tracer", "parser"} <= pin.extras
    locked = locked_versions()
    needed = set()
    for line in importlib.metadata.requires(POWERTOOLS) or []:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": extra}) for extra in pin.extras):
            needed.add(distribution_name(requirement.name))
    assert needed, "Powertools declares its dependencies"
    assert needed <= set(locked), needed - set(locked)


def absolute_imports(tree: ast.AST) -> Iterator[str]:
    """Modules a file imports, wherever in it (lazy imports too), but not for type checkers."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            yield from (name for child in node.orelse for name in absolute_imports(child))
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
        yield from absolute_imports(node)


# The deep check needs PyAV, numpy and OpenCV, which these functions do not bundle; no
# handler imports it (tests/unit/test_layers.py).
NOT_IMPORTED_BY_THE_HANDLERS = "preflight"


def third_party_imports() -> set[str]:
    modules: set[str] = set()
    for path in (FUNCTIONS_DIR / PACKAGE).rglob("*.py"):
        if NOT_IMPORTED_BY_THE_HANDLERS in path.relative_to(FUNCTIONS_DIR / PACKAGE).parts:
            continue
        for module in absolute_imports(ast.parse(path.read_text(), str(path))):
            top = module.partition(".")[0]
            if top not in sys.stdlib_module_names and top not in {PACKAGE, "__future__"}:
                modules.add(module)
    return modules


def link_runtime_modules(runtime: Path) -> None:
    """A directory holding boto3 and what only it needs, as the Lambda runtime provides them
    (links to this environment's)."""
    runtime.mkdir()
    for name in RUNTIME_MODULES:
        spec = importlib.util.find_spec(name)
        assert spec is not None, name
        assert spec.origin is not None, name
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (runtime / source.name).symlink_to(source)


def run_in_a_bare_interpreter(script: str) -> subprocess.CompletedProcess[str]:
    """``script`` in a fresh interpreter with no site-packages and a Lambda-like environment
    (its own ``sys.path`` is all it imports from)."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "bundle-test",
    }
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_module_the_functions_import_comes_from_the_bundle_or_the_runtime(
    tmp_path: Path,
) -> None:
    # Given the bundle built from the same lock with wheels for this machine (the Lambda one's
    # compiled files cannot load here), and boto3 as the Lambda runtime provides it
    asset, runtime = tmp_path / "asset", tmp_path / "runtime"
    assert PipInstallLocally(for_lambda=False).try_bundle(str(asset))
    link_runtime_modules(runtime)
    handlers = sorted(
        f"{PACKAGE}.handlers.{path.stem}"
        for path in (FUNCTIONS_DIR / PACKAGE / "handlers").glob("*.py")
        if path.stem != "__init__"
    )
    modules = [*handlers, *sorted(third_party_imports()), "aws_xray_sdk.core"]
    assert {"pydantic", "requests"} <= {module.partition(".")[0] for module in modules}
    # When a fresh interpreter with no site-packages imports every one of them
    script = (
        "import importlib, sys\n"
        f"sys.path[:0] = [{str(asset)!r}, {str(runtime)!r}]\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "import aws_lambda_powertools\n"
        "print(aws_lambda_powertools.__file__)\n"
    )
    result = run_in_a_bare_interpreter(script)
    # Then nothing is missing, and Powertools is the bundled one
    assert result.returncode == 0, result.stderr[-2000:]
    assert Path(result.stdout.strip()).is_relative_to(asset)
    assert not PROVIDED_BY_RUNTIME & {path.name for path in asset.iterdir()}


def test_the_retired_layer_version_setting_is_refused_not_ignored() -> None:
    # A deploy script still passing -c powertools_layer_version=... learns it has no effect.
    with pytest.raises(SettingsError, match="powertools_layer_version"):
        StackSettings.from_context({"powertools_layer_version": 27})
