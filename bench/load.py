"""Bounded concurrent load on loopback: a fixed list of requests, a thread pool, a deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import requests

T = TypeVar("T")


def run_load(
    tasks: Sequence[Callable[[requests.Session], T]], *, threads: int, time_limit: float
) -> tuple[list[T | None], float]:
    """Run every task on ``threads`` threads (one HTTP session each); results and wall seconds.

    Tasks not started before the time limit are skipped (their result is None),
    so a slow system ends the load instead of the load never ending.
    """
    local = threading.local()
    sessions: list[requests.Session] = []
    lock = threading.Lock()
    deadline = time.monotonic() + time_limit

    def run(task: Callable[[requests.Session], T]) -> T | None:
        if time.monotonic() > deadline:
            return None
        session: requests.Session | None = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            with lock:
                sessions.append(session)
        return task(session)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(run, tasks))
    seconds = time.perf_counter() - started
    for session in sessions:
        session.close()
    return results, seconds
