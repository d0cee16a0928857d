"""The Tavus replica API: the only module that knows its paths and error shapes.

Retries live in requests' adapter (urllib3 ``Retry``): exponential backoff with
jitter on 429, 5xx and connection errors, honouring ``Retry-After``. Create
Replica is never repeated after a read timeout, because Tavus may have acted on
it; the caller's adoption check covers that case instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

# urllib3 is already loaded with botocore; requests is imported when a client is
# built, so handlers that never call Tavus do not pay for it at cold start.
from urllib3.util.retry import Retry

from replica_pipeline.config import TavusSettings

if TYPE_CHECKING:
    import requests

REPLICAS_PATH = "/v2/replicas"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
LIST_PAGE_SIZE = 100


class TavusError(Exception):
    """Base of every Tavus failure; ``str()`` is safe to store and show."""


class TavusUnavailable(TavusError):
    """Transient: rate limited, down, slow or unreachable. Try again later."""


class TavusRejected(TavusError):
    """Tavus refused the request (a 4xx other than 401/403/429); retrying will not help."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


class RetryAfterTooLong(Exception):
    """Tavus asked us to wait longer than an invocation should sleep."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"Tavus asked to retry after {seconds:g} s")
        self.seconds = seconds


class _TavusRetry(Retry):
    max_retry_after: float = 20.0

    def new(self, **kwargs: Any) -> _TavusRetry:
        renewed = super().new(**kwargs)
        renewed.max_retry_after = self.max_retry_after
        return renewed

    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        if seconds is not None and seconds > self.max_retry_after:
            raise RetryAfterTooLong(seconds)
        return seconds


@dataclass(frozen=True)
class CreatedReplica:
    replica_id: str
    status: str


class TavusClient:
    def __init__(self, settings: TavusSettings, api_key: str) -> None:
        self._base_url = settings.api_url.rstrip("/")
        self._timeout = (settings.connect_timeout, settings.read_timeout)
        headers = {"x-api-key": api_key, "accept": "application/json"}
        self._session = _session(settings, headers, retry_reads=True)
        self._create_session = _session(settings, headers, retry_reads=False)

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"TavusClient(base_url={self._base_url!r})"

    def create_replica(self, body: dict[str, Any]) -> CreatedReplica:
        payload = self._call(self._create_session, "POST", REPLICAS_PATH, json=body)
        replica_id = payload.get("replica_id") if isinstance(payload, dict) else None
        if not isinstance(replica_id, str) or not replica_id:
            raise TavusUnavailable("Tavus answered Create Replica without a replica_id")
        return CreatedReplica(replica_id=replica_id, status=str(payload.get("status", "")))

    def get_replica(self, replica_id: str, *, verbose: bool = False) -> dict[str, Any] | None:
        """The replica, or None when Tavus does not know it (it answers 400 or 404)."""
        try:
            payload = self._call(
                self._session,
                "GET",
                f"{REPLICAS_PATH}/{quote(replica_id, safe='')}",
                params={"verbose": "true"} if verbose else None,
            )
        except TavusRejected as error:
            if error.status_code in (400, 404):
                return None
            raise
        return payload if isinstance(payload, dict) else None

    def list_replicas(
        self, *, page: int = 1, limit: int = LIST_PAGE_SIZE, verbose: bool = False
    ) -> dict[str, Any]:
        params: dict[str, str] = {"page": str(page), "limit": str(limit)}
        if verbose:
            params["verbose"] = "true"
        payload = self._call(self._session, "GET", REPLICAS_PATH, params=params)
        return payload if isinstance(payload, dict) else {"data": [], "total_count": 0}

    def iter_replicas(self, *, max_pages: int = 20) -> Iterator[dict[str, Any]]:
        """Every replica of the account, page by page (bounded, in case the list is huge)."""
        for page in range(1, max_pages + 1):
            listing = self.list_replicas(page=page)
            data = listing.get("data") or []
            yield from (item for item in data if isinstance(item, dict))
            total = listing.get("total_count")
            if len(data) < LIST_PAGE_SIZE or (
                isinstance(total, int) and page * LIST_PAGE_SIZE >= total
            ):
                return

    def delete_replica(self, replica_id: str, *, hard: bool = False) -> None:
        self._call(
            self._session,
            "DELETE",
            f"{REPLICAS_PATH}/{quote(replica_id, safe='')}",
            params={"hard": "true"} if hard else None,
        )

    def _call(self, session: requests.Session, method: str, path: str, **kwargs: Any) -> Any:
        import requests

        try:
            response = session.request(
                method, f"{self._base_url}{path}", timeout=self._timeout, **kwargs
            )
        except RetryAfterTooLong as error:
            raise TavusUnavailable(f"Tavus is rate limiting us: {error}") from None
        except requests.RequestException as error:
            raise TavusUnavailable(f"Tavus did not answer: {type(error).__name__}") from None
        if response.status_code in RETRY_STATUSES:
            raise TavusUnavailable(
                f"Tavus answered {response.status_code} after retries: {_message(response)}"
            )
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
            raise TavusUnavailable(
                f"Tavus answered {response.status_code} with a body that is not JSON"
            ) from None


def _session(
    settings: TavusSettings, headers: dict[str, str], *, retry_reads: bool
) -> requests.Session:
    retry = _TavusRetry(
        total=settings.max_retries,
        connect=settings.max_retries,
        read=settings.max_retries if retry_reads else 0,
        status=settings.max_retries,
        other=0,
        backoff_factor=settings.backoff_seconds,
        backoff_max=8.0,
        backoff_jitter=settings.backoff_seconds,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "DELETE", "POST", "PATCH"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    retry.max_retry_after = settings.max_retry_after
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
