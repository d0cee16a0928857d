"""The emulator's hard faults and training callbacks, seen over HTTP as a client sees them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from replica_pipeline_local.stack.tavus_emulator import TavusEmulator

KEY = "k"
# Nothing listens on port 9: training downloads fail at once, harmlessly.
VIDEO = "http://127.0.0.1:9/x"


class Client:
    """Talks to the emulator as the pipeline would: the Tavus API plus its control endpoints."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.http.headers["x-api-key"] = KEY

    def create(
        self,
        name: str = "face",
        timeout: float = 5,
        video: str = VIDEO,
        callback_url: str | None = None,
    ) -> requests.Response:
        body = {"train_video_url": video, "replica_name": name}
        if callback_url:
            body["callback_url"] = callback_url
        return self.http.post(f"{self.url}/v2/replicas", json=body, timeout=timeout)

    def get(self, replica_id: str, **query: str) -> requests.Response:
        return self.http.get(f"{self.url}/v2/replicas/{replica_id}", params=query, timeout=5)

    def list_page(self, **query: Any) -> requests.Response:
        return self.http.get(f"{self.url}/v2/replicas", params=query, timeout=5)

    def delete(self, replica_id: str) -> requests.Response:
        return self.http.delete(f"{self.url}/v2/replicas/{replica_id}", timeout=5)

    def faults(self, **faults: Any) -> requests.Response:
        return self.http.post(f"{self.url}/_emulator/faults", json=faults, timeout=5)

    def reset(self) -> requests.Response:
        return self.http.post(f"{self.url}/_emulator/reset", timeout=5)

    def created(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.http.get(
            f"{self.url}/_emulator/replicas", timeout=5
        ).json()["data"]
        return data

    def stats(self) -> dict[str, int]:
        stats: dict[str, int] = self.http.get(f"{self.url}/_emulator/stats", timeout=5).json()
        return stats

    def every_page(self, **query: Any) -> list[list[dict[str, Any]]]:
        """All pages as a careful client reads them: until total_count or an empty page."""
        pages: list[list[dict[str, Any]]] = []
        seen = 0
        while True:
            answer = self.list_page(page=len(pages) + 1, **query).json()
            if not answer["data"]:
                return pages
            pages.append(answer["data"])
            seen += len(answer["data"])
            if seen >= answer["total_count"]:
                return pages


@pytest.fixture
def emulator() -> Iterator[TavusEmulator]:
    emulator = TavusEmulator(KEY, training_seconds=3600).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def client(emulator: TavusEmulator) -> Client:
    return Client(emulator.url)


def wait_until(condition: Any, seconds: float = 3) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.02)


@dataclass
class OurSide:
    """The pipeline's end of a training: the video Tavus downloads, the callbacks it POSTs."""

    video_url: str
    callback_url: str
    callbacks: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def ours() -> Iterator[OurSide]:
    callbacks: list[dict[str, Any]] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _our_handler(callbacks))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield OurSide(f"{base}/train.mp4", f"{base}/callbacks/tavus", callbacks)
    server.shutdown()
    server.server_close()


