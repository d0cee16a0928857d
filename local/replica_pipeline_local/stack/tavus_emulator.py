"""A faithful stand-in for the Tavus replica API, on loopback, for tests and ``make run``.

It speaks the API described in TAVUS_API.md: checks ``x-api-key``, validates
Create Replica bodies like Tavus, really downloads the pre-signed URLs it is
given (and fails the training, as Tavus would, when a URL is unreachable, would
expire within 24 hours of signing, or was signed with temporary credentials; for a
CloudFront signed URL, when its ``Expires`` is less than 24 hours away or it lacks
``Signature`` or ``Key-Pair-Id``),
advances ``training_progress`` on a fast clock (read with Get Replica) and, like
Tavus, POSTs a callback only when training ends (progress callbacks are a fault).
It speaks both of Tavus's vocabularies on one store: ``/v2/replicas`` (``replica_id``,
``replica_name``, ``replica_type``) and, since Tavus renamed replicas to faces,
``/v2/faces`` (``face_id``, ``face_name``, ``face_type``), each answering in its own;
callbacks say ``replica_id`` unless the ``callback_vocabulary`` fault asks for faces.
Faults are injected through ``POST /_emulator/faults``: the polite ones (an error
before acting, a slow answer) and the hard ones a real Tavus has too, such as acting
then failing (the replica exists, yet the answer is an error or comes after the client
gave up), rate limits, capped and reordered List pages, stock replicas in the account,
and 200 answers whose body is not a replica or a page.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import random
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import requests

from replica_pipeline_local.loopback import LoopbackServer
from replica_pipeline_local.stack.tavus_training_errors import (
    TRAINING_ERRORS,
    is_valid_failure,
    training_error_message,
)

REPLICAS_PATH = "/v2/replicas"
FACES_PATH = "/v2/faces"
THUMBNAILS_PATH = "/_emulator/thumbnails"
# Larger training videos get no thumbnail rather than held in memory.
MAX_THUMBNAIL_BYTES = 32 * 1024 * 1024
MIN_URL_LIFETIME = timedelta(hours=24)
# Tavus's words for a training video it could not download (its errors table, verbatim).
DOWNLOAD_FAILED = TRAINING_ERRORS["download_link"]
TEMPORARY_KEY_PREFIX = "ASIA"
# A canned CloudFront policy says when the URL dies, not when it was signed: allow the
# moments between signing and Create Replica.
CLOUDFRONT_SIGNING_SLACK = timedelta(minutes=5)
CLOUDFRONT_PARAMETERS = ("Expires", "Policy", "Signature", "Key-Pair-Id")
PROGRESS_STEPS = (25, 50, 75)
# Tavus's undocumented maximum List page size, as we assume it (not a fault).
MAX_LIST_LIMIT = 100
MAX_STOCK_REPLICAS = 1000
STOCK_NAMES = ("Anna", "Ben", "Carla", "Dev", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas")
TOO_MANY_REQUESTS = {"message": HTTPStatus.TOO_MANY_REQUESTS.phrase}

ReplicaType = Literal["user", "system"]
VocabularyName = Literal["replicas", "faces"]


@dataclass(frozen=True)
class Vocabulary:
    """Tavus's names for one API: replicas, or faces since its newest pages renamed them.

    The emulator plays Tavus, so it spells the names itself rather than take the
    client's: a client that names a field wrongly must fail against it.
    """

    path: str
    id: str
    name: str
    type: str
    ids: str


VOCABULARIES: dict[VocabularyName, Vocabulary] = {
    "replicas": Vocabulary(
        REPLICAS_PATH, "replica_id", "replica_name", "replica_type", "replica_ids"
    ),
    "faces": Vocabulary(FACES_PATH, "face_id", "face_name", "face_type", "face_ids"),
}
REPLICAS = VOCABULARIES["replicas"]
ListOrder = Literal["newest_first", "oldest_first"]
LIST_ORDERS: tuple[ListOrder, ...] = ("newest_first", "oldest_first")


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
    # Tavus documents callbacks only on completion and error: progress ones are opt-in.
    progress_callbacks: bool = False
    training_seconds: float | None = None
    # A preset name of local/tavus_training_errors.py (Tavus's message for it) or the message.
    fail_training: str | None = None
    # Acting, then failing: the replica is created and trains, the answer says otherwise.
    create_errors_after_acting: list[int] = field(default_factory=list)
    create_answer_delay_ms: float = 0.0
    # Timed from the moment the faults are set (see TavusEmulator.set_faults).
    rate_limit_seconds: float = 0.0
    max_creates_per_second: int | None = None
    list_page_cap: int | None = None
    list_order: ListOrder = "newest_first"
    stock_replicas: int = 0
    get_errors: list[int] = field(default_factory=list)
    get_garbage: int = 0
    list_errors: list[int] = field(default_factory=list)
    list_garbage: int = 0
    # How callbacks name the replica: Tavus documents ``replica_id``; for faces it says nothing.
    callback_vocabulary: VocabularyName = "replicas"

    @classmethod
    def parse(cls, payload: Any) -> Faults:
        if not isinstance(payload, dict):
            raise ValueError("faults must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(payload) - known)
        if unknown:
            raise ValueError(f"unknown fault keys: {', '.join(unknown)}")
        faults = cls(**payload)
        for name, (is_valid, expected) in _FAULT_RULES.items():
            if not is_valid(getattr(faults, name)):
                raise ValueError(f"{name} must be {expected}")
        for rate in (faults.callback_drop_rate, faults.callback_duplicate_rate):
            if not isinstance(rate, int | float) or not 0 <= rate <= 1:
                raise ValueError("callback rates must be numbers between 0 and 1")
        return faults


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not a count


def _is_error_codes(value: Any) -> bool:
    return isinstance(value, list) and all(_is_int(code) and 400 <= code <= 599 for code in value)


def _is_duration(value: Any) -> bool:
    # json.loads accepts Infinity and NaN; neither is a duration anyone can sleep.
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _is_count(value: Any) -> bool:
    return _is_int(value) and value >= 0


def _is_positive_int_or_null(value: Any) -> bool:
    return value is None or (_is_int(value) and value >= 1)


# How each fault key is checked, and what the 400 says it must be.
_FAULT_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "create_errors": (_is_error_codes, "a list of HTTP error codes"),
    "callback_duplicates": (lambda v: _is_int(v) and 1 <= v <= 10, "an integer from 1 to 10"),
    "progress_callbacks": (lambda v: isinstance(v, bool), "true or false"),
    "callback_reorder": (lambda v: isinstance(v, bool), "true or false"),
    "create_errors_after_acting": (_is_error_codes, "a list of HTTP error codes (400-599)"),
    "create_answer_delay_ms": (_is_duration, "a number of milliseconds, 0 or more"),
    "rate_limit_seconds": (_is_duration, "a number of seconds, 0 or more"),
    "max_creates_per_second": (_is_positive_int_or_null, "a positive integer or null"),
    "list_page_cap": (_is_positive_int_or_null, "a positive integer or null"),
    "list_order": (lambda v: v in LIST_ORDERS, "one of " + ", ".join(LIST_ORDERS)),
    "stock_replicas": (
        lambda v: _is_int(v) and 0 <= v <= MAX_STOCK_REPLICAS,
        f"an integer from 0 to {MAX_STOCK_REPLICAS}",
    ),
    "get_errors": (_is_error_codes, "a list of HTTP error codes (400-599)"),
    "get_garbage": (_is_count, "an integer, 0 or more"),
    "list_errors": (_is_error_codes, "a list of HTTP error codes (400-599)"),
    "list_garbage": (_is_count, "an integer, 0 or more"),
    "callback_vocabulary": (lambda v: v in VOCABULARIES, "one of " + ", ".join(VOCABULARIES)),
    "fail_training": (
        is_valid_failure,
        "null, an error message, or a preset: " + ", ".join(TRAINING_ERRORS),
    ),
}


@dataclass(frozen=True)
class Answer:
    """One answer of the Tavus API: status, JSON body (None: an empty body), extra headers."""

    code: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # Sent only after this wait, which the handler sleeps outside the emulator lock.
    delay_seconds: float = 0.0


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
    replica_type: ReplicaType = "user"

    def public(
        self, *, verbose: bool = False, listing: bool = False, vocabulary: Vocabulary = REPLICAS
    ) -> dict[str, Any]:
        """The replica as Tavus's Get Replica (or, with ``listing``, List Replicas) shows it,
        in the names of ``vocabulary`` (the path it was asked on)."""
        body: dict[str, Any] = {
            vocabulary.id: self.replica_id,
            vocabulary.name: self.replica_name,
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
            body[vocabulary.type] = self.replica_type
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
        # What was created through the API; stock replicas (a fault) live apart in ``stock``.
        self.replicas: dict[str, Replica] = {}
        self.stock: dict[str, Replica] = {}
        self.stats = {"creates": 0, "downloads": 0, "callbacks_sent": 0, "callbacks_failed": 0}
        # API calls by method and path family ("GET /v2/faces"): which vocabulary a client spoke.
        self.calls: Counter[str] = Counter()
        self.lock = threading.RLock()
        # Timed faults run on real monotonic time: the injectable clock may stand still.
        self._rate_limited_until = 0.0
        self._recent_creates: deque[float] = deque()  # accepted-create times, last second
        self._get_garbage_served = 0
        self._list_garbage_served = 0
        self._random = random.Random()  # nosec B311 # noqa: S311 - fault injection, not security
        # stop() waits up to one poll interval; the default 0.5 s dominates a test's teardown.
        self._server = LoopbackServer(
            _handler_for(self), port, thread_name="tavus-emulator", poll_interval=0.05, host=host
        )
        self._stopping = threading.Event()
        self._http = requests.Session()

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> TavusEmulator:
        self._server.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.stop()

    def set_faults(self, faults: Faults) -> None:
        """Replace every fault; timed ones (rate limits) count from now."""
        stock = self._stock_replicas(faults.stock_replicas)
        with self.lock:
            self.faults = faults
            self.stock = stock
            self._rate_limited_until = time.monotonic() + faults.rate_limit_seconds
            self._recent_creates.clear()
            self._get_garbage_served = 0
            self._list_garbage_served = 0

    def reset_faults(self) -> None:
        self.set_faults(Faults())

    # -- the API -------------------------------------------------------------

    def rate_limit_answer(self) -> Answer | None:
        """The 429 every API call gets during a ``rate_limit_seconds`` period, else None."""
        with self.lock:
            remaining = self._rate_limited_until - time.monotonic()
            if remaining <= 0:
                return None
            retry_after = self.faults.retry_after_seconds
        if retry_after is None:
            retry_after = max(1, math.ceil(remaining))
        return Answer(429, TOO_MANY_REQUESTS, {"Retry-After": f"{retry_after:g}"})

    def create(self, body: Any, vocabulary: Vocabulary = REPLICAS) -> Answer:
        # One lock section from the rate check to storing the replica, so concurrent
        # creates can neither slip past max_creates_per_second nor double-count.
        with self.lock:
            if self.faults.create_errors:
                return self._injected_error(self.faults.create_errors.pop(0))
            if self._create_rate_exceeded():
                return Answer(429, TOO_MANY_REQUESTS, {"Retry-After": "1"})
            problem = _invalid_create_body(body, vocabulary)
            if problem:
                return Answer(400, {"error": problem})
            replica = self._store_new_replica(body, vocabulary)
            training_seconds = self.faults.training_seconds or self.training_seconds
            failure = self.faults.fail_training
            delay_seconds = self.faults.create_answer_delay_ms / 1000
            answer = (
                self._injected_error(self.faults.create_errors_after_acting.pop(0))
                if self.faults.create_errors_after_acting
                else Answer(200, {vocabulary.id: replica.replica_id, "status": "started"})
            )
        threading.Thread(
            target=self._train, args=(replica, training_seconds, failure), daemon=True
        ).start()
        return replace(answer, delay_seconds=delay_seconds)

    def get(self, replica_id: str, verbose: bool, vocabulary: Vocabulary = REPLICAS) -> Answer:
        with self.lock:
            if self.faults.get_errors:
                return self._injected_error(self.faults.get_errors.pop(0))
            if self.faults.get_garbage:
                self.faults.get_garbage -= 1
                self._get_garbage_served += 1
                return Answer(200, _not_a_replica(self._get_garbage_served - 1))
            replica = self.replicas.get(replica_id) or self.stock.get(replica_id)
            if replica is None or replica.deleted:
                return Answer(400, {"error": f"Invalid {vocabulary.id}"})
            return Answer(200, replica.public(verbose=verbose, vocabulary=vocabulary))

    def list(
        self,
        page: int,
        limit: int,
        verbose: bool,
        replica_type: str | None = None,
        replica_ids: str | None = None,
        vocabulary: Vocabulary = REPLICAS,
    ) -> Answer:
        """A page of every replica, the account's and Tavus's stock ones alike, unless
        ``replica_type`` (``user`` | ``system``) or ``replica_ids`` (comma separated) narrow it."""
        wanted = {i.strip() for i in replica_ids.split(",") if i.strip()} if replica_ids else None
        with self.lock:
            if self.faults.list_errors:
                return self._injected_error(self.faults.list_errors.pop(0))
            if replica_type not in (None, "user", "system"):
                return Answer(400, {"error": f"Invalid {vocabulary.type}"})
            listed = [
                r
                for r in (*self.replicas.values(), *self.stock.values())
                if not r.deleted
                and replica_type in (None, r.replica_type)
                and (wanted is None or r.replica_id in wanted)
            ]
            listed.sort(
                key=lambda r: r.created_at, reverse=self.faults.list_order == "newest_first"
            )
            size = min(limit, self.faults.list_page_cap or limit)
            items = [
                r.public(verbose=verbose, listing=True, vocabulary=vocabulary)
                for r in listed[(page - 1) * size : page * size]
            ]
            if self.faults.list_garbage:
                self.faults.list_garbage -= 1
                self._list_garbage_served += 1
                return Answer(200, _not_a_page(self._list_garbage_served - 1, items))
            return Answer(200, {"data": items, "total_count": len(listed)})

    def delete(self, replica_id: str, vocabulary: Vocabulary = REPLICAS) -> Answer:
        with self.lock:
            # Stock replicas are Tavus's, not the account's: they cannot be deleted.
            replica = self.replicas.get(replica_id)
            if replica is None or replica.deleted:
                return Answer(400, {"error": f"Invalid {vocabulary.id}"})
            replica.deleted = True
            return Answer(200)

    # -- faults --------------------------------------------------------------

    def _injected_error(self, code: int) -> Answer:
        """A fault's error answer; a 429 says Retry-After when retry_after_seconds is set."""
        headers = {}
        if code == 429 and self.faults.retry_after_seconds is not None:
            headers["Retry-After"] = f"{self.faults.retry_after_seconds:g}"
        return Answer(code, {"message": HTTPStatus(code).phrase}, headers)

    def _create_rate_exceeded(self) -> bool:
        """Whether max_creates_per_second creates were accepted in the last second (lock held)."""
        now = time.monotonic()
        while self._recent_creates and now - self._recent_creates[0] >= 1.0:
            self._recent_creates.popleft()
        limit = self.faults.max_creates_per_second
        return limit is not None and len(self._recent_creates) >= limit

    def _store_new_replica(self, body: dict[str, Any], vocabulary: Vocabulary) -> Replica:
        """Store and count a created replica, named in ``vocabulary``'s field (lock held)."""
        now = self.clock()
        replica = Replica(
            replica_id="r" + secrets.token_hex(5),
            replica_name=body.get(vocabulary.name),
            model_name=body.get("model_name"),
            created_at=now,
            updated_at=now,
            request=body,
        )
        self.replicas[replica.replica_id] = replica
        self.stats["creates"] += 1
        self._recent_creates.append(time.monotonic())
        return replica

    def _stock_replicas(self, count: int) -> dict[str, Replica]:
        """Tavus's ready-made replicas, each a day older than the one before."""
        now = self.clock()
        stock = {}
        for index in range(count):
            created_at = now - timedelta(days=index + 1)
            replica = Replica(
                replica_id="rs" + secrets.token_hex(5),
                replica_name=f"Stock {STOCK_NAMES[index % len(STOCK_NAMES)]} {index + 1}",
                model_name="phoenix-3",
                created_at=created_at,
                updated_at=created_at,
                request={},
                status="completed",
                progress=100,
                replica_type="system",
            )
            stock[replica.replica_id] = replica
        return stock

    # -- training ------------------------------------------------------------

    def _train(self, replica: Replica, training_seconds: float, failure: str | None) -> None:
        # A training video, or (image training, newer pages) a training image instead.
        urls = [replica.request.get("train_video_url") or replica.request["train_image_url"]]
        if replica.request.get("consent_video_url"):
            urls.append(replica.request["consent_video_url"])
        problem = None
        for url in urls:
            problem = problem or self._download(replica, url)
        if problem or failure:
            self._finish(replica, "error", problem or training_error_message(str(failure)))
            return
        step_delay = training_seconds / (len(PROGRESS_STEPS) + 1)
        for progress in PROGRESS_STEPS:
            if self._stopping.wait(step_delay):
                return
            with self.lock:
                replica.progress = progress
                replica.updated_at = self.clock()
                announce = self.faults.progress_callbacks
            if announce:
                self._callback(
                    replica,
                    self._callback_body(
                        replica, status="training", training_progress=f"{progress}/100"
                    ),
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
        body = self._callback_body(replica, status="ready" if status == "completed" else "error")
        if error_message:
            body["error_message"] = error_message
        self._callback(replica, body)
        if reorder:  # a stale progress update arriving after the final word
            self._callback(
                replica,
                self._callback_body(replica, status="training", training_progress="75/100"),
            )

    def _callback_body(self, replica: Replica, **news: str) -> dict[str, Any]:
        """A training callback about ``replica``, named as ``callback_vocabulary`` says."""
        with self.lock:
            vocabulary = VOCABULARIES[self.faults.callback_vocabulary]
        return {vocabulary.id: replica.replica_id, **news}

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
        if status != 200:  # what answered is in replica.downloads; Tavus says only this
            return DOWNLOAD_FAILED
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


def _not_a_replica(served: int) -> Any:
    """The body of the ``served``-th garbage Get answer: empty, a bare list, or null data."""
    return (None, [], {"data": None})[served % 3]


def _not_a_page(served: int, items: list[dict[str, Any]]) -> Any:
    """The body of the ``served``-th garbage List answer: renamed, bare, or empty."""
    return ({"replicas": items}, items, None)[served % 3]


def _invalid_create_body(body: Any, vocabulary: Vocabulary = REPLICAS) -> str | None:
    """Why Tavus would refuse this Create Replica (or Create Face) body, or None."""
    if not isinstance(body, dict):
        return "Invalid request body"
    if "train_video_url" in body and "train_image_url" in body:
        # Image training (newer pages) is an alternative to a training video, never both.
        return "Provide either train_video_url or train_image_url, not both"
    if "train_video_url" not in body and "train_image_url" not in body:
        return "train_video_url is required"
    for name in ("train_video_url", "train_image_url", "consent_video_url", "callback_url"):
        if name in body and (not isinstance(body[name], str) or not _is_http_url(body[name])):
            return f"Invalid {name}"
    for name in (vocabulary.name, "model_name", "voice_name"):
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
    raw_query = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
    if any(name in raw_query for name in CLOUDFRONT_PARAMETERS):
        return _cloudfront_url_problem(raw_query, now)
    query = {key.lower(): value for key, value in raw_query.items()}
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


def _cloudfront_url_problem(query: dict[str, str], now: datetime) -> str | None:
    """A CloudFront signed URL: complete, and alive for 24 h from (about) now."""
    missing = [name for name in ("Signature", "Key-Pair-Id") if not query.get(name)]
    expires = _cloudfront_expiry(query)
    if missing or expires is None:
        needs = ", ".join(missing or ["Expires (or a Policy with DateLessThan)"])
        return (
            "There was an issue downloading your training video: the link is not a complete "
            f"CloudFront signed URL (missing {needs})."
        )
    if expires <= now:
        return "There was an issue downloading your training video: the link has expired."
    if expires - now < MIN_URL_LIFETIME - CLOUDFRONT_SIGNING_SLACK:
        return (
            "There was an issue downloading your training video: the link expires in "
            "less than 24 hours."
        )
    return None


def _cloudfront_expiry(query: dict[str, str]) -> datetime | None:
    """``Expires`` of a canned policy, or ``DateLessThan`` of a custom one."""
    try:
        if "Policy" in query:
            encoded = query["Policy"].replace("-", "+").replace("_", "=").replace("~", "/")
            (statement,) = json.loads(base64.b64decode(encoded))["Statement"]
            epoch = int(statement["Condition"]["DateLessThan"]["AWS:EpochTime"])
        else:
            epoch = int(query["Expires"])
    except (ValueError, KeyError, TypeError):
        return None
    return datetime.fromtimestamp(epoch, UTC)


def _vocabulary_and_id(path: str) -> tuple[Vocabulary, str | None] | None:
    """Which API a path is (``/v2/replicas`` or ``/v2/faces``) and the id it names, if any."""
    for vocabulary in VOCABULARIES.values():
        if path == vocabulary.path:
            return vocabulary, None
        rest = path.removeprefix(vocabulary.path + "/")
        if rest != path and rest and "/" not in rest:
            return vocabulary, rest
    return None


def _page_and_limit(query: dict[str, str]) -> tuple[int, int] | None:
    """List paging from the query, out-of-range values clamped; None if not integers."""
    try:
        page = int(query.get("page") or 1)
        limit = int(query.get("limit") or 10)
    except ValueError:
        return None
    return max(1, page), min(MAX_LIST_LIMIT, max(1, limit))


def _handler_for(emulator: TavusEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes; with Nagle on, each answer waits ~40 ms
        # for the client's delayed ACK.
        disable_nagle_algorithm = True

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
            verbose = query.get("verbose") == "true"
            limited = emulator.rate_limit_answer()
            if limited is not None:
                time.sleep(latency)
                self._answer(limited)
            elif (named := _vocabulary_and_id(path)) is None:
                self._send(404, {"message": "Not found"})
            else:
                self._api(method, query, raw, latency, verbose, *named)

        def _api(
            self,
            method: str,
            query: dict[str, str],
            raw: bytes,
            latency: float,
            verbose: bool,
            vocabulary: Vocabulary,
            replica_id: str | None,
        ) -> None:
            """The replica (or face) endpoints, answered in ``vocabulary``'s names."""
            with emulator.lock:
                emulator.calls[f"{method} {vocabulary.path}"] += 1
            if method == "POST" and replica_id is None:
                try:
                    body = json.loads(raw or b"null")
                except json.JSONDecodeError:
                    body = None
                answer = emulator.create(body, vocabulary)
                time.sleep(latency)  # after acting: a slow answer, as a timeout sees it
                self._answer(answer)
            elif method == "GET" and replica_id is None:
                time.sleep(latency)
                paging = _page_and_limit(query)
                if paging is None:
                    self._send(400, {"error": "Invalid page or limit"})
                    return
                page, limit = paging
                self._answer(
                    emulator.list(
                        page,
                        limit,
                        verbose,
                        query.get(vocabulary.type),
                        query.get(vocabulary.ids),
                        vocabulary,
                    )
                )
            elif method == "GET" and replica_id is not None:
                time.sleep(latency)
                self._answer(emulator.get(replica_id, verbose, vocabulary))
            elif method == "DELETE" and replica_id is not None:
                time.sleep(latency)
                self._answer(emulator.delete(replica_id, vocabulary))
            else:
                self._send(404, {"message": "Not found"})

        def _control(self, method: str, path: str, raw: bytes) -> None:
            if method == "POST" and path == "/_emulator/faults":
                try:
                    faults = Faults.parse(json.loads(raw or b"{}"))
                except (ValueError, TypeError) as error:
                    self._send(400, {"error": str(error)})
                    return
                emulator.set_faults(faults)
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

        def _answer(self, answer: Answer) -> None:
            time.sleep(answer.delay_seconds)
            self._send(answer.code, answer.body, answer.headers)

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
