"""``replicas console``: the status page on loopback, and the only door from it to the API.

The page (built from ``console/`` into ``console_static/``) talks to this server alone. The
server forwards an allowlist of calls to the status API through ``Target.api_request``,
which signs them with the user's own AWS credentials for a deployed stack: the browser never
holds a credential and nothing new is exposed in AWS.

Other web pages open in the same browser must not be able to drive it, so the server binds
127.0.0.1 only, answers only to its own ``Host`` (DNS rebinding), and takes API calls only
with a custom header, which a cross-origin page cannot send without a CORS preflight that is
never granted.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import platform
import re
import sys
import webbrowser
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, quote, unquote, urlsplit

import requests

from replica_pipeline_local.cli.targets import Target, TargetError
from replica_pipeline_local.loopback import LOOPBACK, LoopbackServer

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "console_static"

# The page sends it on every API call; see the module docstring for why.
API_HEADER = "X-Replicas-Console"
# Only what the retry body needs: {"attempt": n}.
MAX_BODY_BYTES = 1024
# Bodies up to this size are read (and dropped when unwanted) to keep a connection usable.
DRAIN_LIMIT_BYTES = 64 * 1024
THUMBNAIL_CHUNK_BYTES = 64 * 1024
UPSTREAM_TIMEOUT_SECONDS = 30
# A short poll makes stop() (and Ctrl-C) take a blink, not half a second.
SHUTDOWN_POLL_SECONDS = 0.05
# Submission ids are hex digests; a strict pattern keeps path tricks out of forwarded URLs.
SUBMISSION_ID = r"[A-Za-z0-9_-]{1,128}"
LIST_PARAMETERS = ("status", "limit", "next")

ITEM_PATH = re.compile(rf"/api/replicas/(?P<id>{SUBMISSION_ID})")
RETRY_PATH = re.compile(rf"/api/replicas/(?P<id>{SUBMISSION_ID})/retry")
THUMBNAIL_PATH = re.compile(rf"/api/replicas/(?P<id>{SUBMISSION_ID})/thumbnail")

# Everything the page needs comes from this server; no inline code, no other origin.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "media-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
# Vite names built assets by content hash, so a browser may keep them for good.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


class ConsoleError(Exception):
    """The console cannot start; the message says what to do."""


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    cache_control: str


def load_static_files(directory: Path) -> dict[str, StaticFile]:
    """Every built file by URL path, read once: only these paths are ever served."""
    if not (directory / "index.html").is_file():
        raise ConsoleError(
            f"the console is not built ({directory / 'index.html'} is missing): run `make console`"
        )
    files: dict[str, StaticFile] = {}
    for path in sorted(directory.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(directory).as_posix()
        files["/" + relative] = StaticFile(
            body=path.read_bytes(),
            content_type=CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
            cache_control=IMMUTABLE if relative.startswith("assets/") else REVALIDATE,
        )
    files["/"] = files["/index.html"]
    return files


class _ConsoleHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        target: Target,
        static_files: dict[str, StaticFile],
    ) -> None:
        super().__init__(address, handler)
        self.target = target
        self.static_files = static_files
        bound = self.server_address[1]
        self.origin = f"http://{LOOPBACK}:{bound}"
        self.allowed_hosts = frozenset({f"{LOOPBACK}:{bound}", f"localhost:{bound}"})
        self.allowed_origins = frozenset(f"http://{host}" for host in self.allowed_hosts)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser dropping a kept-alive connection is routine, not a traceback on the terminal.
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            logger.debug("console: connection from %s ended: %s", client_address, error)
        else:
            super().handle_error(request, client_address)


class ConsoleServer(LoopbackServer):
    """The console's server, for ``run_console`` and for tests that start it in a thread."""

    def __init__(self, target: Target, port: int = 0, *, static_dir: Path = STATIC_DIR) -> None:
        static_files = load_static_files(static_dir)
        server = partial(_ConsoleHTTPServer, target=target, static_files=static_files)
        try:
            super().__init__(
                _ConsoleHandler,
                port,
                thread_name="replicas-console",
                poll_interval=SHUTDOWN_POLL_SECONDS,
                server=server,
            )
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ConsoleError(
                    f"port {port} is already in use: choose another with --port, "
                    "or leave --port out to take a free one"
                ) from None
            raise

    @property
    def url(self) -> str:
        return super().url + "/"


