"""The console's loopback server: what it serves, what it forwards, and whom it refuses.

A stub target stands in for the status API here; the integration test drives the real one.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from replica_pipeline_local.cli.console_server import (
    API_HEADER,
    STATIC_DIR,
    ConsoleError,
    ConsoleServer,
    run_console,
)
from replica_pipeline_local.cli.targets import Target, TargetError

OURS = {API_HEADER: "1"}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: dict[str, str] | None
    body: bytes | None


@dataclass(frozen=True)
class StubTarget(Target):
    """A target whose status API answers from ``answers`` (path -> status, JSON) or raises."""

    answers: dict[str, tuple[int, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    down: bool = False

    def api_request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> requests.Response:
        self.calls.append(Call(method, path, params, body))
        if self.down:
            raise TargetError("the status API at http://api does not answer")
        status, payload = self.answers.get(path, (404, {"error": "no such submission"}))
        response = requests.Response()
        response.status_code = status
        response._content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return response


def stub_target(name: str = "local", **kwargs: Any) -> StubTarget:
    return StubTarget(
        name=name,
        region="us-east-1",
        bucket="uploads-bucket",
        upload_prefix="uploads/",
        table="replicas",
        api_url="http://api",
        queue_url="http://queue",
        dlq_url="http://dlq",
        endpoint_url="http://127.0.0.1:5000" if name == "local" else None,
        **kwargs,
    )


ITEM = {"submission_id": "abc123", "status": "error", "name": "alice", "attempts": 1}


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>Replicas</title>")
    (tmp_path / "assets" / "index-abc.js").write_text("console.log(1)")
    (tmp_path / "assets" / "index-abc.css").write_text("body{}")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    return tmp_path


@pytest.fixture
def target() -> StubTarget:
    return stub_target(answers={"/replicas": (200, {"items": [ITEM], "next": None})})


@pytest.fixture
def console(target: StubTarget, static_dir: Path) -> Iterator[ConsoleServer]:
    with ConsoleServer(target, static_dir=static_dir) as server:
        yield server


def get(console: ConsoleServer, path: str, **headers: str) -> requests.Response:
    return requests.get(console.url.rstrip("/") + path, headers=headers, timeout=10)


def post(console: ConsoleServer, path: str, body: Any, **headers: str) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(
        console.url.rstrip("/") + path,
        data=data,
        headers={"Content-Type": "application/json", **headers},
        timeout=10,
    )


# -- static files ----------------------------------------------------------------------


def test_the_page_is_served_with_a_strict_policy(console: ConsoleServer) -> None:
    response = get(console, "/")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "http" not in policy  # no other origin, anywhere


def test_hashed_assets_are_cached_for_good_with_their_types(console: ConsoleServer) -> None:
    script = get(console, "/assets/index-abc.js")
    style = get(console, "/assets/index-abc.css")
    icon = get(console, "/favicon.svg")

    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert style.headers["Content-Type"] == "text/css; charset=utf-8"
    assert icon.headers["Content-Type"] == "image/svg+xml"
    assert "immutable" in script.headers["Cache-Control"]
    assert icon.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(
    "path", ["/nothing.js", "/../pyproject.toml", "/%2e%2e/pyproject.toml", "/assets/"]
)
def test_only_built_files_are_served(console: ConsoleServer, path: str) -> None:
    response = requests.get(console.url.rstrip("/") + path, timeout=10)

    assert response.status_code == 404


def test_the_committed_build_serves_every_asset_its_page_names() -> None:
    # given the committed build in cli/console_static (what `make console` writes)
    with ConsoleServer(stub_target()) as server:
        page = get(server, "/").text
        names = [part.split('"')[0] for part in page.split('src="./')[1:]]
        names += [part.split('"')[0] for part in page.split('href="./')[1:]]

        assert names, "index.html names no assets"
        for name in names:
            assert get(server, "/" + name).status_code == 200, name


def test_a_missing_build_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(ConsoleError, match="make console"):
        ConsoleServer(stub_target(), static_dir=tmp_path)


# -- who may call ------------------------------------------------------------------------


def test_it_listens_on_loopback_only(console: ConsoleServer) -> None:
    assert console.url.startswith("http://127.0.0.1:")


@pytest.mark.parametrize("path", ["/", "/api/replicas"])
def test_another_host_name_is_refused(
    console: ConsoleServer, target: StubTarget, path: str
) -> None:
    # given a page whose own name was re-pointed at 127.0.0.1 (DNS rebinding)
    port = console.url.rsplit(":", 1)[1].rstrip("/")

    response = get(console, path, Host=f"evil.example:{port}", **OURS)

    assert response.status_code == 403
    assert target.calls == []


def test_localhost_is_our_own_name(console: ConsoleServer) -> None:
    port = console.url.rsplit(":", 1)[1].rstrip("/")

    assert get(console, "/", Host=f"localhost:{port}").status_code == 200


def test_api_calls_without_the_console_header_are_refused(
    console: ConsoleServer, target: StubTarget
) -> None:
    response = get(console, "/api/replicas")

    assert response.status_code == 403
    assert API_HEADER in response.json()["error"]
    assert target.calls == []


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}, {"Origin": "http://x"}],
)
def test_api_calls_from_other_sites_are_refused(
    console: ConsoleServer, target: StubTarget, headers: dict[str, str]
) -> None:
    response = get(console, "/api/replicas", **OURS, **headers)

    assert response.status_code == 403
    assert target.calls == []


def test_a_cors_preflight_is_never_granted(console: ConsoleServer) -> None:
    response = requests.options(
        console.url + "api/replicas",
        headers={
            "Origin": "http://evil.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": API_HEADER,
        },
        timeout=10,
    )

    assert response.status_code >= 400
    assert not any(name.lower().startswith("access-control-") for name in response.headers)


# -- what is forwarded ----------------------------------------------------------------------


def test_the_list_is_forwarded_with_only_its_own_parameters(
    console: ConsoleServer, target: StubTarget
) -> None:
    response = get(
        console, "/api/replicas?status=error&limit=5&next=abc&callback=x&status=training", **OURS
    )

    assert response.status_code == 200
    assert response.json()["items"] == [ITEM]
    assert response.headers["Cache-Control"] == "no-store"
    assert target.calls == [
        Call("GET", "/replicas", {"status": "error", "limit": "5", "next": "abc"}, None)
    ]


def test_the_api_status_and_message_pass_through(
    console: ConsoleServer, target: StubTarget
) -> None:
    target.answers["/replicas"] = (400, {"error": "status: not a status"})

    response = get(console, "/api/replicas?status=nope", **OURS)

    assert response.status_code == 400
    assert response.json() == {"error": "status: not a status"}


def test_one_item_is_forwarded(console: ConsoleServer, target: StubTarget) -> None:
    target.answers["/replicas/abc123"] = (200, ITEM)

    assert get(console, "/api/replicas/abc123", **OURS).json() == ITEM
    assert get(console, "/api/replicas/nope", **OURS).status_code == 404
    assert [call.path for call in target.calls] == ["/replicas/abc123", "/replicas/nope"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/openapi.json"),
        ("GET", "/api/replicas/by-replica/r1"),
        ("GET", "/api/replicas/a%2F..%2Fb"),
        ("GET", "/api/callbacks/tavus"),
        ("POST", "/api/replicas"),
        ("POST", "/api/replicas/abc123"),
        ("DELETE", "/api/replicas/abc123"),
        ("PUT", "/api/replicas/abc123/retry"),
        ("GET", "/api/replicas/abc123/retry"),
    ],
)
def test_anything_off_the_allowlist_is_not_found(
    console: ConsoleServer, target: StubTarget, method: str, path: str
) -> None:
    response = requests.request(
        method, console.url.rstrip("/") + path, headers=OURS, json={}, timeout=10
    )

    assert response.status_code == 404
    assert target.calls == []


def test_retry_forwards_the_attempt(console: ConsoleServer, target: StubTarget) -> None:
    target.answers["/replicas/abc123/retry"] = (202, {**ITEM, "status": "submitting"})

    response = post(console, "/api/replicas/abc123/retry", {"attempt": 1, "extra": "x"}, **OURS)

    assert response.status_code == 202
    assert response.json()["status"] == "submitting"
    assert target.calls == [Call("POST", "/replicas/abc123/retry", None, b'{"attempt": 1}')]


def test_a_refused_retry_says_why(console: ConsoleServer, target: StubTarget) -> None:
    target.answers["/replicas/abc123/retry"] = (409, {"error": "rejected items cannot be retried"})

    response = post(console, "/api/replicas/abc123/retry", {"attempt": 1}, **OURS)

    assert response.status_code == 409
    assert response.json() == {"error": "rejected items cannot be retried"}


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ({"attempt": "1"}, "application/json", 400),
        ({"attempt": True}, "application/json", 400),
        ([1], "application/json", 400),
        (b"not json", "application/json", 400),
        ({"attempt": 1}, "text/plain", 415),
        ({"attempt": 1, "pad": "x" * 2000}, "application/json", 413),
    ],
)
def test_a_bad_retry_body_is_refused_here(
    console: ConsoleServer, target: StubTarget, body: Any, content_type: str, status: int
) -> None:
    response = post(
        console, "/api/replicas/abc123/retry", body, **OURS, **{"Content-Type": content_type}
    )

    assert response.status_code == status
    assert target.calls == []


def test_an_api_that_does_not_answer_is_a_502_the_page_can_show(
    static_dir: Path,
) -> None:
    with ConsoleServer(stub_target(down=True), static_dir=static_dir) as console:
        response = get(console, "/api/replicas", **OURS)

    assert response.status_code == 502
    assert response.json() == {"error": "the status API at http://api does not answer"}


def test_an_answer_that_is_not_json_is_a_502(console: ConsoleServer, target: StubTarget) -> None:
    target.answers["/replicas"] = (500, b"<html>Internal Server Error</html>")

    response = get(console, "/api/replicas", **OURS)

    assert response.status_code == 502
    assert "500" in response.json()["error"]


def test_the_page_learns_where_a_first_video_goes(console: ConsoleServer) -> None:
    info = get(console, "/api/console", **OURS).json()

    assert info == {
        "stack": "local",
        "local": True,
        "bucket": "uploads-bucket",
        "upload_prefix": "uploads/",
        "aws_endpoint_url": "http://127.0.0.1:5000",
    }


# -- the thumbnail video ----------------------------------------------------------------------

VIDEO = bytes(range(256)) * 40


class _VideoHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        wanted = self.headers.get("Range")
        body, status = VIDEO, 200
        if wanted:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            body, status = VIDEO[start:], 206
        self.send_response(status)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {len(VIDEO) - len(body)}-/{len(VIDEO)}")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def video_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _VideoHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/thumb.mp4"
    server.shutdown()
    server.server_close()


def test_the_thumbnail_video_plays_through_the_console(
    console: ConsoleServer, target: StubTarget, video_url: str
) -> None:
    target.answers["/replicas/abc123"] = (200, {**ITEM, "thumbnail_video_url": video_url})

    # a <video> element sends no custom header, only its same-origin fetch metadata
    whole = get(console, "/api/replicas/abc123/thumbnail", **{"Sec-Fetch-Site": "same-origin"})
    tail = get(console, "/api/replicas/abc123/thumbnail", Range="bytes=100-")

    assert whole.status_code == 200
    assert whole.headers["Content-Type"] == "video/mp4"
    assert whole.content == VIDEO
    assert tail.status_code == 206
    assert tail.headers["Content-Range"] == f"bytes 100-/{len(VIDEO)}"
    assert tail.content == VIDEO[100:]


def test_no_thumbnail_yet_is_not_found(console: ConsoleServer, target: StubTarget) -> None:
    target.answers["/replicas/abc123"] = (200, {**ITEM, "thumbnail_video_url": None})

    response = get(console, "/api/replicas/abc123/thumbnail")

    assert response.status_code == 404


def test_a_deployed_stack_plays_https_thumbnails_only(static_dir: Path, video_url: str) -> None:
    target = stub_target(
        "prod", answers={"/replicas/abc123": (200, {**ITEM, "thumbnail_video_url": video_url})}
    )
    with ConsoleServer(target, static_dir=static_dir) as console:
        response = get(console, "/api/replicas/abc123/thumbnail")

    assert response.status_code == 502


def test_other_sites_cannot_embed_the_thumbnail(console: ConsoleServer, target: StubTarget) -> None:
    response = get(console, "/api/replicas/abc123/thumbnail", **{"Sec-Fetch-Site": "cross-site"})

    assert response.status_code == 403
    assert target.calls == []


# -- starting and stopping ------------------------------------------------------------------------


def test_a_port_in_use_is_a_clear_error(static_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(ConsoleError, match=f"port {port} is already in use"):
            ConsoleServer(stub_target(), port, static_dir=static_dir)


def test_run_console_reports_its_url_and_stops_on_ctrl_c(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupted(self: ConsoleServer) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ConsoleServer, "serve_forever", interrupted)
    urls: list[str] = []

    run_console(stub_target(), open_browser=False, ready=urls.append)

    assert len(urls) == 1
    assert urls[0].startswith("http://127.0.0.1:")


def test_the_build_is_where_the_server_looks() -> None:
    assert (STATIC_DIR / "index.html").is_file()
