"""The Tavus replica API: the only module that knows its paths, fields and error shapes.

Tavus takes no idempotency key, so what a failed Create Replica proves decides
what may follow it:

- ``TavusRateLimited`` and ``TavusUnavailable`` (429, 401/403, a connection that
  never opened) prove that Tavus did not act: the request may be sent again.
- ``TavusOutcomeUnknown`` (a 5xx, a read timeout, a broken connection, a 2xx we
  cannot read) leaves doubt: Tavus may have made the replica. Nobody may send
  Create Replica again for that submission until a complete listing shows no
  replica of it.

Retries live in requests' adapter (urllib3 ``Retry``): exponential backoff with
jitter, honouring ``Retry-After``. Reads retry on 429, 5xx and timeouts; Create
Replica retries only on what proves Tavus did not act. No retry sleeps past the
caller's deadline, so an invocation never outlives its function timeout.

Tavus's newest pages rename replicas to faces (``/v2/faces``, ``face_id``,
``face_name``, ``face_type``, ``face_ids``) and say the old names still work.
``TavusSettings.vocabulary`` chooses the names the client sends; whatever it
chooses, answers and callbacks are read in either, and handed to the rest of the
pipeline under one set of names (the replica ones, ``OURS``), so no other module
knows Tavus's.
"""

from __future__ import annotations

import contextvars
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

# urllib3 is already loaded with botocore; requests is imported when a client is
# built, so handlers that never call Tavus do not pay for it at cold start.
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.retry import Retry

from replica_pipeline.config import TavusSettings

if TYPE_CHECKING:
    import requests


@dataclass(frozen=True)
class Vocabulary:
    """One set of Tavus's names for the same API: its path and the fields that carry names."""

    name: str  # the value of TavusSettings.vocabulary that chooses it
    path: str
    id_field: str
    name_field: str
    type_field: str  # a listing filter too (``user`` | ``system``)
    ids_field: str  # a listing filter: ids, comma separated


REPLICAS = Vocabulary(
    "replicas", "/v2/replicas", "replica_id", "replica_name", "replica_type", "replica_ids"
)
FACES = Vocabulary("faces", "/v2/faces", "face_id", "face_name", "face_type", "face_ids")
VOCABULARIES = {vocabulary.name: vocabulary for vocabulary in (REPLICAS, FACES)}
# The names under which the client hands Tavus's answers to the rest of the pipeline.
OURS = REPLICAS
READ_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Only an answer that proves Tavus did nothing lets a create be sent again.
CREATE_RETRY_STATUSES = frozenset({429})
LIST_PAGE_SIZE = 100
# Pages of a listing before we call it incomplete (10,000 replicas at 100 a page).
MAX_LIST_PAGES = 100
USER_REPLICA = "user"
SYSTEM_REPLICA = "system"  # Tavus's stock replicas: never one of ours
# Waiting in the queue costs nothing; sleeping in a function does. A longer
# Retry-After is not slept through: the caller defers the work instead.
DEFAULT_DEFERRAL_SECONDS = 30.0

# The monotonic time by which the current call must be over (None: no limit).
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "tavus_deadline", default=None
)


class TavusError(Exception):
    """Base of every Tavus failure; ``str()`` is safe to store and show."""


class TavusUnavailable(TavusError):
    """Transient: down, slow, unreachable or refusing our key. Try again later."""


class TavusRateLimited(TavusUnavailable):
    """Tavus answered 429 (it did not act); ``retry_after`` is how long it asked us to wait."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def wait_seconds(self) -> float:
        return self.retry_after if self.retry_after is not None else DEFAULT_DEFERRAL_SECONDS


class TavusOutcomeUnknown(TavusUnavailable):
    """A Create Replica that Tavus may or may not have acted on: look before sending again."""


class TavusOutOfTime(TavusUnavailable):
    """The call (or its next retry) would end after the caller's deadline; nothing was sent
    that Tavus could have acted on."""


class TavusListingIncomplete(TavusUnavailable):
    """A listing that could not be read to its end: it proves nothing, never "not found"."""


class TavusUnreadable(TavusUnavailable):
    """A 200 whose body is not what was asked for: Tavus is having a bad moment."""


class TavusRejected(TavusError):
    """Tavus refused the request (a 4xx other than 401/403/429); retrying will not help."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


