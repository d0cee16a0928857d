"""Pre-signed URLs: long-lived keys only, and the lifetime the configuration asks for."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from replica_pipeline.adapters.presigner import (
    PresignRefused,
    SignerCredentials,
    make_signing_client,
    presign_get,
)
from tests.harness import SAMPLE_VIDEO, Pipeline


def signed_query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.mark.security
def test_url_is_sigv4_signed_by_the_long_lived_signer_for_48_hours(pipeline: Pipeline) -> None:
    pipeline.upload("uploads/alice.mp4")
    signer = SignerCredentials.from_secret(pipeline.secret(pipeline.resources.signer_secret_arn))
    client = make_signing_client(signer, "us-east-1")

    url = presign_get(client, pipeline.resources.bucket, "uploads/alice.mp4", timedelta(hours=48))

    query = signed_query(url)
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert int(query["X-Amz-Expires"]) == 48 * 3600 >= 24 * 3600
    assert query["X-Amz-Credential"].startswith("AKIA")
    assert "X-Amz-Security-Token" not in query
    # and the URL really serves the video
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == SAMPLE_VIDEO.read_bytes()


@pytest.mark.security
@pytest.mark.parametrize(
    "credentials",
    [
        SignerCredentials("ASIAEXAMPLEEXAMPLE", "secret"),
        SignerCredentials("AKIAEXAMPLEEXAMPLE", "secret", session_token="token"),
    ],
)
def test_temporary_credentials_are_refused(credentials: SignerCredentials) -> None:
    with pytest.raises(PresignRefused, match="temporary credentials"):
        make_signing_client(credentials, "us-east-1")


def test_a_malformed_signer_secret_says_what_it_needs() -> None:
    with pytest.raises(PresignRefused, match="access_key_id"):
        SignerCredentials.from_secret("AKIA-only")


def test_credentials_never_show_their_secret() -> None:
    assert "s3cr3t" not in repr(SignerCredentials("AKIAX", "s3cr3t"))


@pytest.mark.parametrize("hours", [23, 169])
def test_lifetimes_outside_24h_to_7_days_are_refused(hours: int) -> None:
    client = make_signing_client(SignerCredentials("AKIAX", "y"), "us-east-1")
    with pytest.raises(ValueError, match="outside 24 h to 7 days"):
        presign_get(client, "bucket", "uploads/a.mp4", timedelta(hours=hours))


@pytest.mark.security
@pytest.mark.parametrize(
    ("expires_hours", "credential", "problem"),
    [
        (1, "AKIAEXAMPLE", "expires in less than 24 hours"),
        (48, "ASIAEXAMPLE", "temporary credentials"),
    ],
)
def test_the_emulator_fails_a_training_as_tavus_would_on_a_short_lived_url(
    expires_hours: int, credential: str, problem: str
) -> None:
    from datetime import UTC, datetime

    from replica_pipeline_local.stack.tavus_emulator import _url_lifetime_problem

    now = datetime.now(UTC)
    url = (
        "http://127.0.0.1:9/bucket/uploads/a.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential={credential}%2F20261124%2Fus-east-1%2Fs3%2Faws4_request"
        f"&X-Amz-Date={now:%Y%m%dT%H%M%SZ}&X-Amz-Expires={expires_hours * 3600}"
        "&X-Amz-SignedHeaders=host&X-Amz-Signature=abc"
    )

    reason = _url_lifetime_problem(url, now)

    assert reason is not None
    assert problem in reason
