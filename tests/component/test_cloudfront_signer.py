"""The cloudfront signer: URLs CloudFront would honour for 24 h and more, the deploy-time key
pair, the loopback distribution that checks them, and the Tavus emulator's reading of them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from replica_pipeline import config
from replica_pipeline.adapters.cloudfront_signer import (
    CloudFrontUrlSigner,
    SigningKey,
    SigningKeyMismatch,
)
from replica_pipeline.adapters.presigner import PresignRefused, presign_get
from replica_pipeline.config import ConfigError, Settings
from replica_pipeline.handlers.signing_key import PUBLIC_KEY_ATTRIBUTE, new_key_pair, on_event
from replica_pipeline_local.stack.cloudfront_edge import (
    CloudFrontEdge,
    canned_policy,
    cloudfront_b64decode,
    split_signed_url,
)
from replica_pipeline_local.stack.tavus_emulator import TavusEmulator, _url_lifetime_problem

KEY_PAIR_ID = "K2JCJMDEHXQW5F"
NOW = datetime(2026, 11, 26, 22, 0, tzinfo=UTC)
BUCKET = "cf-uploads"
VIDEO = b"\x00\x00\x00\x18ftypmp42 not really a video, but bytes all the same"


@pytest.fixture(scope="module")
def key_pair() -> tuple[str, str]:
    """(private PEM, public PEM), made as the custom resource makes them."""
    return new_key_pair()


def signer_for(
    key_pair: tuple[str, str], base_url: str = "https://d111111abcdef8.cloudfront.net", **kw: Any
) -> CloudFrontUrlSigner:
    return CloudFrontUrlSigner(
        base_url, KEY_PAIR_ID, SigningKey(private_key_pem=key_pair[0], serial="1"), **kw
    )


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


# -- the signer ------------------------------------------------------------------------------


@pytest.mark.security
def test_signed_url_verifies_with_the_public_key_and_lives_48_hours(
    key_pair: tuple[str, str],
) -> None:
    signer = signer_for(key_pair, clock=lambda: NOW)

    url = presign_get(signer, BUCKET, "uploads/ana maría/train.mp4", timedelta(hours=48), "v1")

    query = query_of(url)
    assert set(query) == {"versionId", "Expires", "Signature", "Key-Pair-Id"}  # canned: no Policy
    assert query["Key-Pair-Id"] == KEY_PAIR_ID
    expires = datetime.fromtimestamp(int(query["Expires"]), UTC)
    assert expires - NOW == timedelta(hours=48) >= timedelta(hours=24)
    resource, _, _ = split_signed_url(url)
    assert resource == (
        "https://d111111abcdef8.cloudfront.net/uploads/ana%20mar%C3%ADa/train.mp4?versionId=v1"
    )
    public_key = load_pem_public_key(key_pair[1].encode())
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(  # raises InvalidSignature if it does not verify
        cloudfront_b64decode(query["Signature"]),
        canned_policy(resource, int(query["Expires"])),
        padding.PKCS1v15(),
        hashes.SHA1(),  # noqa: S303 - CloudFront's algorithm
    )


def test_presign_get_refuses_a_lifetime_under_24_hours_for_cloudfront_too(
    key_pair: tuple[str, str],
) -> None:
    with pytest.raises(ValueError, match="outside 24 h to 7 days"):
        presign_get(signer_for(key_pair), BUCKET, "uploads/a.mp4", timedelta(hours=23))


def test_a_key_of_another_serial_is_a_transient_refusal_during_a_rotation(
    key_pair: tuple[str, str],
) -> None:
    with pytest.raises(SigningKeyMismatch, match="rotation is deploying"):
        signer_for(key_pair, expected_serial="2")


def test_a_malformed_key_secret_says_what_it_needs() -> None:
    with pytest.raises(PresignRefused, match="private_key_pem"):
        SigningKey.from_secret("-----BEGIN PRIVATE KEY-----")


def base_environment(**extra: str) -> dict[str, str]:
    return {
        config.TABLE_NAME: "t",
        config.CALLBACK_BASE_URL: "https://example.com/callbacks/tavus",
        config.CALLBACK_HMAC_SECRET_ARN: "arn:hmac",
        config.TAVUS_API_KEY_SECRET_ARN: "arn:tavus",
        **extra,
    }


def test_settings_choose_the_cloudfront_signer_and_need_no_iam_user_secret() -> None:
    settings = Settings.from_env(
        base_environment(
            **{
                config.SIGNER: "cloudfront",
                config.CLOUDFRONT_URL: "https://d1.cloudfront.net/",
                config.CLOUDFRONT_KEY_PAIR_ID: KEY_PAIR_ID,
                config.CLOUDFRONT_KEY_SECRET_ARN: "arn:key",
                config.CLOUDFRONT_KEY_SERIAL: "3",
            }
        )
    )
    assert settings.signer_secret_arn is None
    assert settings.cloudfront is not None
    assert settings.cloudfront.url == "https://d1.cloudfront.net"
    assert settings.cloudfront.key_serial == "3"


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({config.SIGNER: "cloudfront"}, config.CLOUDFRONT_URL),
        ({config.SIGNER: "kms"}, config.SIGNER),
        ({}, config.SIGNER_SECRET_ARN),  # the default signer still needs its secret
    ],
)
def test_a_missing_or_bad_signer_setting_is_named(extra: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(base_environment(**extra))


# -- the custom resource that makes the key pair ---------------------------------------------


@pytest.fixture
def key_secret(aws: str) -> tuple[Any, str]:
    secrets = boto3.client("secretsmanager")
    arn: str = secrets.create_secret(Name="cloudfront-key", SecretString="placeholder")["ARN"]
    return secrets, arn


def create(
    secrets: Any, arn: str, serial: str, request: str = "Create", physical: str | None = None
) -> dict[str, Any]:
    """Call the handler as the Provider framework does; an Update names the resource's
    current physical id (the old serial's, during a rotation)."""
    event = {
        "RequestType": request,
        "ResourceProperties": {"SecretArn": arn, "Serial": serial},
        "PhysicalResourceId": physical or f"cloudfront-signing-key-{serial}",
    }
    return on_event(event, secrets)


@pytest.mark.security
def test_custom_resource_keeps_the_private_key_in_the_secret_and_answers_the_public_key(
    key_secret: tuple[Any, str],
) -> None:
    secrets, arn = key_secret

    answer = create(secrets, arn, "1")

    stored = json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])
    assert stored["serial"] == "1"
    assert "PRIVATE KEY" not in json.dumps(answer)
    public_pem = answer["Data"][PUBLIC_KEY_ATTRIBUTE]
    signer = CloudFrontUrlSigner(
        "https://d.example", KEY_PAIR_ID, SigningKey.from_secret(json.dumps(stored))
    )
    url = signer.signed_get_url("uploads/a.mp4", timedelta(hours=24))
    resource, signing, _ = split_signed_url(url)
    public_key = load_pem_public_key(public_pem.encode())
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert public_key.key_size == 2048
    public_key.verify(
        cloudfront_b64decode(signing["Signature"]),
        canned_policy(resource, int(signing["Expires"])),
        padding.PKCS1v15(),
        hashes.SHA1(),  # noqa: S303 - CloudFront's algorithm
    )


