"""Production wiring: domain services bound to AWS, built once per container on first use.

Handlers call these factories; tests build the same services by hand around
moto and the Tavus emulator.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from replica_pipeline.adapters.aws import (
    events_client,
    region,
    replicas_table,
    s3_client,
    secret_text,
    sqs_client,
)
from replica_pipeline.adapters.events import EventBridgePublisher
from replica_pipeline.adapters.store.repository import ReplicaStore
from replica_pipeline.adapters.tavus import TavusClient, TavusUnavailable
from replica_pipeline.config import (
    INGEST_QUEUE_URL,
    SIGNER_SECRET_ARN,
    TAVUS_API_KEY_PLACEHOLDER,
    CloudFrontSigning,
    TavusSettings,
    load_settings,
)

if TYPE_CHECKING:
    from replica_pipeline.adapters.cloudfront_signer import CloudFrontUrlSigner

Result = TypeVar("Result")

# The handlers' per-container builders, so a fresh container can be simulated in one call.
_per_container_builders: list[Any] = []


def per_container(builder: Callable[[], Result]) -> Callable[[], Result]:
    """Build once per container, on first use (``functools.cache``), and register for a reset."""
    cached = cache(builder)
    _per_container_builders.append(cached)
    return cached


def forget_container() -> None:
    """Forget what this container built: settings, AWS clients and the handlers' builders.

    The next invocation then reads its environment afresh, as a cold start would.
    """
    load_settings.cache_clear()
    for factory in (s3_client, events_client, sqs_client, replicas_table):
        factory.cache_clear()
    for builder in _per_container_builders:
        builder.cache_clear()


def replica_store() -> ReplicaStore:
    """The replicas table, announcing every status change on the configured event bus."""
    settings = load_settings()
    return ReplicaStore(
        replicas_table(settings.table_name),
        on_change=EventBridgePublisher(events_client, settings.event_bus_name),
    )


def send_to_ingest_queue(body: str, delay_seconds: int = 0) -> None:
    """Queue a message for the ingest function: a retry (status API), a deferral (ingest)
    or a submission that passed the deep check."""
    queue_url = load_settings().ingest_queue_url
    if not queue_url:
        raise RuntimeError(f"{INGEST_QUEUE_URL} is not set for this function")
    sqs_client().send_message(QueueUrl=queue_url, MessageBody=body, DelaySeconds=delay_seconds)


def deep_check_queue() -> Callable[[str], None] | None:
    """What sends a submission to the deep check, or None when the deep check is off."""
    queue_url = load_settings().deep_check_queue_url
    if not queue_url:
        return None

    def send(body: str) -> None:
        sqs_client().send_message(QueueUrl=queue_url, MessageBody=body)

    return send


def tavus_api_key() -> str:
    """The Tavus API key; a key the user has not set yet is refused like a wrong one."""
    arn = load_settings().tavus.api_key_secret_arn
    key = secret_text(arn).strip()
    if not key or key == TAVUS_API_KEY_PLACEHOLDER:
        # Transient on purpose: the records wait in the queue (then the DLQ) for a redrive.
        raise TavusUnavailable(
            f"the Tavus API key is not set: store it with `aws secretsmanager put-secret-value "
            f"--secret-id {arn} --secret-string <your key>`"
        )
    return key


def tavus_client(settings: TavusSettings | None = None) -> TavusClient:
    return _tavus_client_for(settings or load_settings().tavus, tavus_api_key())


def signing_client() -> Any:
    """What ``presigner.presign_get`` signs with: the signer the ``SIGNER`` setting names."""
    settings = load_settings()
    if settings.cloudfront is not None:
        cloudfront = settings.cloudfront
        return _cloudfront_signer_for(cloudfront, secret_text(cloudfront.key_secret_arn))
    if settings.signer_secret_arn is None:
        raise RuntimeError(f"{SIGNER_SECRET_ARN} is not set for this function")
    return _signing_client_for(secret_text(settings.signer_secret_arn))


def callback_key() -> bytes:
    return secret_text(load_settings().callback_hmac_secret_arn).encode("utf-8")


# Keyed by the secret's value, so a rotated secret gets a fresh client.
@cache
def _tavus_client_for(settings: TavusSettings, api_key: str) -> TavusClient:
    return TavusClient(settings, api_key)


# The signers are imported where they are built: only the ingest function signs URLs, so
# the other three handlers' cold starts do not load them.
@cache
def _signing_client_for(secret: str) -> Any:
    from replica_pipeline.adapters.presigner import SignerCredentials, make_signing_client

    return make_signing_client(SignerCredentials.from_secret(secret), region())


@cache
def _cloudfront_signer_for(settings: CloudFrontSigning, secret: str) -> CloudFrontUrlSigner:
    from replica_pipeline.adapters.cloudfront_signer import CloudFrontUrlSigner, SigningKey

    return CloudFrontUrlSigner(
        settings.url,
        settings.key_pair_id,
        SigningKey.from_secret(secret),
        expected_serial=settings.key_serial,
    )
