"""The layers the folders show are the layers the imports keep (README "Layout").

Read from the source with ``ast`` (imports inside functions count too), so a
shortcut from a rule to an adapter, or from the CLI into the local stack, fails
here rather than in review.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions" / "replica_pipeline"
LOCAL = ROOT / "local" / "replica_pipeline_local"

# What each part of replica_pipeline may import from replica_pipeline (itself included).
BASICS = {"config", "clock"}
MAY_IMPORT: dict[str, set[str]] = {
    "contracts": {"contracts"},
    "config": set(),
    "clock": set(),
    "observability": set(),
    "rules": {"rules", "contracts"} | BASICS,
    "adapters": {"adapters", "rules", "contracts"} | BASICS,
    # The deep check service runs the pre-flight (imported where it runs: see its docstring).
    "services": {"services", "adapters", "rules", "contracts", "preflight"} | BASICS,
    "runtime": {"adapters", "rules", "contracts"} | BASICS,
    # The deep check reads a file and judges it; the rules give it Tavus's error kinds.
    "preflight": {"preflight", "rules"} | BASICS,
}


def imported_modules(path: Path) -> Iterator[str]:
    """Every absolute module ``path`` imports; ``from a import b`` yields ``a.b``."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def part_of(module: str, package: str) -> str | None:
    """The first name under ``package`` (``replica_pipeline.rules.keys`` → ``rules``)."""
    prefix = package + "."
    return module[len(prefix) :].split(".")[0] if module.startswith(prefix) else None


def modules_of(part: str) -> list[Path]:
    folder = FUNCTIONS / part
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [FUNCTIONS / f"{part}.py"]


@pytest.mark.parametrize("part", sorted(MAY_IMPORT))
def test_each_layer_imports_only_the_layers_below_it(part: str) -> None:
    # given the modules of one layer
    modules = modules_of(part)
    assert modules, f"no modules found for {part}"

    # when their imports of our own package are collected
    reached = {
        (path.relative_to(FUNCTIONS).as_posix(), imported)
        for path in modules
        for module in imported_modules(path)
        if (imported := part_of(module, "replica_pipeline")) is not None
    }

    # then none reaches a layer above
    assert [pair for pair in sorted(reached) if pair[1] not in MAY_IMPORT[part]] == []


@pytest.mark.parametrize(("part", "forbidden"), [("stack", "cli"), ("cli", "stack")])
def test_the_local_stack_and_the_cli_do_not_import_each_other(part: str, forbidden: str) -> None:
    offenders = [
        (path.relative_to(LOCAL).as_posix(), module)
        for path in sorted((LOCAL / part).rglob("*.py"))
        for module in imported_modules(path)
        if part_of(module, "replica_pipeline_local") == forbidden
    ]

    assert offenders == []


def test_the_functions_never_import_the_local_package() -> None:
    offenders = [
        (path.relative_to(FUNCTIONS).as_posix(), module)
        for path in sorted(FUNCTIONS.rglob("*.py"))
        for module in imported_modules(path)
        if module.startswith("replica_pipeline_local")
    ]

    assert offenders == []