def test_an_update_with_the_same_serial_keeps_the_key_pair(key_secret: tuple[Any, str]) -> None:
    secrets, arn = key_secret
    first = create(secrets, arn, "1")

    again = create(secrets, arn, "1", request="Update")

    assert again == first


def test_a_rolled_back_rotation_puts_the_previous_private_key_back(
    key_secret: tuple[Any, str],
) -> None:
    secrets, arn = key_secret
    create(secrets, arn, "1")
    # The new pair, then the deployment fails.
    create(secrets, arn, "2", request="Update", physical="cloudfront-signing-key-1")

    create(secrets, arn, "2", request="Delete")  # CloudFormation removes the new pair

    # Named stage: moto's unstaged GetSecretValue misses a moved AWSCURRENT (AWS's does not).
    current = secrets.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
    assert json.loads(current["SecretString"])["serial"] == "1"


def test_deleting_the_old_pair_after_a_rotation_keeps_the_new_key(
    key_secret: tuple[Any, str],
) -> None:
    secrets, arn = key_secret
    create(secrets, arn, "1")
    create(secrets, arn, "2", request="Update", physical="cloudfront-signing-key-1")

    create(secrets, arn, "1", request="Delete")  # cleanup after a successful rotation

    assert json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])["serial"] == "2"


# -- the loopback distribution ---------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def edge(aws: str, key_pair: tuple[str, str]) -> Iterator[tuple[CloudFrontEdge, Clock, str]]:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket=BUCKET, Key="uploads/ana maría.mp4", Body=VIDEO)["VersionId"]
    s3.put_object(Bucket=BUCKET, Key="uploads/ana maría.mp4", Body=b"a later upload")
    clock = Clock()
    stand_in = CloudFrontEdge(s3, BUCKET, {KEY_PAIR_ID: key_pair[1]}, clock=clock).start()
    yield stand_in, clock, version
    stand_in.stop()


