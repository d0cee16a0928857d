"""An HTTP server on loopback, served in a daemon thread or in the foreground.

The console, the Tavus emulator and the API Gateway and CloudFront stand-ins share this
lifecycle; each keeps its own request handler.
"""

from __future__ import annotations

from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Self

LOOPBACK = "127.0.0.1"

# Builds the server from its address and handler class; ThreadingHTTPServer itself by default.
ServerFactory = Callable[[tuple[str, int], type[BaseHTTPRequestHandler]], ThreadingHTTPServer]


class LoopbackServer:
    """A ``ThreadingHTTPServer`` bound to ``host`` (loopback) on ``port`` (0: a free one)."""

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        port: int = 0,
        *,
        thread_name: str,
        poll_interval: float = 0.5,
        host: str = LOOPBACK,
        server: ServerFactory = ThreadingHTTPServer,
    ) -> None:
        self._httpd = server((host, port), handler)
        self._thread_name = thread_name
        self._poll_interval = poll_interval
        self._thread: Thread | None = None
        # Whether serve_forever may be running, so stop() never waits on a loop never entered.
        self._serving = False

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        """Serve in a daemon thread; ``stop`` ends it."""
        self._serving = True
        self._thread = Thread(target=self.serve_forever, name=self._thread_name, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until ``stop`` (from another thread) or an exception."""
        self._serving = True
        try:
            self._httpd.serve_forever(poll_interval=self._poll_interval)
        finally:
            self._serving = False

    def stop(self) -> None:
        if self._serving:
            self._httpd.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