class _StopRetrying(Exception):
    """Raised from inside urllib3's retry loop: the wait would be too long."""

    def __init__(self, seconds: float, past_deadline: bool) -> None:
        super().__init__(f"{seconds:g} s")
        self.seconds = seconds
        self.past_deadline = past_deadline


class _TavusRetry(Retry):
    max_retry_after: float = 20.0
    # Time one more attempt may take (connect + read timeouts), for the deadline check.
    attempt_seconds: float = 0.0

    def new(self, **kwargs: Any) -> _TavusRetry:
        renewed = super().new(**kwargs)
        renewed.max_retry_after = self.max_retry_after
        renewed.attempt_seconds = self.attempt_seconds
        return renewed

    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        if seconds is not None and seconds > self.max_retry_after:
            raise _StopRetrying(seconds, past_deadline=False)
        return seconds

    def sleep(self, response: Any = None) -> None:
        retry_after = self.get_retry_after(response) if response is not None else None
        wait = retry_after if retry_after is not None else self.get_backoff_time()
        deadline = _deadline.get()
        if deadline is not None and time.monotonic() + wait + self.attempt_seconds > deadline:
            raise _StopRetrying(wait, past_deadline=True)
        super().sleep(response)


@dataclass(frozen=True)
class CreatedReplica:
    replica_id: str
    status: str


@dataclass(frozen=True)
class ReplicaRequest:
    """What Create Replica (or Create Face) is asked for; the client words the body."""

    train_video_url: str
    name: str | None = None
    callback_url: str | None = None
    consent_video_url: str | None = None
    model_name: str | None = None
    # Training options (``gaze_correction``, ``background_green_screen``), sent when given.
    properties: Mapping[str, Any] | None = None

    def body(self, vocabulary: Vocabulary) -> dict[str, Any]:
        """The JSON body of the create, in ``vocabulary``'s names."""
        body: dict[str, Any] = {"train_video_url": self.train_video_url}
        if self.name is not None:
            body[vocabulary.name_field] = self.name
        if self.callback_url is not None:
            body["callback_url"] = self.callback_url
        if self.consent_video_url is not None:
            # Create Face marks consent_video_url deprecated ("new integrations should not
            # send this field"), yet it is still the only way to hand Tavus a separate
            # consent video: sent in both vocabularies until Tavus offers another.
            body["consent_video_url"] = self.consent_video_url
        if self.model_name:
            body["model_name"] = self.model_name
        if self.properties:
            body["properties"] = dict(self.properties)
        return body


@dataclass(frozen=True)
class CallbackNews:
    """The fields of one training callback, read in either vocabulary, not yet checked."""

    replica_id: str
    status: Any
    progress: Any
    error_message: Any


def callback_news(payload: Mapping[str, Any]) -> Iterator[CallbackNews]:
    """Every reading of a callback body that names a replica, the likeliest first.

    Replica callbacks are documented flat (``{"replica_id", "status"}``); newer pages
    wrap callbacks in an ``event_type``/``properties`` envelope, and the faces rename
    may say ``face_id``. Tavus may send any of these whatever our vocabulary, so all
    are read: the top level first, then ``properties``.
    """
    for scope in (payload, payload.get("properties")):
        if not isinstance(scope, Mapping):
            continue
        for vocabulary in VOCABULARIES.values():
            replica_id = scope.get(vocabulary.id_field)
            if isinstance(replica_id, str):
                yield CallbackNews(
                    replica_id=replica_id,
                    status=scope.get("status"),
                    progress=scope.get("training_progress", scope.get("progress")),
                    error_message=scope.get("error_message"),
                )


