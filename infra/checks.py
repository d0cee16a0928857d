"""Synthesize the stacks into cdk.out and check each template, for the Makefile and CI.

    python -m infra.checks synth                    # cdk-nag runs during synthesis
    python -m infra.checks cfn-lint                 # synth, then cfn-lint (.cfnlintrc)
    python -m infra.checks checkov --checkov PATH   # synth, then checkov (its own venv)
    python -m infra.checks all --checkov PATH       # synth once, then both
    ... -c bucket_kms=true                          # any setting, as `cdk -c` takes it

checkov must run from its own virtualenv (it pins an old boto3), so it is given
as a path. It runs offline (``--skip-download``); this fails on any failed check
and on any skip written in the stack that no longer matches a finding.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CDK_OUT = ROOT / "cdk.out"


def synthesize(context: dict[str, Any]) -> list[Path]:
    """Synthesize into cdk.out; cdk-nag findings fail here (see cdk.out/validation-report.json).

    Every stack of the app (the stage's and the one-time account setup), so each is checked.
    """
    from app import build_app  # app.py puts functions/ on sys.path

    started = time.monotonic()
    assembly = build_app(outdir=str(CDK_OUT), context=context).synth()
    names = ", ".join(stack.stack_name for stack in assembly.stacks)
    print(f"synthesized {names} in {time.monotonic() - started:.1f} s (cdk-nag: clean)")
    return [Path(stack.template_full_path) for stack in assembly.stacks]


def run_cfn_lint(template: Path) -> int:
    """cfn-lint with the repository's .cfnlintrc (which ignores only W3005, CDK's own)."""
    cfn_lint = Path(sys.executable).parent / "cfn-lint"  # installed next to this Python
    result = subprocess.run(  # nosec B603 # noqa: S603 - fixed argv
        [str(cfn_lint), "--", str(template)], cwd=ROOT, check=False
    )
    print("cfn-lint: clean" if result.returncode == 0 else "cfn-lint: findings above")
    return result.returncode


def run_checkov(template: Path, checkov: str) -> int:
    """checkov, offline; failed checks and stale skips both fail."""
    started = time.monotonic()
    result = subprocess.run(  # nosec B603 # noqa: S603 - fixed argv
        [
            checkov,
            "--skip-download",
            "--framework",
            "cloudformation",
            "--file",
            str(template),
            "--output",
            "json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        print(result.stdout, result.stderr, sep="\n", file=sys.stderr)
        print("checkov: did not produce a report", file=sys.stderr)
        return 2
    results = report.get("results", {})
    failed = results.get("failed_checks", [])
    for check in failed:
        print(
            f"FAILED {check['check_id']} {check['resource']}: {check['check_name']}",
            file=sys.stderr,
        )
    stale = sorted(_declared_skips(template) - _applied_skips(results))
    for check_id, resource in stale:
        print(f"STALE SKIP {check_id} on {resource}: nothing to skip any more", file=sys.stderr)
    summary = report.get("summary", {})
    print(
        f"checkov {summary.get('checkov_version')}: {summary.get('passed')} passed, "
        f"{len(failed)} failed, {summary.get('skipped')} skipped with reasons "
        f"({time.monotonic() - started:.1f} s)"
    )
    return 1 if failed or stale else 0


def _declared_skips(template: Path) -> set[tuple[str, str]]:
    resources: dict[str, Any] = json.loads(template.read_text())["Resources"]
    return {
        (skip["id"], logical_id)
        for logical_id, resource in resources.items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }


def _applied_skips(results: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (check["check_id"], check["resource"].rsplit(".", 1)[-1])
        for check in results.get("skipped_checks", [])
    }


def _context(pairs: Sequence[str]) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator:
            raise SystemExit(f"-c takes key=value, not {pair!r}")
        context[key] = value
    return context


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.checks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("what", choices=("synth", "cfn-lint", "checkov", "all"))
    parser.add_argument("--checkov", help="the checkov executable (from its own virtualenv)")
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    if args.what in ("checkov", "all") and not args.checkov:
        parser.error("--checkov PATH is required (checkov lives in its own virtualenv)")

    templates = synthesize(_context(args.context))
    status = 0
    for template in templates:
        print(f"== {template.name}")
        if args.what in ("cfn-lint", "all"):
            status |= run_cfn_lint(template)
        if args.what in ("checkov", "all"):
            status |= run_checkov(template, args.checkov)
    return status


if __name__ == "__main__":
    sys.exit(main())
