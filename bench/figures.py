"""What every benchmark returns: figures next to a reference measured in the same run."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    """One measured figure, the reference it is compared with, and its target.

    ``met`` is None for figures that are reported only; ``ratio`` is value ÷ reference.
    """

    name: str
    value: float
    value_text: str
    reference: float | None
    reference_text: str
    target: str
    met: bool | None

    @property
    def ratio(self) -> float | None:
        if self.reference is None or self.reference == 0:
            return None
        return self.value / self.reference

    @property
    def ratio_text(self) -> str:
        ratio = self.ratio
        if ratio is None:
            return "-"
        return f"{ratio:.2g}" if ratio < 0.1 else f"{ratio:.2f}"

    @property
    def met_text(self) -> str:
        return {True: "yes", False: "**no**", None: "report only"}[self.met]

    def line(self) -> str:
        """The figure as one printed line."""
        return (
            f"{self.name}: {self.value_text} | reference {self.reference_text} | "
            f"ratio {self.ratio_text} | target {self.target} | met: {self.met_text}"
        )


@dataclass
class Report:
    """A benchmark's figures, and notes that explain them (misses, breakdowns)."""

    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def print(self) -> None:
        print(f"== {self.title}")
        for figure in self.figures:
            print("  " + figure.line())
        for note in self.notes:
            print("  - " + note)


def failed(title: str, error: BaseException) -> Report:
    """A benchmark that could not run: one row saying why, so the table still shows it."""
    reason = f"{type(error).__name__}: {error}".splitlines()[0][:200]
    return Report(
        title,
        [Figure(title, float("nan"), f"not measured ({reason})", None, "-", "-", False)],
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def mib(count: float) -> str:
    return f"{count / 2**20:.2f} MiB"


def report_to_json(report: Report) -> str:
    return json.dumps(asdict(report), indent=2)


def report_from_json(text: str) -> Report:
    data = json.loads(text)
    return Report(
        title=data["title"],
        figures=[Figure(**figure) for figure in data["figures"]],
        notes=list(data["notes"]),
        seconds=float(data["seconds"]),
    )


def run_alone(measure: Callable[[], Report]) -> Report:
    """A benchmark's command line: measure, print, and with ``--json PATH`` also save it."""
    parser = argparse.ArgumentParser(description="Run one benchmark and print its figures.")
    parser.add_argument("--json", type=Path, help="also write the figures here, as JSON")
    args = parser.parse_args()
    started = time.monotonic()
    report = measure()
    report.seconds = time.monotonic() - started
    report.print()
    print(f"  ({report.seconds:.1f} s)")
    if args.json:
        args.json.write_text(report_to_json(report))
    return report
