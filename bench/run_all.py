"""Run every benchmark, print each figure with its ratio, and write bench/RESULTS.md.

Each benchmark runs in a child process of its own (``python -m bench.<name>
--json FILE``), so none inherits another's environment, servers or SDK hooks,
and one that fails or runs out of time becomes a "not measured" row instead of
ending the run. The whole run is bounded (``TOTAL_BUDGET_SECONDS``).

Run: ``.venv/bin/python -m bench.run_all`` (``make bench``).
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import ROOT
from bench.figures import Report, failed, report_from_json

RESULTS = ROOT / "bench" / "RESULTS.md"
TOTAL_BUDGET_SECONDS = 1380.0
STOP_GRACE_SECONDS = 30.0

# (module, title if it cannot run, its own time limit in seconds), in the order of the table.
BENCHMARKS: tuple[tuple[str, str, float], ...] = (
    ("cold_start", "Cold start (import time, fresh interpreter)", 180),
    ("callback_cost", "Callback cost (in process, moto server)", 120),
    ("callback_throughput", "Callback throughput (HTTP, through the local API adapter)", 240),
    ("bulk_drop", "Bulk drop (1,000 videos at once, local stack)", 330),
    ("bytes_read", "Bytes read per drop (validation's ranged GETs)", 120),
    ("writes_per_lifecycle", "Writes per lifecycle (one combined drop, upload → completed)", 120),
    ("asset_size", "Lambda code asset (cdk synth)", 300),
    ("powertools_choice", "Powertools: bundled in the asset vs its public layer", 360),
    ("preflight_check", "Pre-flight check (replicas check, 2-min 1080p30 recording)", 120),
    ("deep_check_cost", "Deep check (the deep-check function, 200 MB recording, local stack)", 300),
    ("prepare_speed", "Prepare speed (replicas prepare, 2-min 4K60 HEVC .mov)", 420),
    ("rate_limited_burst", "Rate-limited burst (200 drops at once, Tavus at 2/s)", 300),
    ("hard_failures", "Hard failures (one drop per Tavus fault, local stack)", 240),
    ("reconciler_sweep", "Reconciler sweep (1,000 lost callbacks; heal time, local stack)", 480),
)


def run_benchmark(module: str, title: str, time_limit: float, scratch: Path) -> Report:
    output = scratch / f"{module}.json"
    started = time.monotonic()
    print(f"\n### bench.{module} (limit {time_limit:.0f} s)", flush=True)
    child = subprocess.Popen(  # noqa: S603 - this interpreter, our own modules
        [sys.executable, "-m", f"bench.{module}", "--json", str(output)], cwd=ROOT
    )
    try:
        try:
            returncode = child.wait(timeout=time_limit)
        except subprocess.TimeoutExpired:
            # SIGINT, not SIGKILL: the child's cleanup stops the local stack it started.
            child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            raise TimeoutError(f"bench.{module} ran out of its {time_limit:.0f} s") from None
        if returncode != 0 or not output.exists():
            raise RuntimeError(f"bench.{module} exited with {returncode}")
        report = report_from_json(output.read_text())
    except (RuntimeError, TimeoutError, ValueError, KeyError) as error:
        report = failed(title, error)
    report.seconds = time.monotonic() - started
    return report


def machine() -> str:
    uname = platform.uname()
    return (
        f"{uname.system} {uname.release} {uname.machine}, {os.cpu_count()} CPUs, "
        f"{platform.python_implementation()} {platform.python_version()}"
    )


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(reports: list[Report], total_seconds: float, when: datetime) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {machine()} · Date: {when:%Y-%m-%d %H:%M} UTC · "
        f"`make bench` took {total_seconds:.0f} s",
        "",
        "Written by `python -m bench.run_all`. Every reference was measured in the same run "
        "on the same machine (a shared, noisy one); ratio = value ÷ reference.",
        "",
        "| figure | value | reference (same run) | ratio | target | met? |",
        "|---|---|---|---|---|---|",
    ]
    for report in reports:
        for figure in report.figures:
            lines.append(
                "| "
                + " | ".join(
                    cell(text)
                    for text in (
                        figure.name,
                        figure.value_text,
                        figure.reference_text,
                        figure.ratio_text,
                        figure.target,
                        figure.met_text,
                    )
                )
                + " |"
            )
    lines += ["", "## Notes", ""]
    for report in reports:
        lines.append(f"### {report.title} ({report.seconds:.0f} s)")
        lines.append("")
        lines += [f"- {note}" for note in report.notes] or ["- (none)"]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    started = time.monotonic()
    when = datetime.now(UTC)
    reports: list[Report] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        for module, title, limit in BENCHMARKS:
            remaining = TOTAL_BUDGET_SECONDS - (time.monotonic() - started)
            if remaining < 10:
                reports.append(failed(title, TimeoutError("no time left in the run's budget")))
                continue
            reports.append(run_benchmark(module, title, min(limit, remaining), Path(scratch)))
    total = time.monotonic() - started
    RESULTS.write_text(markdown(reports, total, when) + "\n")

    print("\n## Summary (value | reference | ratio | target | met)")
    for report in reports:
        for figure in report.figures:
            print("  " + figure.line())
    missed = [f.name for r in reports for f in r.figures if f.met is False]
    print(f"\n{len(missed)} target(s) missed" + (": " + "; ".join(missed) if missed else ""))
    print(f"wrote {RESULTS.relative_to(ROOT)} in {total:.0f} s")


if __name__ == "__main__":
    main()
