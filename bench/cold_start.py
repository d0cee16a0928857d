"""Cold start: import time of each handler module in a fresh interpreter, ÷ a bare ``import boto3``.

Each run is a new ``python -c`` whose code times the import itself with
``time.perf_counter``, so interpreter start-up is left out. The child gets the
handlers' environment from a local stack's ``lambda.env``, as in
``make up``. The modules are run round-robin (boto3 included), so noise on
this shared machine falls on all of them alike; each figure is the median.
When a handler misses its target, ``-X importtime`` tells which imports it pays
for that ``import boto3`` alone does not.

Run: ``.venv/bin/python -m bench.cold_start`` (``make bench`` runs it via bench.run_all).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from dataclasses import dataclass, field

from bench import ROOT
from bench.figures import Figure, Report, ms, run_alone
from bench.local_stack import local_stack

HANDLERS = ("ingest", "callback", "status_api", "reconciler")
REFERENCE = "boto3"
ROUNDS = 15
TARGET_RATIO = 1.3
# boto3 plus the Powertools modules a handler is built on: the least such a handler can import.
POWERTOOLS_FLOORS = {
    "Logger + Metrics": "aws_lambda_powertools",
    "+ the REST resolver": "aws_lambda_powertools, aws_lambda_powertools.event_handler",
    "+ the batch processor": "aws_lambda_powertools, aws_lambda_powertools.utilities.batch",
    "+ the REST resolver with validation (pydantic)": (
        "aws_lambda_powertools, aws_lambda_powertools.event_handler, "
        "aws_lambda_powertools.event_handler.openapi.params, pydantic"
    ),
}
TIMED_IMPORT = (
    "import time\nstarted = time.perf_counter()\nimport {module}\n"
    "print(time.perf_counter() - started)\n"
)


def handler_module(name: str) -> str:
    return f"replica_pipeline.handlers.{name}"


def child_environment(lambda_env: dict[str, str]) -> dict[str, str]:
    """This environment without AWS settings of its own, plus the handlers' settings."""
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "POWERTOOLS_"))
    }
    return {**base, **lambda_env}


def time_import(module: str, environment: dict[str, str]) -> float:
    result = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", TIMED_IMPORT.format(module=module)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


@dataclass
class ImportNode:
    name: str
    self_us: int
    cumulative_us: int
    children: list[ImportNode] = field(default_factory=list)


def import_tree(module: str, environment: dict[str, str]) -> list[ImportNode]:
    """The ``-X importtime`` report of importing ``module``, as a tree (roots in order)."""
    result = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    pending: list[tuple[int, ImportNode]] = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "| cumulative |" in line:
            continue
        self_us, cumulative_us, name_part = line.removeprefix("import time:").split("|", 2)
        depth = (len(name_part) - len(name_part.lstrip(" ")) - 1) // 2
        node = ImportNode(name_part.strip(), int(self_us), int(cumulative_us))
        # -X importtime prints a module after everything it imported (one level deeper).
        while pending and pending[-1][0] > depth:
            node.children.insert(0, pending.pop()[1])
        pending.append((depth, node))
    return [node for _, node in pending]


def all_names(nodes: list[ImportNode]) -> set[str]:
    names: set[str] = set()
    stack = list(nodes)
    while stack:
        node = stack.pop()
        names.add(node.name)
        stack.extend(node.children)
    return names


def extra_imports(roots: list[ImportNode], baseline: set[str]) -> list[tuple[ImportNode, str]]:
    """Third-party imports our code pulls in beyond the baseline, with who imported them.

    Our own modules (``replica_pipeline``) are walked through; the first module
    outside them and outside the baseline is reported with its cumulative time.
    """
    found: list[tuple[ImportNode, str]] = []

    def visit(node: ImportNode, importer: str) -> None:
        if node.name.startswith("replica_pipeline"):
            for child in node.children:
                visit(child, node.name)
        elif node.name not in baseline:
            found.append((node, importer))

    for root in roots:
        if root.name.startswith("replica_pipeline"):
            visit(root, "")
    return sorted(found, key=lambda pair: pair[0].cumulative_us, reverse=True)


def own_code_us(roots: list[ImportNode]) -> int:
    total = 0
    stack = [node for node in roots if node.name.startswith("replica_pipeline")]
    while stack:
        node = stack.pop()
        total += node.self_us
        stack.extend(child for child in node.children if child.name.startswith("replica_pipeline"))
    return total


def measure(lambda_env: dict[str, str] | None = None, rounds: int = ROUNDS) -> Report:
    report = Report("Cold start (import time, fresh interpreter)")
    if lambda_env is None:
        # The settings of a real local stack; stopped before measuring, so it is not load.
        with local_stack(training_seconds=3600, reconcile_every=3600, visibility_timeout=30) as s:
            lambda_env = dict(s.lambda_env)
    environment = child_environment(lambda_env)
    modules = [REFERENCE, *(handler_module(name) for name in HANDLERS)]
    for module in modules:  # once each, unmeasured: byte-code caches are written
        time_import(module, environment)
    samples: dict[str, list[float]] = {module: [] for module in modules}
    for _ in range(rounds):
        for module in modules:
            samples[module].append(time_import(module, environment))
    medians = {module: statistics.median(values) for module, values in samples.items()}
    reference = medians[REFERENCE]
    misses = []
    for name in HANDLERS:
        value = medians[handler_module(name)]
        met = value / reference <= TARGET_RATIO
        report.figures.append(
            Figure(
                f"cold start: import handlers.{name} (median of {rounds})",
                value,
                ms(value),
                reference,
                f"{ms(reference)} (bare `import boto3`)",
                f"ratio ≤ {TARGET_RATIO}",
                met,
            )
        )
        if not met:
            misses.append(name)
    if misses:
        baseline = all_names(import_tree(REFERENCE, environment))
        for name in misses:
            roots = import_tree(handler_module(name), environment)
            extras = extra_imports(roots, baseline)
            top = ", ".join(
                f"`{node.name}` {node.cumulative_us / 1000:.0f} ms"
                + (f" (from `{importer}`)" if importer else "")
                for node, importer in extras[:5]
                if node.cumulative_us >= 2000
            )
            report.notes.append(
                f"handlers.{name} misses ({medians[handler_module(name)] / reference:.2f}x): "
                f"beyond `import boto3` it imports {top}; our own modules' code "
                f"{own_code_us(roots) / 1000:.0f} ms (one -X importtime run)."
            )
        # What the Powertools pieces the handlers are built on cost by themselves.
        floors = {
            label: statistics.median(
                time_import(f"boto3, {modules}", environment) for _ in range(rounds)
            )
            for label, modules in POWERTOOLS_FLOORS.items()
        }
        report.notes.append(
            "for comparison, boto3 plus only the Powertools pieces the handlers use, "
            f"median of {rounds}: "
            + "; ".join(
                f"{label} {ms(value)} ({value / reference:.2f}x)" for label, value in floors.items()
            )
        )
    return report


def main() -> None:
    run_alone(measure)


if __name__ == "__main__":
    main()