def normalized(payload: Mapping[str, Any], preferred: Vocabulary = OURS) -> dict[str, Any]:
    """A replica (or face) as Tavus showed it, under our names whichever names it used.

    Where both names of a field are present, ``preferred``'s (the vocabulary asked in)
    wins; the other names are dropped, so nobody reads them by mistake.
    """
    readers = (preferred, *(v for v in VOCABULARIES.values() if v != preferred))
    foreign = {name for v in VOCABULARIES.values() if v != OURS for name in _named_fields(v)}
    result = {key: value for key, value in payload.items() if key not in foreign}
    for index, ours in enumerate(_named_fields(OURS)):
        names = [_named_fields(vocabulary)[index] for vocabulary in readers]
        if any(name in payload for name in names):
            result[ours] = next(
                (payload[name] for name in names if payload.get(name) is not None), None
            )
    return result


def _named_fields(vocabulary: Vocabulary) -> tuple[str, str, str]:
    return (vocabulary.id_field, vocabulary.name_field, vocabulary.type_field)


class TavusClient:
    def __init__(self, settings: TavusSettings, api_key: str) -> None:
        self._base_url = settings.api_url.rstrip("/")
        self._vocabulary = VOCABULARIES[settings.vocabulary]
        self._connect_timeout = settings.connect_timeout
        self._read_timeout = settings.read_timeout
        headers = {"x-api-key": api_key, "accept": "application/json"}
        self._session = _session(settings, headers, READ_RETRY_STATUSES, retry_reads=True)
        self._create_session = _session(settings, headers, CREATE_RETRY_STATUSES, retry_reads=False)

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"TavusClient(base_url={self._base_url!r}, vocabulary={self._vocabulary.name!r})"

    @property
    def vocabulary(self) -> Vocabulary:
        return self._vocabulary

    def create_replica(
        self, request: ReplicaRequest, *, deadline: float | None = None
    ) -> CreatedReplica:
        """POST Create Replica once (retried only after answers proving Tavus did nothing)."""
        import requests

        vocabulary = self._vocabulary
        try:
            response = self._send(
                self._create_session,
                "POST",
                vocabulary.path,
                deadline,
                json=request.body(vocabulary),
            )
        except requests.RequestException as error:
            if _never_sent(error):
                raise TavusUnavailable(
                    f"Tavus could not be reached: {type(error).__name__}"
                ) from None
            raise TavusOutcomeUnknown(
                f"Create Replica got no answer ({_failure_name(error)}); Tavus may have made "
                "the replica"
            ) from None
        if response.status_code >= 500:
            raise TavusOutcomeUnknown(
                f"Tavus answered Create Replica with {response.status_code} "
                f"({_message(response)}); it may have made the replica"
            )
        payload = self._payload(response, lenient=True)
        created = normalized(payload, vocabulary) if isinstance(payload, dict) else {}
        replica_id = created.get(OURS.id_field)
        if not isinstance(replica_id, str) or not replica_id:
            raise TavusOutcomeUnknown(
                f"Tavus answered Create Replica {response.status_code} without a "
                f"{vocabulary.id_field}; it may have made the replica"
            )
        return CreatedReplica(replica_id=replica_id, status=str(created.get("status", "")))

    def get_replica(
        self, replica_id: str, *, verbose: bool = False, deadline: float | None = None
    ) -> dict[str, Any] | None:
        """The replica under our names, or None when Tavus does not know it (400 or 404).

        A 200 that is not a replica (empty, ``{}``, a list, no ``status``) proves
        nothing about the replica: it raises ``TavusUnreadable``, a transient
        failure, never "unknown".
        """
        try:
            payload = self._call(
                "GET",
                self._item_path(replica_id),
                deadline,
                params={"verbose": "true"} if verbose else None,
            )
        except TavusRejected as error:
            if error.status_code in (400, 404):
                return None
            raise
        if isinstance(payload, dict) and isinstance(payload.get("status"), str):
            return normalized(payload, self._vocabulary)
        raise TavusUnreadable(
            f"Tavus answered Get Replica {replica_id} with something that is not a replica"
        )

    def list_replicas(
        self,
        *,
        page: int = 1,
        limit: int = LIST_PAGE_SIZE,
        verbose: bool = False,
        replica_type: str | None = None,
        replica_ids: Sequence[str] = (),
        deadline: float | None = None,
    ) -> Any:
        """One page of List Replicas, exactly as Tavus answered it (its shape unchecked).

        ``replica_type`` (``user`` | ``system``) and ``replica_ids`` filter the listing;
        they are sent under the names of the client's vocabulary.
        """
        vocabulary = self._vocabulary
        params: dict[str, str] = {"page": str(page), "limit": str(limit)}
        if verbose:
            params["verbose"] = "true"
        if replica_type:
            params[vocabulary.type_field] = replica_type
        if replica_ids:
            params[vocabulary.ids_field] = ",".join(replica_ids)
        return self._call("GET", vocabulary.path, deadline, params=params)

    def list_user_replicas(self, *, deadline: float | None = None) -> list[dict[str, Any]]:
        """Every replica the account made itself (under our names), or ``TavusListingIncomplete``.

        Exact whatever Tavus's page size and order: it pages until the replicas
        seen reach ``total_count`` or a page comes back empty. Stock (``system``)
        replicas are asked away and, should Tavus ignore the filter, dropped.
        An answer of another shape, an error or too many pages make the listing
        incomplete, which proves nothing.
        """
        seen: dict[str, dict[str, Any]] = {}
        for page in range(1, MAX_LIST_PAGES + 1):
            listing = self.list_replicas(
                page=page, verbose=True, replica_type=USER_REPLICA, deadline=deadline
            )
            data, total = _page_of(listing, page, self._vocabulary)
            if not data:
                return _users(seen)
            for replica in data:
                seen[replica[OURS.id_field]] = replica
            # Counted by id: a replica created meanwhile shifts a newest-first list, so
            # one may come twice; the one pushed past this page is then still ahead.
            if total is not None and len(seen) >= total:
                return _users(seen)
        raise TavusListingIncomplete(
            f"Tavus's replica list did not end within {MAX_LIST_PAGES} pages"
        )

    def delete_replica(self, replica_id: str, *, hard: bool = False) -> None:
        self._call(
            "DELETE", self._item_path(replica_id), None, params={"hard": "true"} if hard else None
        )

    def _item_path(self, replica_id: str) -> str:
        return f"{self._vocabulary.path}/{quote(replica_id, safe='')}"

    def _call(self, method: str, path: str, deadline: float | None, **kwargs: Any) -> Any:
        """A read (or delete): retried on 429, 5xx and timeouts; transient failures raise."""
        import requests

        try:
            response = self._send(self._session, method, path, deadline, **kwargs)
        except requests.RequestException as error:
            raise TavusUnavailable(f"Tavus did not answer: {type(error).__name__}") from None
        if response.status_code in READ_RETRY_STATUSES - {429}:
            raise TavusUnavailable(
                f"Tavus answered {response.status_code} after retries: {_message(response)}"
            )
        return self._payload(response)

    def _send(
        self,
        session: requests.Session,
        method: str,
        path: str,
        deadline: float | None,
        **kwargs: Any,
    ) -> requests.Response:
        """One request through the retrying session, within ``deadline``; 429 raises."""
        read_timeout = self._read_timeout
        if deadline is not None:
            left = deadline - time.monotonic() - self._connect_timeout
            if left < 1:
                raise TavusOutOfTime("no time left in this invocation to call Tavus")
            read_timeout = min(read_timeout, left)
        token = _deadline.set(deadline)
        try:
            response = session.request(
                method,
                f"{self._base_url}{path}",
                timeout=(self._connect_timeout, read_timeout),
                **kwargs,
            )
        except _StopRetrying as stop:
            if stop.past_deadline:
                raise TavusOutOfTime(
                    f"the next try, {stop.seconds:g} s from now, would outlive this invocation"
                ) from None
            raise TavusRateLimited(
                f"Tavus is rate limiting us: it asked to retry after {stop.seconds:g} s",
                stop.seconds,
            ) from None
        finally:
            _deadline.reset(token)
        if response.status_code == 429:
            raise TavusRateLimited(
                f"Tavus answered 429 after retries: {_message(response)}",
                _retry_after(response),
            )
        return response

    def _payload(self, response: requests.Response, *, lenient: bool = False) -> Any:
        """The JSON body of a 2xx; ``lenient`` turns a body that is not JSON into None."""
        if response.status_code in (401, 403):
            # Our key is wrong or missing: every submission would fail the same
            # way, so keep the records (queue, then DLQ) for a redrive once fixed.
            raise TavusUnavailable(
                f"Tavus refused our API key ({response.status_code}: {_message(response)}); "
                "check the Tavus API key secret"
            )
        if response.status_code >= 400:
            raise TavusRejected(response.status_code, _message(response))
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            if lenient:
                return None
            raise TavusUnavailable(
                f"Tavus answered {response.status_code} with a body that is not JSON"
            ) from None