def _our_handler(callbacks: list[dict[str, Any]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._send(b"a training video")

        def do_POST(self) -> None:
            callbacks.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self._send(b"")

        def _send(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


# -- acting, then failing ------------------------------------------------------


def test_a_create_error_after_acting_still_makes_a_training_replica(client: Client) -> None:
    client.faults(create_errors_after_acting=[504]).raise_for_status()

    answer = client.create("acted")

    assert answer.status_code == 504
    assert answer.json() == {"message": "Gateway Timeout"}
    [replica] = client.created()
    assert replica["request"] == {"train_video_url": VIDEO, "replica_name": "acted"}
    assert client.stats()["creates"] == 1
    assert client.get(replica["replica_id"]).json()["replica_name"] == "acted"
    assert client.list_page().json()["total_count"] == 1
    # it trains as usual: the download is tried (and fails: nothing listens there)
    wait_until(lambda: client.created()[0]["status"] == "error")
    assert client.created()[0]["downloads"][0]["url"] == VIDEO


def test_errors_before_acting_come_first_then_after_acting_in_order(client: Client) -> None:
    client.faults(create_errors=[503], create_errors_after_acting=[500, 502])

    codes = [client.create(f"try {n}").status_code for n in range(4)]

    assert codes == [503, 500, 502, 200]
    assert [r["request"]["replica_name"] for r in client.created()] == [
        "try 1",
        "try 2",
        "try 3",
    ]


def test_a_slow_create_answer_times_the_client_out_while_the_replica_exists(
    client: Client,
) -> None:
    client.faults(create_answer_delay_ms=1000)

    with pytest.raises(requests.ReadTimeout):
        client.create("slow", timeout=0.3)

    assert [r["request"]["replica_name"] for r in client.created()] == ["slow"]
    started = time.monotonic()
    assert client.list_page().status_code == 200
    assert time.monotonic() - started < 0.5, "the delay applies to Create only"


# -- rate limits ---------------------------------------------------------------


def test_a_rate_limit_period_refuses_every_api_call_then_lifts(client: Client) -> None:
    client.create("before").raise_for_status()
    replica_id = client.created()[0]["replica_id"]
    client.faults(rate_limit_seconds=0.5)

    answers = [client.create("during"), client.get(replica_id), client.list_page()]
    answers.append(client.delete(replica_id))

    for answer in answers:
        assert answer.status_code == 429
        assert answer.headers["Retry-After"] == "1"
        assert answer.json() == {"message": "Too Many Requests"}
    assert client.stats()["creates"] == 1, "control endpoints still answer; nothing created"
    wait_until(lambda: client.list_page().status_code == 200)
    assert client.create("after").status_code == 200
    assert client.get(replica_id).status_code == 200


def test_a_rate_limit_period_says_the_configured_retry_after(client: Client) -> None:
    client.faults(rate_limit_seconds=30, retry_after_seconds=7)

    assert client.get("r-any").headers["Retry-After"] == "7"


def test_a_rate_limit_period_without_retry_after_says_the_seconds_left(client: Client) -> None:
    client.faults(rate_limit_seconds=30)

    assert 29 <= int(client.list_page().headers["Retry-After"]) <= 30


def test_creates_beyond_the_per_second_limit_get_429_and_make_nothing(client: Client) -> None:
    client.faults(max_creates_per_second=2)

    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(lambda n: client.create(f"burst {n}"), range(5)))

    assert sorted(a.status_code for a in answers) == [200, 200, 429, 429, 429]
    assert all(a.headers["Retry-After"] == "1" for a in answers if a.status_code == 429)
    assert len(client.created()) == 2
    assert client.stats()["creates"] == 2
    assert client.list_page().status_code == 200, "only Create is limited"
    time.sleep(1.0)  # the window slides: a second later the account may create again
    assert client.create("later").status_code == 200


# -- List: page cap, order, stock replicas, replica_type -------------------------------


def test_capped_oldest_first_pages_with_stock_cover_the_account_once(client: Client) -> None:
    mine = {client.create(f"mine {n}").json()["replica_id"] for n in range(30)}
    client.faults(list_page_cap=7, list_order="oldest_first", stock_replicas=40)

    pages = client.every_page(limit=100, verbose="true")

    assert [len(page) for page in pages] == [7] * 10
    assert client.list_page(limit=100).json()["total_count"] == 70
    items = [item for page in pages for item in page]
    assert len({item["replica_id"] for item in items}) == 70
    created = [item["created_at"] for item in items]
    assert created == sorted(created), "oldest first, across pages"
    stock = {item["replica_id"] for item in items if item["replica_type"] == "system"}
    assert len(stock) == 40
    assert all(replica_id.startswith("rs") for replica_id in stock)
    assert {item["replica_id"] for item in items} == mine | stock
    user_pages = client.every_page(limit=100, replica_type="user")
    assert {item["replica_id"] for page in user_pages for item in page} == mine
    assert client.list_page(replica_type="user").json()["total_count"] == 30


def test_a_limit_under_the_cap_sets_the_page_size(client: Client) -> None:
    for n in range(6):
        client.create(f"mine {n}").raise_for_status()
    client.faults(list_page_cap=7)

    first, second = client.list_page(limit=4).json(), client.list_page(limit=4, page=2).json()

    assert (len(first["data"]), len(second["data"]), first["total_count"]) == (4, 2, 6)
    created = [item["created_at"] for item in first["data"] + second["data"]]
    assert created == sorted(created, reverse=True), "newest first by default"


def test_stock_replicas_are_ready_system_replicas_outside_the_accounts_own(
    client: Client,
) -> None:
    client.faults(stock_replicas=3)

    listed = client.list_page(replica_type="system", verbose="true").json()
    one = client.get(listed["data"][0]["replica_id"], verbose="true").json()

    assert listed["total_count"] == 3
    assert one["replica_type"] == "system"
    assert (one["status"], one["training_progress"]) == ("completed", "100/100")
    assert one["replica_name"].startswith("Stock ")
    assert client.created() == []
    assert client.stats()["creates"] == 0
    assert client.list_page(replica_type="user").json() == {"data": [], "total_count": 0}


def test_setting_faults_again_replaces_the_stock(client: Client) -> None:
    client.faults(stock_replicas=5)
    client.faults(stock_replicas=2)

    assert client.list_page().json()["total_count"] == 2


def test_verbose_listing_says_user_for_the_accounts_replicas(client: Client) -> None:
    client.create("mine").raise_for_status()

    [item] = client.list_page(verbose="true").json()["data"]

    assert item["replica_type"] == "user"


def test_an_unknown_replica_type_filter_is_rejected(client: Client) -> None:
    assert client.list_page(replica_type="stock").status_code == 400


def test_list_limits_stay_clamped_to_100(client: Client) -> None:
    client.faults(stock_replicas=120)

    assert len(client.list_page(limit=500).json()["data"]) == 100
    assert client.list_page(limit="many").status_code == 400


# -- Get and List errors and garbage ---------------------------------------------------


def test_get_errors_answer_in_order_then_the_replica(client: Client) -> None:
    replica_id = client.create().json()["replica_id"]
    client.faults(get_errors=[500, 429], retry_after_seconds=3)

    first, second, third = (client.get(replica_id) for _ in range(3))

    assert (first.status_code, first.json()) == (500, {"message": "Internal Server Error"})
    assert (second.status_code, second.headers["Retry-After"]) == (429, "3")
    assert third.json()["replica_id"] == replica_id


def test_get_garbage_answers_200_with_bodies_that_are_not_a_replica(client: Client) -> None:
    replica_id = client.create().json()["replica_id"]
    client.faults(get_garbage=4)

    answers = [client.get(replica_id) for _ in range(5)]

    assert all(answer.status_code == 200 for answer in answers)
    assert answers[0].content == b""
    assert answers[0].headers["Content-Length"] == "0"
    assert answers[1].json() == []
    assert answers[2].json() == {"data": None}
    assert answers[3].content == b"", "the shapes cycle"
    assert answers[4].json()["replica_id"] == replica_id


def test_list_errors_answer_in_order_then_the_page(client: Client) -> None:
    client.faults(list_errors=[502, 429])

    codes = [client.list_page().status_code for _ in range(3)]

    assert codes == [502, 429, 200]


def test_list_garbage_answers_200_in_shapes_a_client_does_not_expect(client: Client) -> None:
    client.create().raise_for_status()
    # Compared by id: the replica trains (and fails its download) meanwhile, so its
    # status and timestamps may change between the answers.
    page = ids(client.list_page().json()["data"])
    client.faults(list_garbage=3)

    renamed, bare, empty, normal = (client.list_page() for _ in range(4))

    assert list(renamed.json()) == ["replicas"]
    assert ids(renamed.json()["replicas"]) == page
    assert ids(bare.json()) == page
    assert (empty.status_code, empty.content) == (200, b"")
    assert ids(normal.json()["data"]) == page
    assert normal.json()["total_count"] == 1


def ids(replicas: list[dict[str, Any]]) -> list[str]:
    return [replica["replica_id"] for replica in replicas]


# -- training callbacks ---------------------------------------------------------------


@dataclass
class Training:
    """What Get Replica showed while a replica trained, and what we had been called back."""

    progress: list[str] = field(default_factory=list)  # each new training_progress, in order
    updated_at: list[str] = field(default_factory=list)  # updated_at when each was first seen
    callbacks_meanwhile: list[dict[str, Any]] = field(default_factory=list)


def watch_training(client: Client, ours: OurSide, replica_id: str) -> Training:
    """Poll Get Replica, as the reconciler does, until the replica is no longer training."""
    seen = Training()
    deadline = time.monotonic() + 20
    while (replica := client.get(replica_id).json())["status"] == "started":
        if not seen.progress or seen.progress[-1] != replica["training_progress"]:
            seen.progress.append(replica["training_progress"])
            seen.updated_at.append(replica["updated_at"])
        seen.callbacks_meanwhile = list(ours.callbacks)
        assert time.monotonic() < deadline, "the training never ended"
        time.sleep(0.02)
    return seen


def sent_callbacks(client: Client, count: int) -> list[dict[str, Any]]:
    """The emulator's record of the callbacks it POSTed, once ``count`` went out."""
    wait_until(lambda: len(client.created()[0]["callbacks"]) >= count)
    callbacks: list[dict[str, Any]] = client.created()[0]["callbacks"]
    return callbacks


def test_by_default_training_calls_back_once_at_the_end_and_get_shows_progress(
    client: Client, ours: OurSide
) -> None:
    client.faults(training_seconds=1.2).raise_for_status()
    replica_id = client.create(video=ours.video_url, callback_url=ours.callback_url).json()[
        "replica_id"
    ]

    training = watch_training(client, ours, replica_id)

    assert training.progress == ["0/100", "25/100", "50/100", "75/100"]
    assert training.updated_at == sorted(set(training.updated_at)), "each step touches it"
    assert training.callbacks_meanwhile == [], "Tavus sends no progress callbacks"
    ready = {"replica_id": replica_id, "status": "ready"}
    assert sent_callbacks(client, 1) == [{"body": ready, "status_code": 200}]
    assert ours.callbacks == [ready]
    assert client.stats()["callbacks_sent"] == 1
    assert client.get(replica_id).json()["training_progress"] == "100/100"


def test_a_failed_training_calls_back_once_with_its_error(client: Client, ours: OurSide) -> None:
    client.faults(fail_training="A second person was detected.").raise_for_status()
    replica_id = client.create(video=ours.video_url, callback_url=ours.callback_url).json()[
        "replica_id"
    ]

    [callback] = sent_callbacks(client, 1)

    assert callback["body"] == {
        "replica_id": replica_id,
        "status": "error",
        "error_message": "A second person was detected.",
    }
    assert ours.callbacks == [callback["body"]]


def test_progress_callbacks_when_asked_for_arrive_before_the_final_one(
    client: Client, ours: OurSide
) -> None:
    client.faults(training_seconds=0.4, progress_callbacks=True).raise_for_status()
    replica_id = client.create(video=ours.video_url, callback_url=ours.callback_url).json()[
        "replica_id"
    ]

    sent = sent_callbacks(client, 4)

    assert [callback["body"] for callback in sent] == [
        *(
            {"replica_id": replica_id, "status": "training", "training_progress": f"{p}/100"}
            for p in (25, 50, 75)
        ),
        {"replica_id": replica_id, "status": "ready"},
    ]
    assert ours.callbacks == [callback["body"] for callback in sent]
    assert client.stats()["callbacks_sent"] == 4


def test_a_reordered_stale_progress_callback_still_comes_after_the_final_one(
    client: Client, ours: OurSide
) -> None:
    client.faults(training_seconds=0.4, callback_reorder=True).raise_for_status()
    replica_id = client.create(video=ours.video_url, callback_url=ours.callback_url).json()[
        "replica_id"
    ]

    sent = sent_callbacks(client, 2)

    assert [callback["body"] for callback in sent] == [
        {"replica_id": replica_id, "status": "ready"},
        {"replica_id": replica_id, "status": "training", "training_progress": "75/100"},
    ]


# -- the control endpoint ------------------------------------------------------------


def test_an_unknown_fault_key_is_rejected(client: Client) -> None:
    answer = client.faults(list_shuffle=True)

    assert answer.status_code == 400
    assert "list_shuffle" in answer.json()["error"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("create_errors_after_acting", [200]),
        ("create_errors_after_acting", 504),
        ("create_answer_delay_ms", -1),
        ("create_answer_delay_ms", "1000"),
        ("rate_limit_seconds", True),
        ("max_creates_per_second", 0),
        ("max_creates_per_second", 1.5),
        ("list_page_cap", -7),
        ("list_order", "random"),
        ("stock_replicas", 1001),
        ("stock_replicas", None),
        ("get_errors", [600]),
        ("get_garbage", -1),
        ("list_errors", "500"),
        ("list_garbage", 1.0),
        ("progress_callbacks", "true"),
        ("progress_callbacks", 1),
        ("progress_callbacks", None),
        ("callback_reorder", "yes"),
    ],
)
def test_a_mistyped_fault_is_rejected_naming_the_key(client: Client, key: str, value: Any) -> None:
    answer = client.faults(**{key: value})

    assert answer.status_code == 400
    assert answer.json()["error"].startswith(f"{key} must be")


def test_the_new_faults_echo_back_when_set(client: Client) -> None:
    answer = client.faults(max_creates_per_second=None, list_order="oldest_first")

    assert answer.status_code == 200
    assert answer.json()["list_order"] == "oldest_first"
    assert answer.json()["max_creates_per_second"] is None
    assert answer.json()["progress_callbacks"] is False, "off unless asked for, as in Tavus"
    assert client.faults(progress_callbacks=True).json()["progress_callbacks"] is True


def test_reset_clears_every_new_fault(client: Client) -> None:
    client.faults(
        rate_limit_seconds=60,
        max_creates_per_second=1,
        create_errors_after_acting=[500],
        create_answer_delay_ms=5000,
        list_page_cap=1,
        list_order="oldest_first",
        stock_replicas=5,
        get_errors=[500],
        get_garbage=1,
        list_errors=[500],
        list_garbage=1,
    ).raise_for_status()

    client.reset().raise_for_status()

    first, second = client.create("a", timeout=2), client.create("b", timeout=2)
    assert (first.status_code, second.status_code) == (200, 200)
    assert client.get(first.json()["replica_id"]).json()["replica_name"] == "a"
    listed = client.list_page().json()
    assert listed["total_count"] == 2
    assert [item["replica_name"] for item in listed["data"]] == ["b", "a"]
