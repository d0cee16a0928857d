"""A loopback HTTP server that turns requests into API Gateway REST proxy events.

It plays API Gateway for the callback and status handlers. Locally there is no
IAM authorization on the status routes (in AWS they require SigV4-signed
requests); the callback route is authenticated by its token, as in AWS.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from replica_pipeline.contracts.routes import ROUTES as API_ROUTES
from replica_pipeline.contracts.routes import Route
from replica_pipeline_local.loopback import LOOPBACK, LoopbackServer
from replica_pipeline_local.stack.apigw_events import rest_proxy_event
from replica_pipeline_local.stack.lambda_runtime import LocalFunctions


def _pattern(route: Route) -> re.Pattern[str]:
    """The route's path as a regex, each ``{parameter}`` a named group for one segment."""
    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(route.path)) + "$")


# (path pattern, API Gateway resource, handler, declared methods): the REST API's routes.
ROUTES: tuple[tuple[re.Pattern[str], str, str, str], ...] = tuple(
    (_pattern(route), route.path, route.function, route.method) for route in API_ROUTES
)
# What API Gateway itself would refuse before any Lambda runs (10 MB payload limit).
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024


class ApiAdapter(LoopbackServer):
    """API Gateway on loopback; the stack serves it in its own thread (``serve_forever``)."""

    def __init__(self, functions: LocalFunctions, host: str = LOOPBACK, port: int = 0) -> None:
        self.functions = functions
        super().__init__(
            _handler_for(self), port, thread_name="api-gateway", poll_interval=0.2, host=host
        )

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        path, _, query = raw_path.partition("?")
        # API Gateway hands the function a decoded path.
        path = unquote(path)
        found = next(
            ((m, resource, handler) for p, resource, handler, _ in ROUTES if (m := p.match(path))),
            None,
        )
        if found is None:
            return 404, {"Content-Type": "application/json"}, b'{"message": "Not Found"}'
        match, resource, handler = found
        if len(body) > MAX_PAYLOAD_BYTES:
            return 413, {"Content-Type": "application/json"}, b'{"message": "Payload too large"}'
        event = rest_proxy_event(
            method,
            path,
            query=query,
            resource=resource,
            path_parameters=match.groupdict() or None,
            body=body or None,
            headers=headers,
        )
        response: dict[str, Any] = self.functions.invoke(handler, event, timeout_seconds=29)
        answer_headers = {k: str(v) for k, v in (response.get("headers") or {}).items()}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            answer_headers[name] = ", ".join(str(v) for v in values)
        text = response.get("body") or ""
        payload = base64.b64decode(text) if response.get("isBase64Encoded") else text.encode()
        return int(response.get("statusCode", 502)), answer_headers, payload


def _handler_for(adapter: ApiAdapter) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                status, headers, payload = adapter.handle(
                    self.command, self.path, dict(self.headers.items()), body
                )
            except Exception as error:  # a handler crash is API Gateway's 502, not a hang
                status, headers = 502, {"Content-Type": "application/json"}
                payload = json.dumps(
                    {"message": f"Internal server error: {type(error).__name__}"}
                ).encode()
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def __getattr__(self, name: str) -> Any:
            # Any other method (HEAD, OPTIONS, TRACE, QUERY…): no route declares it.
            if name.startswith("do_"):
                return self._refuse_method
            raise AttributeError(name)

        def _refuse_method(self) -> None:
            # No route declares these methods; API Gateway would not pass them on.
            # Read any body first: left unread, it would be taken for the next request
            # on this keep-alive connection.
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            payload = b'{"message": "Method Not Allowed"}'
            path = unquote(self.path.split("?", 1)[0])
            allowed = next((m for p, _, _, m in ROUTES if p.match(path)), "GET, POST")
            self.send_response(405)
            self.send_header("Allow", allowed)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

    return Handler
