"""Pre-signed GET URLs that really live as long as they say.

A URL signed with temporary credentials (a Lambda role's, an SSO session's)
dies with the session, whatever ``ExpiresIn`` says, long before Tavus gets to
download it. So we sign only with a long-lived IAM user key, kept in Secrets
Manager, and refuse anything else; or, with the ``cloudfront`` signer, hand out
CloudFront signed URLs (``replica_pipeline.adapters.cloudfront_signer``), which no IAM
credentials sign at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
from botocore.config import Config

from replica_pipeline.adapters.cloudfront_signer import CloudFrontUrlSigner
from replica_pipeline.config import MAX_PRESIGN_HOURS, MIN_PRESIGN_HOURS

TEMPORARY_KEY_PREFIX = "ASIA"


class PresignRefused(Exception):
    """We cannot produce a URL that lives long enough; the message says how to fix it."""


@dataclass(frozen=True)
class SignerCredentials:
    access_key_id: str
    secret_access_key: str = ""
    session_token: str | None = None

    @classmethod
    def from_secret(cls, secret_text: str) -> SignerCredentials:
        """Parse the signer secret: ``{"access_key_id": "AKIA…", "secret_access_key": "…"}``."""
        try:
            value = json.loads(secret_text)
            return cls(
                access_key_id=str(value["access_key_id"]),
                secret_access_key=str(value["secret_access_key"]),
                session_token=value.get("session_token") or None,
            )
        except (json.JSONDecodeError, KeyError, TypeError):
            raise PresignRefused(
                "the signer secret is not JSON with 'access_key_id' and 'secret_access_key'; "
                "store the signer IAM user's access key there (see the README, 'Signer key')"
            ) from None

    def __repr__(self) -> str:  # never print the secret half
        return f"SignerCredentials(access_key_id={self.access_key_id!r})"


def refuse_temporary(credentials: SignerCredentials) -> None:
    if credentials.session_token or credentials.access_key_id.startswith(TEMPORARY_KEY_PREFIX):
        raise PresignRefused(
            "refusing to pre-sign with temporary credentials (an ASIA… key or a session "
            "token): the URL would die with the session, long before Tavus downloads it. "
            "Store a long-lived IAM user access key (AKIA…) in the signer secret "
            "(see the README, 'Signer key')"
        )


def make_signing_client(credentials: SignerCredentials, region: str) -> Any:
    """An S3 client that signs with the signer key, SigV4 (whose expiry S3 enforces)."""
    refuse_temporary(credentials)
    return boto3.client(
        "s3",
        region_name=region,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        config=Config(signature_version="s3v4"),
    )


def presign_get(
    client: Any,
    bucket: str,
    key: str,
    lifetime: timedelta,
    version_id: str | None = None,
) -> str:
    """A GET URL for one object version, valid for ``lifetime`` (24 h to 7 days).

    ``client`` is what ``runtime.signing_client`` gives: an S3 client signing with the
    signer user's key (SigV4), or a ``CloudFrontUrlSigner`` (the ``cloudfront`` signer).
    """
    hours = lifetime.total_seconds() / 3600
    if not MIN_PRESIGN_HOURS <= hours <= MAX_PRESIGN_HOURS:
        raise ValueError(f"pre-sign lifetime {hours:g} h is outside 24 h to 7 days")
    if isinstance(client, CloudFrontUrlSigner):
        # The distribution serves this one bucket: the key (and version) name the object.
        return client.signed_get_url(key, lifetime, version_id)
    params: dict[str, str] = {"Bucket": bucket, "Key": key}
    if version_id and version_id != "null":
        params["VersionId"] = version_id
    url: str = client.generate_presigned_url(
        "get_object", Params=params, ExpiresIn=int(lifetime.total_seconds())
    )
    return url