def run_console(
    target: Target,
    *,
    port: int = 0,
    open_browser: bool = True,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the console until Ctrl-C; ``ready`` (default: a line on stdout) gets its URL."""
    server = ConsoleServer(target, port)
    try:
        if ready is not None:
            ready(server.url)
        else:
            print(f"The console is at {server.url} (Ctrl-C stops it)", flush=True)
        if open_browser and _can_open_a_browser():
            webbrowser.open(server.url)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _can_open_a_browser() -> bool:
    # With no display, Python's webbrowser falls back to text browsers that take over the
    # terminal the server is printing to; there, the printed URL is the better answer.
    if platform.system() == "Linux":
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class _ConsoleHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "replicas-console"
    sys_version = ""
    # Idle keep-alive connections end after this long, so threads do not pile up.
    timeout = 60

    @property
    def console(self) -> _ConsoleHTTPServer:
        return cast(_ConsoleHTTPServer, self.server)

    # -- routing -----------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    # Anything else, OPTIONS (a CORS preflight) included, is refused without CORS headers.
    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_OPTIONS(self) -> None:
        self._dispatch("OPTIONS")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        self._read_body()
        if not self._host_is_ours():
            self._json(
                HTTPStatus.FORBIDDEN,
                {"error": f"this server answers only at {self.console.origin}"},
            )
            return
        if not path.startswith("/api/"):
            static = self.console.static_files.get(path) if method in ("GET", "HEAD") else None
            if static is None:
                self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            else:
                self._send(HTTPStatus.OK, static.body, static.content_type, static.cache_control)
            return
        refusal = self._refuse_foreign_api_call(path, method)
        if refusal:
            self._json(HTTPStatus.FORBIDDEN, {"error": refusal})
            return
        self._api(method, path, parts.query)

    def _read_body(self) -> None:
        # Read any small body first, whatever the route: a body left unread would be taken for
        # the next request on this connection. A large or chunked one ends the connection.
        self._body: bytes | None = None
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            length = -1
        if 0 <= length <= DRAIN_LIMIT_BYTES:
            self._body = self.rfile.read(length)
        else:
            self.close_connection = True

    def _api(self, method: str, path: str, query: str) -> None:
        if method == "GET" and path == "/api/console":
            self._json(HTTPStatus.OK, console_info(self.console.target))
        elif method == "GET" and path == "/api/replicas":
            given = parse_qs(query, keep_blank_values=False)
            params = {name: given[name][0] for name in LIST_PARAMETERS if name in given}
            self._forward("GET", "/replicas", params=params)
        elif method == "GET" and (match := ITEM_PATH.fullmatch(path)):
            self._forward("GET", f"/replicas/{quote(match['id'], safe='')}")
        elif method == "GET" and (match := THUMBNAIL_PATH.fullmatch(path)):
            self._thumbnail(match["id"])
        elif method == "POST" and (match := RETRY_PATH.fullmatch(path)):
            body = self._retry_body()
            if body is not None:
                self._forward("POST", f"/replicas/{quote(match['id'], safe='')}/retry", body=body)
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    # -- guards --------------------------------------------------------------------------

    def _host_is_ours(self) -> bool:
        # A page on evil.example whose name was re-pointed at 127.0.0.1 sends its own Host.
        return (self.headers.get("Host") or "").lower() in self.console.allowed_hosts

    def _refuse_foreign_api_call(self, path: str, method: str) -> str | None:
        """Why an API call looks like it came from another site, or None."""
        # Browsers say where a request comes from; only our own page may call the API.
        site = self.headers.get("Sec-Fetch-Site")
        if site is not None and site != "same-origin":
            return "the console API takes calls from the console page only"
        origin = self.headers.get("Origin")
        if origin is not None and origin not in self.console.allowed_origins:
            return "the console API takes calls from the console page only"
        # A <video> element cannot add headers; the checks above cover the thumbnail.
        if method == "GET" and THUMBNAIL_PATH.fullmatch(path):
            return None
        if self.headers.get(API_HEADER) != "1":
            return f"console API calls need the header {API_HEADER}: 1"
        return None

    def _retry_body(self) -> bytes | None:
        """The retry body as the API takes it, or None after answering 4xx."""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            self._json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"error": "send JSON"})
            return None
        if self._body is None or len(self._body) > MAX_BODY_BYTES:
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "the body is too large"})
            return None
        try:
            sent = json.loads(self._body or b"null")
        except ValueError:
            sent = None
        attempt = sent.get("attempt") if isinstance(sent, dict) else None
        if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 0:
            self._json(
                HTTPStatus.BAD_REQUEST,
                {"error": 'the body must be {"attempt": <the attempts the item shows>}'},
            )
            return None
        return json.dumps({"attempt": attempt}).encode()

    # -- the status API --------------------------------------------------------------------

    def _call_api(
        self, method: str, path: str, params: dict[str, str] | None, body: bytes | None
    ) -> requests.Response | None:
        """The API's answer, or None after answering 502 for it."""
        try:
            return self.console.target.api_request(method, path, params=params, body=body)
        except TargetError as error:
            self._json(HTTPStatus.BAD_GATEWAY, {"error": str(error)})
        except requests.RequestException as error:
            self._json(
                HTTPStatus.BAD_GATEWAY,
                {"error": f"the status API did not answer ({type(error).__name__})"},
            )
        return None

    def _forward(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> None:
        response = self._call_api(method, path, params, body)
        if response is None:
            return
        try:
            response.json()
        except ValueError:
            self._json(
                HTTPStatus.BAD_GATEWAY,
                {"error": f"the status API answered {response.status_code} without JSON"},
            )
            return
        self._send(response.status_code, response.content, "application/json", "no-store")

    def _thumbnail(self, submission_id: str) -> None:
        """The replica's thumbnail video, fetched here so the page needs no other origin."""
        response = self._call_api("GET", f"/replicas/{quote(submission_id, safe='')}", None, None)
        if response is None:
            return
        if response.status_code != HTTPStatus.OK:
            self._send(response.status_code, response.content, "application/json", "no-store")
            return
        try:
            url = response.json().get("thumbnail_video_url")
        except (ValueError, AttributeError):
            url = None
        if not isinstance(url, str) or not url:
            self._json(HTTPStatus.NOT_FOUND, {"error": "Tavus has no thumbnail video for it yet"})
            return
        # Tavus hands out https URLs; the local emulator serves plain http on loopback.
        allowed = ("https",) if not self.console.target.is_local else ("https", "http")
        if urlsplit(url).scheme not in allowed:
            self._json(HTTPStatus.BAD_GATEWAY, {"error": "the thumbnail URL is not https"})
            return
        wanted = {"Range": self.headers["Range"]} if self.headers.get("Range") else {}
        try:
            upstream = requests.get(
                url, headers=wanted, stream=True, timeout=UPSTREAM_TIMEOUT_SECONDS
            )
        except requests.RequestException as error:
            self._json(
                HTTPStatus.BAD_GATEWAY,
                {"error": f"the thumbnail video did not load ({type(error).__name__})"},
            )
            return
        with upstream:
            self._stream_video(upstream)

    def _stream_video(self, upstream: requests.Response) -> None:
        if upstream.status_code not in (HTTPStatus.OK, HTTPStatus.PARTIAL_CONTENT):
            self._json(
                HTTPStatus.BAD_GATEWAY,
                {"error": f"the thumbnail video answered {upstream.status_code}"},
            )
            return
        content_type = upstream.headers.get("Content-Type", "")
        self.send_response(upstream.status_code)
        # Never pass on a type the browser could run: this route serves video only.
        self.send_header(
            "Content-Type", content_type if content_type.startswith("video/") else "video/mp4"
        )
        for name in ("Content-Length", "Content-Range", "Accept-Ranges"):
            if name in upstream.headers:
                self.send_header(name, upstream.headers[name])
        if "Content-Length" not in upstream.headers:
            self.close_connection = True  # the end of the connection ends the body
            self.send_header("Connection", "close")
        self._end_headers("no-store")
        try:
            for chunk in upstream.iter_content(THUMBNAIL_CHUNK_BYTES):
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the browser stopped reading (seek, pause, close)

    # -- answers ---------------------------------------------------------------------------

    def _json(self, status: int, body: Mapping[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json", "no-store")

    def _send(self, status: int, body: bytes, content_type: str, cache_control: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self._end_headers(cache_control)
        if self.command != "HEAD":
            self.wfile.write(body)

    def _end_headers(self, cache_control: str) -> None:
        self.send_header("Cache-Control", cache_control)
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()

    # One line per request, at debug level only: the terminal is the user's.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug("%s %s -> %s", self.command, unquote(self.path), code)

    def log_error(self, format: str, *args: Any) -> None:
        logger.debug("console: " + format, *args)


def console_info(target: Target) -> dict[str, Any]:
    """What the page shows about the stack: its name, and where a first video goes."""
    return {
        "stack": target.name,
        "local": target.is_local,
        "bucket": target.bucket,
        "upload_prefix": target.upload_prefix,
        "aws_endpoint_url": target.endpoint_url if target.is_local else None,
    }
