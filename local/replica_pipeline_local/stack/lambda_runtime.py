"""Run the real handler modules locally, the way Lambda runs them.

The callback, status API and reconciler functions run in this process, one event
at a time per function: the handlers keep per-event state on module-level objects
(Powertools' resolver and batch processor), so each function has a lock that plays
its container.

The ingest function runs as its SQS event source runs it in AWS: a pool of up to
N containers (``ingest_max_concurrency``), each a separate process that imports the
handler once (its cold start) and handles one event at a time; an invocation that
outlives the function's timeout has its container killed and replaced, and counts
as a function error, so races between invocations happen here as they do in AWS.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any

from replica_pipeline.config import INGEST_TIMEOUT_SECONDS
from replica_pipeline_local.stack.lambda_context import LocalLambdaContext

HANDLERS = ("ingest", "callback", "status_api", "reconciler")
INGEST_HANDLER = "replica_pipeline.handlers.ingest"
DEEP_CHECK_HANDLER = "replica_pipeline.handlers.deep_check"
LOG_FORMAT = "%(asctime)s %(name)s %(message)s"
# Lambda gives a cold start 10 s; a laptop importing boto3 and Powertools in several
# processes at once can need more, and a slow import is not what a timeout should test.
INIT_TIMEOUT_SECONDS = 60.0
# How long a container asked to stop (SIGTERM) has before it is killed.
STOP_GRACE_SECONDS = 2.0


def configure_logging() -> None:
    """The local stack's log format, in the stack's process and in each container."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    for noisy in ("botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class LocalFunctions:
    """The functions that run in this process, one event at a time each."""

    def __init__(self) -> None:
        self._locks = {name: threading.Lock() for name in HANDLERS}

    def load(self, *names: str) -> None:
        """Import these functions' handlers now (their cold start) rather than on first use."""
        for name in names:
            importlib.import_module(f"replica_pipeline.handlers.{name}")

    def invoke(self, name: str, event: dict[str, Any], timeout_seconds: float = 60.0) -> Any:
        module = importlib.import_module(f"replica_pipeline.handlers.{name}")
        with self._locks[name]:
            context = LocalLambdaContext(f"replica-pipeline-{name}", timeout_seconds)
            return module.handler(event, context)


class FunctionError(Exception):
    """An invocation with no answer: the handler raised, or its container died or timed out.

    Lambda's SQS event source returns the whole batch to the queue on a function error.
    """


class FunctionTimeout(FunctionError):
    """The handler did not answer within the function's timeout; its container was killed."""


def run_container(
    connection: Connection, handler_path: str, function_name: str, timeout_seconds: float
) -> None:
    """A container's process: import the handler once, then one event at a time until EOF."""
    # The stack stops its containers itself; Ctrl-C on `serve` must not kill them mid-event.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Its output goes to the stack's log file; a killed container must not lose buffered lines.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
    configure_logging()
    try:
        handler = importlib.import_module(handler_path).handler
    except Exception as error:
        connection.send(("error", _describe(error), traceback.format_exc()))
        return
    connection.send(("ready", os.getpid()))
    while True:
        try:
            event = connection.recv()
        except EOFError:  # the stack is gone
            return
        if event is None:
            return
        context = LocalLambdaContext(function_name, timeout_seconds)
        try:
            answer: tuple[Any, ...] = ("result", handler(event, context))
        except Exception as error:
            answer = ("error", _describe(error), traceback.format_exc())
        try:
            connection.send(answer)
        except (TypeError, ValueError, AttributeError) as error:  # an answer pickle refuses
            connection.send(("error", _describe(error), traceback.format_exc()))


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class _Container:
    """One execution environment: a spawned process and its pipe."""

    def __init__(
        self, context: SpawnContext, handler: str, function_name: str, timeout_seconds: float
    ) -> None:
        self._connection, child = context.Pipe()
        self.process: SpawnProcess = context.Process(
            target=run_container,
            args=(child, handler, function_name, timeout_seconds),
            name=f"{function_name}-container",
            daemon=True,  # never outlives the stack
        )
        self.process.start()
        self.pid = int(self.process.pid or 0)
        child.close()
        self.ready = False
        # Timed out, died or failed its init: it takes no further event.
        self.broken = False
        self._leaving = False
        self._stopped = False

    def wait_ready(self) -> None:
        """Wait for its cold start (the handler module's import) to finish."""
        if not self.ready:
            self._answer(INIT_TIMEOUT_SECONDS, "its cold start")
            self.ready = True

    def invoke(self, event: dict[str, Any], timeout_seconds: float) -> Any:
        self.wait_ready()
        try:
            self._connection.send(event)
        except OSError as error:
            self.broken = True
            raise FunctionError(f"container {self.pid} is gone: {error}") from error
        return self._answer(timeout_seconds, "the function's timeout")[1]

    def _answer(self, timeout_seconds: float, limit: str) -> tuple[Any, ...]:
        try:
            if not self._connection.poll(timeout_seconds):
                self.broken = True
                raise FunctionTimeout(
                    f"no answer within {limit} ({timeout_seconds:g} s); "
                    f"container {self.pid} is killed"
                )
            answer: tuple[Any, ...] = self._connection.recv()
        except (EOFError, OSError) as error:
            self.broken = True
            raise FunctionError(f"container {self.pid} exited") from error
        if answer[0] == "error":
            if not self.ready:  # an init error: Lambda discards the environment
                self.broken = True
            raise FunctionError(f"{answer[1]}\n{answer[2]}")
        return answer

    def kill(self) -> None:
        """Stop it now, as Lambda does at a function's timeout (from any thread)."""
        if not self._stopped and self.process.is_alive():
            self.process.kill()

    def leave(self) -> None:
        """Ask it to exit (an idle one does at once)."""
        if not self._stopped and not self._leaving and not self.broken:
            self._leaving = True
            with contextlib.suppress(OSError):  # it may be gone already
                self._connection.send(None)

    def stop(self) -> None:
        """Let it leave, kill it if it does not within the grace period; free its pipe."""
        if self._stopped:
            return
        self.leave()
        self.process.join(0 if self.broken else STOP_GRACE_SECONDS)
        self.kill()
        self.process.join()
        self._stopped = True
        self.process.close()
        self._connection.close()


