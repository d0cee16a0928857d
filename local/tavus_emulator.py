"""A faithful stand-in for the Tavus replica API, on loopback, for tests and ``make run``.

It speaks the API described in TAVUS_API.md: checks ``x-api-key``, validates
Create Replica bodies like Tavus, really downloads the pre-signed URLs it is
given (and fails the training, as Tavus would, when a URL is unreachable, would
expire within 24 hours of signing, or was signed with temporary credentials),
advances ``training_progress`` on a fast clock and POSTs callbacks. Faults are
injected through ``POST /_emulator/faults``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

REPLICAS_PATH = "/v2/replicas"
THUMBNAILS_PATH = "/_emulator/thumbnails"
# Larger training videos get no thumbnail rather than held in memory.
MAX_THUMBNAIL_BYTES = 32 * 1024 * 1024
MIN_URL_LIFETIME = timedelta(hours=24)
TEMPORARY_KEY_PREFIX = "ASIA"
PROGRESS_STEPS = (25, 50, 75)


@dataclass
class Faults:
    """What the next answers should get wrong; every field is optional in the JSON."""

    create_errors: list[int] = field(default_factory=list)
    retry_after_seconds: float | None = None
    latency_ms: float = 0.0
    callback_drop_rate: float = 0.0
    callback_duplicate_rate: float = 0.0
    callback_duplicates: int = 1  # extra copies of a duplicated callback
    callback_reorder: bool = False
    training_seconds: float | None = None
    fail_training: str | None = None

    @classmethod
    def parse(cls, payload: Any) -> Faults:
        if not isinstance(payload, dict):
            raise ValueError("faults must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(payload) - known)
        if unknown:
            raise ValueError(f"unknown fault keys: {', '.join(unknown)}")
        faults = cls(**payload)
        if not all(isinstance(code, int) and 400 <= code <= 599 for code in faults.create_errors):
            raise ValueError("create_errors must be a list of HTTP error codes")
        if (
            not isinstance(faults.callback_duplicates, int)
            or not 1 <= faults.callback_duplicates <= 10
        ):
            raise ValueError("callback_duplicates must be an integer from 1 to 10")
        for rate in (faults.callback_drop_rate, faults.callback_duplicate_rate):
            if not isinstance(rate, int | float) or not 0 <= rate <= 1:
                raise ValueError("callback rates must be numbers between 0 and 1")
        return faults


@dataclass
class Replica:
    replica_id: str
    replica_name: str | None
    model_name: str | None
    created_at: datetime
    request: dict[str, Any]
    status: str = "started"
    progress: int = 0
    error_message: str | None = None
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    downloads: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    # The training video as downloaded; served as the thumbnail once training completes.
    video: bytes | None = None
    thumbnail_video_url: str | None = None

    def public(self, *, verbose: bool = False, listing: bool = False) -> dict[str, Any]:
        """The replica as Tavus's Get Replica (or, with ``listing``, List Replicas) shows it."""
        body: dict[str, Any] = {
            "replica_id": self.replica_id,
            "replica_name": self.replica_name,
            "thumbnail_video_url": self.thumbnail_video_url,
            "training_progress": f"{self.progress}/100",
            "status": self.status,
            "created_at": _tavus_time(self.created_at),
            "model_name": self.model_name,
        }
        if not listing:
            body["updated_at"] = _tavus_time(self.updated_at)
            body["error_message"] = self.error_message
        if verbose:
            body["replica_type"] = "user"
        return body