def signed(
    stand_in: CloudFrontEdge, key_pair: tuple[str, str], version: str, hours: float = 48
) -> str:
    signer = signer_for(key_pair, stand_in.url)
    return signer.signed_get_url("uploads/ana maría.mp4", timedelta(hours=hours), version)


def test_the_stand_in_serves_the_signed_version_of_the_object(
    edge: tuple[CloudFrontEdge, Clock, str], key_pair: tuple[str, str]
) -> None:
    stand_in, _, version = edge

    response = requests.get(signed(stand_in, key_pair, version), timeout=10)

    assert response.status_code == 200
    assert response.content == VIDEO


@pytest.mark.security
@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda url: url.replace("Signature=", "Signature=AAAA"), id="tampered"),
        pytest.param(lambda url: url.replace(KEY_PAIR_ID, "KOTHERKEY12345"), id="wrong-key-id"),
        pytest.param(lambda url: url.replace("versionId=", "versionId=x"), id="other-resource"),
        pytest.param(lambda url: url.split("?")[0], id="unsigned"),
        pytest.param(lambda url: url.replace("&Key-Pair-Id=", "&Key-Id="), id="no-key-pair-id"),
    ],
)
def test_the_stand_in_refuses_what_cloudfront_refuses(
    edge: tuple[CloudFrontEdge, Clock, str], key_pair: tuple[str, str], spoil: Any
) -> None:
    stand_in, _, version = edge

    response = requests.get(spoil(signed(stand_in, key_pair, version)), timeout=10)

    assert response.status_code == 403
    assert response.content != VIDEO


@pytest.mark.security
def test_the_stand_in_refuses_an_expired_url(
    edge: tuple[CloudFrontEdge, Clock, str], key_pair: tuple[str, str]
) -> None:
    stand_in, clock, version = edge
    url = signed(stand_in, key_pair, version, hours=24)
    clock.now += 24 * 3600 + 1

    response = requests.get(url, timeout=10)

    assert response.status_code == 403
    assert b"expired" in response.content


# -- the Tavus emulator's reading of CloudFront URLs -----------------------------------------


def cloudfront_url(expires_in: timedelta, **drop: bool) -> str:
    parameters = {
        "Expires": str(int((NOW + expires_in).timestamp())),
        "Signature": "c2lnbmF0dXJl",
        "Key-Pair-Id": KEY_PAIR_ID,
    }
    query = "&".join(f"{name}={value}" for name, value in parameters.items() if name not in drop)
    return f"https://d1.cloudfront.net/uploads/a.mp4?versionId=v1&{query}"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (cloudfront_url(timedelta(hours=23)), "expires in less than 24 hours"),
        (cloudfront_url(timedelta(hours=-1)), "has expired"),
        (cloudfront_url(timedelta(hours=48), **{"Key-Pair-Id": True}), "missing Key-Pair-Id"),
        (cloudfront_url(timedelta(hours=48), Signature=True), "missing Signature"),
        (cloudfront_url(timedelta(hours=48), Expires=True), "missing Expires"),
    ],
)
def test_the_emulator_reads_cloudfront_urls_as_tavus_would(url: str, problem: str) -> None:
    reason = _url_lifetime_problem(url, NOW)

    assert reason is not None
    assert problem in reason


def test_the_emulator_accepts_a_cloudfront_url_that_lives_24_hours() -> None:
    assert _url_lifetime_problem(cloudfront_url(timedelta(hours=24)), NOW) is None
    assert _url_lifetime_problem(cloudfront_url(timedelta(hours=48)), NOW) is None


def test_a_short_lived_cloudfront_url_fails_the_training_with_a_clear_message(
    edge: tuple[CloudFrontEdge, Clock, str], key_pair: tuple[str, str]
) -> None:
    stand_in, _, version = edge
    emulator = TavusEmulator("k", training_seconds=0.2).start()
    try:
        url = signed(stand_in, key_pair, version, hours=20)
        created = requests.post(
            f"{emulator.url}/v2/replicas",
            json={"train_video_url": url, "replica_name": "short"},
            headers={"x-api-key": "k"},
            timeout=5,
        )
        assert created.status_code == 200
        replica_id = created.json()["replica_id"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            replica = requests.get(
                f"{emulator.url}/v2/replicas/{replica_id}", headers={"x-api-key": "k"}, timeout=5
            ).json()
            if replica["status"] not in ("started", "training"):
                break
            time.sleep(0.05)
    finally:
        emulator.stop()

    assert replica["status"] == "error"
    assert "expires in less than 24 hours" in replica["error_message"]
    assert stand_in.requests[-1]["status"] == 200  # downloaded through the stand-in all the same
