"""Benchmarks: each prints its figures next to a reference measured in the same run."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def use_functions_package() -> None:
    """Make ``replica_pipeline`` and ``local`` importable when run as ``python -m bench.x``."""
    for path in (ROOT / "functions", ROOT):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