@dataclass
class _Slot:
    """A place for one container; empty until an event needs it (containers start lazily)."""

    container: _Container | None = None
    busy: bool = False


class ContainerPool:
    """Up to ``size`` containers of one function, each handling one event at a time."""

    def __init__(
        self,
        size: int,
        *,
        handler: str = INGEST_HANDLER,
        function_name: str = "replica-pipeline-ingest",
        timeout_seconds: float = INGEST_TIMEOUT_SECONDS,
    ) -> None:
        if size < 1:
            raise ValueError(f"a pool needs at least one container, not {size}")
        self.size = size
        self.handler = handler
        self.function_name = function_name
        self.timeout_seconds = timeout_seconds
        # Never fork: the stack's process runs threads (servers, pump, reconciler).
        self._context = multiprocessing.get_context("spawn")
        self._slots = [_Slot() for _ in range(size)]
        # Last in, first out: a lone event finds the warm container the previous one used.
        self._idle: queue.LifoQueue[_Slot] = queue.LifoQueue()
        for slot in self._slots:
            self._idle.put(slot)
        self._lock = threading.Lock()
        self._closed = False

    def invoke(self, event: dict[str, Any]) -> Any:
        """Run ``event`` on an idle container (waiting while all are busy); its answer.

        Raises ``FunctionError`` when the handler raises, and ``FunctionTimeout`` when it
        has not answered within ``timeout_seconds`` (its container is then replaced).
        """
        slot = self._take()
        try:
            container = self._container_in(slot)
            try:
                return container.invoke(event, self.timeout_seconds)
            except FunctionError:
                if container.broken:
                    self._replace(slot)
                raise
        finally:
            self._give_back(slot)

    def warm(self) -> list[int]:
        """Start every container and wait for their cold starts; their process ids."""
        slots = [self._take() for _ in range(self.size)]
        try:
            containers = [self._container_in(slot) for slot in slots]
            for slot, container in zip(slots, containers, strict=True):
                try:
                    container.wait_ready()
                except FunctionError:
                    self._replace(slot)
                    raise
            return [container.pid for container in containers]
        finally:
            for slot in slots:
                self._give_back(slot)

    def close(self) -> None:
        """Stop every container; an event in flight ends as a function error."""
        with self._lock:
            self._closed = True
            idle: list[_Container] = []
            for slot in self._slots:
                if slot.container is None:
                    continue
                if slot.busy:
                    slot.container.kill()  # the thread invoking it frees it
                else:
                    idle.append(slot.container)
                    slot.container = None
        for container in idle:  # all at once, then wait for each
            container.leave()
        for container in idle:
            container.stop()

    def _take(self) -> _Slot:
        while True:
            with self._lock:
                if self._closed:
                    raise FunctionError(f"{self.function_name} is stopped")
            try:
                slot = self._idle.get(timeout=0.5)
            except queue.Empty:
                continue
            with self._lock:
                slot.busy = True
            return slot

    def _give_back(self, slot: _Slot) -> None:
        with self._lock:
            slot.busy = False
            # Closed while this slot was busy: its container is no longer needed.
            leftover, slot.container = (
                (slot.container, None) if self._closed else (None, slot.container)
            )
        if leftover is not None:
            leftover.kill()
            leftover.stop()
        self._idle.put(slot)

    def _container_in(self, slot: _Slot) -> _Container:
        with self._lock:
            if self._closed:
                raise FunctionError(f"{self.function_name} is stopped")
            if slot.container is None:
                slot.container = self._start()
            return slot.container

    def _replace(self, slot: _Slot) -> None:
        """Kill a timed-out, dead or failed container and start a fresh one in its place."""
        with self._lock:
            container, slot.container = slot.container, None
        if container is not None:
            container.kill()
            container.stop()
        with self._lock:
            if not self._closed:
                slot.container = self._start()

    def _start(self) -> _Container:
        return _Container(self._context, self.handler, self.function_name, self.timeout_seconds)