def _page_of(
    listing: Any, page: int, vocabulary: Vocabulary
) -> tuple[list[dict[str, Any]], int | None]:
    """``data`` (under our names) and ``total_count`` of a listing, or TavusListingIncomplete."""
    data = listing.get("data") if isinstance(listing, dict) else None
    total = listing.get("total_count") if isinstance(listing, dict) else None
    items = (
        [normalized(item, vocabulary) for item in data if isinstance(item, dict)]
        if isinstance(data, list)
        else []
    )
    if (
        not isinstance(data, list)
        or len(items) != len(data)
        or not all(isinstance(item.get(OURS.id_field), str) for item in items)
    ):
        raise TavusListingIncomplete(
            f"Tavus's replica list (page {page}) has a shape we do not know"
        )
    if total is not None and (isinstance(total, bool) or not isinstance(total, int)):
        raise TavusListingIncomplete(f"Tavus's replica list (page {page}) has no usable total")
    return items, total


def _users(seen: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [replica for replica in seen.values() if replica.get(OURS.type_field) != SYSTEM_REPLICA]


def _failure_name(error: Exception) -> str:
    """What went wrong, by name: the cause urllib3 gave up on, else the exception."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return type(reason if isinstance(reason, Exception) else error).__name__


def _never_sent(error: Exception) -> bool:
    """Whether a failed request provably never reached Tavus (the connection never opened)."""
    import requests

    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(error, requests.ConnectionError) and isinstance(
        reason, NewConnectionError | ConnectTimeoutError
    )


def _retry_after(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After", "").strip()
    try:
        seconds = float(raw)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _session(
    settings: TavusSettings,
    headers: dict[str, str],
    statuses: frozenset[int],
    *,
    retry_reads: bool,
) -> requests.Session:
    retry = _TavusRetry(
        total=settings.max_retries,
        connect=settings.max_retries,
        read=settings.max_retries if retry_reads else 0,
        status=settings.max_retries,
        other=0,
        backoff_factor=settings.backoff_seconds,
        backoff_max=settings.backoff_max_seconds,
        backoff_jitter=settings.backoff_seconds,
        status_forcelist=statuses,
        allowed_methods=frozenset({"GET", "DELETE", "POST", "PATCH"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    retry.max_retry_after = settings.max_retry_after
    retry.attempt_seconds = settings.connect_timeout + settings.read_timeout
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    session.headers.update(headers)
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _message(response: requests.Response) -> str:
    """Tavus's own words: ``message`` or ``error`` from the JSON body, else the text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for field in ("message", "error"):
            if isinstance(body.get(field), str) and body[field]:
                return str(body[field])
    text = response.text.strip()
    return text[:300] if text else f"HTTP {response.status_code}"