def _tavus_time(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


class TavusEmulator:
    def __init__(
        self,
        api_key: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        training_seconds: float = 20.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api_key = api_key
        self.training_seconds = training_seconds
        self.clock = clock
        self.faults = Faults()
        self.replicas: dict[str, Replica] = {}
        self.stats = {"creates": 0, "downloads": 0, "callbacks_sent": 0, "callbacks_failed": 0}
        self.lock = threading.RLock()
        self._random = random.Random()  # nosec B311 # noqa: S311 - fault injection, not security
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._http = requests.Session()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> TavusEmulator:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def reset_faults(self) -> None:
        with self.lock:
            self.faults = Faults()

    # -- the API -------------------------------------------------------------

    def create(self, body: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            if self.faults.create_errors:
                code = self.faults.create_errors.pop(0)
                headers = {}
                if code == 429 and self.faults.retry_after_seconds is not None:
                    headers["Retry-After"] = f"{self.faults.retry_after_seconds:g}"
                return code, {"message": HTTPStatus(code).phrase}, headers
        problem = _invalid_create_body(body)
        if problem:
            return 400, {"error": problem}, {}
        now = self.clock()
        replica = Replica(
            replica_id="r" + secrets.token_hex(5),
            replica_name=body.get("replica_name"),
            model_name=body.get("model_name"),
            created_at=now,
            updated_at=now,
            request=body,
        )
        with self.lock:
            self.replicas[replica.replica_id] = replica
            self.stats["creates"] += 1
            training_seconds = self.faults.training_seconds or self.training_seconds
            failure = self.faults.fail_training
        threading.Thread(
            target=self._train, args=(replica, training_seconds, failure), daemon=True
        ).start()
        return 200, {"replica_id": replica.replica_id, "status": "started"}, {}

    def get(self, replica_id: str, verbose: bool) -> tuple[int, dict[str, Any]]:
        with self.lock:
            replica = self.replicas.get(replica_id)
            if replica is None or replica.deleted:
                return 400, {"error": "Invalid replica_id"}
            return 200, replica.public(verbose=verbose)

    def list(self, page: int, limit: int, verbose: bool) -> dict[str, Any]:
        with self.lock:
            live = [r for r in self.replicas.values() if not r.deleted]
            live.sort(key=lambda r: r.created_at, reverse=True)
            chunk = live[(page - 1) * limit : page * limit]
            return {
                "data": [r.public(verbose=verbose, listing=True) for r in chunk],
                "total_count": len(live),
            }

    def delete(self, replica_id: str) -> int:
        with self.lock:
            replica = self.replicas.get(replica_id)
            if replica is None or replica.deleted:
                return 400
            replica.deleted = True
            return 200

    # -- training ------------------------------------------------------------

    def _train(self, replica: Replica, training_seconds: float, failure: str | None) -> None:
        urls = [replica.request["train_video_url"]]
        if replica.request.get("consent_video_url"):
            urls.append(replica.request["consent_video_url"])
        problem = None
        for url in urls:
            problem = problem or self._download(replica, url)
        if problem or failure:
            self._finish(replica, "error", problem or failure)
            return
        step_delay = training_seconds / (len(PROGRESS_STEPS) + 1)
        for progress in PROGRESS_STEPS:
            if self._stopping.wait(step_delay):
                return
            with self.lock:
                replica.progress = progress
                replica.updated_at = self.clock()
            self._callback(
                replica,
                {
                    "replica_id": replica.replica_id,
                    "status": "training",
                    "training_progress": f"{progress}/100",
                },
            )
        if self._stopping.wait(step_delay):
            return
        self._finish(replica, "completed", None)

    def _finish(self, replica: Replica, status: str, error_message: str | None) -> None:
        with self.lock:
            replica.status = status
            replica.updated_at = self.clock()
            replica.error_message = error_message
            if status == "completed":
                replica.progress = 100
                if replica.video is not None:
                    replica.thumbnail_video_url = (
                        f"{self.url}{THUMBNAILS_PATH}/{replica.replica_id}.mp4"
                    )
            reorder = self.faults.callback_reorder
        body: dict[str, Any] = {
            "replica_id": replica.replica_id,
            "status": "ready" if status == "completed" else "error",
        }
        if error_message:
            body["error_message"] = error_message
        self._callback(replica, body)
        if reorder:  # a stale progress update arriving after the final word
            self._callback(
                replica,
                {
                    "replica_id": replica.replica_id,
                    "status": "training",
                    "training_progress": "75/100",
                },
            )

    def _download(self, replica: Replica, url: str) -> str | None:
        """Fetch a pre-signed URL as Tavus would; a problem in Tavus's words, or None."""
        lifetime_problem = _url_lifetime_problem(url, self.clock())
        try:
            response = self._http.get(url, timeout=30)
            status, size = response.status_code, len(response.content)
        except requests.RequestException:
            status, size = 0, 0
        with self.lock:
            self.stats["downloads"] += 1
            replica.downloads.append({"url": url, "status_code": status, "bytes": size})
            if status == 200 and replica.video is None and size <= MAX_THUMBNAIL_BYTES:
                replica.video = response.content
        if status != 200:
            return (
                "There was an issue downloading your training video. Make sure the "
                f"video URL is publicly accessible (download answered {status or 'nothing'})."
            )
        return lifetime_problem

    def _callback(self, replica: Replica, body: dict[str, Any]) -> None:
        target = replica.request.get("callback_url")
        if not target:
            return
        with self.lock:
            drop = self._random.random() < self.faults.callback_drop_rate
            duplicated = self._random.random() < self.faults.callback_duplicate_rate
            copies = 1 + (self.faults.callback_duplicates if duplicated else 0)
        if drop:
            return
        for _ in range(copies):
            try:
                response = self._http.post(target, json=body, timeout=10)
                code = response.status_code
            except requests.RequestException:
                code = 0
            with self.lock:
                replica.callbacks.append({"body": body, "status_code": code})
                self.stats["callbacks_sent" if 200 <= code < 300 else "callbacks_failed"] += 1


def _invalid_create_body(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "Invalid request body"
    if "train_video_url" not in body and "train_image_url" not in body:
        return "train_video_url is required"
    for name in ("train_video_url", "consent_video_url", "callback_url"):
        if name in body and (not isinstance(body[name], str) or not _is_http_url(body[name])):
            return f"Invalid {name}"
    for name in ("replica_name", "model_name"):
        if name in body and not isinstance(body[name], str):
            return f"Invalid {name}"
    if "properties" in body and not isinstance(body["properties"], dict):
        return "Invalid properties"
    return None


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _url_lifetime_problem(url: str, now: datetime) -> str | None:
    """What Tavus would hit later: a URL that dies within 24 h, or dies with its session."""
    query = {key.lower(): values[0] for key, values in parse_qs(urlsplit(url).query).items()}
    credential = query.get("x-amz-credential", "")
    if credential.startswith(TEMPORARY_KEY_PREFIX) or "x-amz-security-token" in query:
        return (
            "There was an issue downloading your training video: the link was signed with "
            "temporary credentials and will expire before training starts."
        )
    if "x-amz-date" in query and "x-amz-expires" in query:
        signed = datetime.strptime(query["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires = signed + timedelta(seconds=int(query["x-amz-expires"]))
        if expires - signed < MIN_URL_LIFETIME:
            return (
                "There was an issue downloading your training video: the link expires in "
                "less than 24 hours."
            )
        if expires <= now:
            return "There was an issue downloading your training video: the link has expired."
    return None


def _handler_for(emulator: TavusEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet by default
            return

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def _dispatch(self, method: str) -> None:
            parts = urlsplit(self.path)
            path = parts.path.rstrip("/")
            query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if method == "GET" and path.startswith(THUMBNAILS_PATH + "/"):
                self._thumbnail(path.rsplit("/", 1)[1].removesuffix(".mp4"))
                return
            if path.startswith("/_emulator/"):
                self._control(method, path, raw)
                return
            if self.headers.get("x-api-key") != emulator.api_key:
                self._send(401, {"message": "Invalid access token"})
                return
            latency = emulator.faults.latency_ms / 1000
            if method == "POST" and path == REPLICAS_PATH:
                try:
                    body = json.loads(raw or b"null")
                except json.JSONDecodeError:
                    body = None
                code, answer, headers = emulator.create(body)
                time.sleep(latency)  # after acting: a slow answer, as a timeout sees it
                self._send(code, answer, headers)
            elif method == "GET" and path == REPLICAS_PATH:
                time.sleep(latency)
                page = max(1, int(query.get("page", "1") or 1))
                limit = min(100, max(1, int(query.get("limit", "10") or 10)))
                self._send(200, emulator.list(page, limit, query.get("verbose") == "true"))
            elif method == "GET" and path.startswith(REPLICAS_PATH + "/"):
                time.sleep(latency)
                code, answer = emulator.get(path.rsplit("/", 1)[1], query.get("verbose") == "true")
                self._send(code, answer)
            elif method == "DELETE" and path.startswith(REPLICAS_PATH + "/"):
                time.sleep(latency)
                code = emulator.delete(path.rsplit("/", 1)[1])
                self._send(code, None if code == 200 else {"error": "Invalid replica_id"})
            else:
                self._send(404, {"message": "Not found"})

        def _control(self, method: str, path: str, raw: bytes) -> None:
            if method == "POST" and path == "/_emulator/faults":
                try:
                    faults = Faults.parse(json.loads(raw or b"{}"))
                except (ValueError, TypeError) as error:
                    self._send(400, {"error": str(error)})
                    return
                with emulator.lock:
                    emulator.faults = faults
                self._send(200, asdict(faults))
            elif method == "POST" and path == "/_emulator/reset":
                emulator.reset_faults()
                self._send(200, asdict(emulator.faults))
            elif method == "GET" and path == "/_emulator/stats":
                with emulator.lock:
                    self._send(200, dict(emulator.stats))
            elif method == "GET" and path == "/_emulator/replicas":
                with emulator.lock:
                    data = [
                        {
                            "replica_id": r.replica_id,
                            "status": r.status,
                            "created_at": r.created_at.astimezone(UTC).isoformat(
                                timespec="microseconds"
                            ),
                            "request": r.request,
                            "downloads": list(r.downloads),
                            "callbacks": list(r.callbacks),
                        }
                        for r in emulator.replicas.values()
                    ]
                self._send(200, {"data": data})
            else:
                self._send(404, {"message": "Not found"})

        def _thumbnail(self, replica_id: str) -> None:
            """Tavus hosts a thumbnail video per ready replica; ours replays the training video."""
            with emulator.lock:
                replica = emulator.replicas.get(replica_id)
                video = replica.video if replica and replica.thumbnail_video_url else None
            if video is None:
                self._send(404, {"message": "Not found"})
                return
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(video)))
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(video)

        def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
            payload = b"" if body is None else json.dumps(body).encode("utf-8")
            self.send_response(code)
            if payload:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            # The client may have given up waiting (a latency fault); Tavus would not care.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(payload)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the Tavus emulator on loopback.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--training-seconds", type=float, default=20.0)
    args = parser.parse_args()
    emulator = TavusEmulator(args.api_key, port=args.port, training_seconds=args.training_seconds)
    emulator.start()
    print(json.dumps({"tavus_url": emulator.url}), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
