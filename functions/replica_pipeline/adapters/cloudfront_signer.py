"""CloudFront signed URLs: the signer for accounts that forbid IAM users and access keys.

A CloudFront signed URL is checked at the edge against a public key of the
distribution's key group, so it lives exactly until its ``Expires`` whatever
credentials the function runs with: the Lambda role's temporary credentials
only read the private key from Secrets Manager. Canned policy, RSA-SHA1, as
CloudFront specifies. ``cryptography`` is imported on first use, so functions
on the IAM-user signer never pay for it at cold start.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

from replica_pipeline.clock import Clock, utc_now

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

# The query parameters CloudFront reads (and removes) on a signed URL.
SIGNED_URL_PARAMETERS = ("Expires", "Policy", "Signature", "Key-Pair-Id")
# S3's parameter naming one object version; the distribution forwards it to the origin.
VERSION_PARAMETER = "versionId"


class SigningKeyMismatch(Exception):
    """The private key in the secret is not the one this function's key-pair id names.

    Seen only for a minute or so while a ``signer_key_serial`` rotation deploys (the
    secret changes before the functions' environment). Transient on purpose: the
    record returns to the queue and is signed once both agree.
    """


@dataclass(frozen=True)
class SigningKey:
    """The distribution's private key as the key secret holds it, and the serial that made it."""

    private_key_pem: str = field(repr=False)
    serial: str

    @classmethod
    def from_secret(cls, secret_text: str) -> SigningKey:
        """Parse ``{"private_key_pem": "-----BEGIN PRIVATE KEY-----…", "serial": "1"}``."""
        # Imported here: presigner imports this module, and PresignRefused lives there.
        from replica_pipeline.adapters.presigner import PresignRefused

        try:
            value = json.loads(secret_text)
            return cls(private_key_pem=str(value["private_key_pem"]), serial=str(value["serial"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            raise PresignRefused(
                "the CloudFront key secret is not JSON with 'private_key_pem' and 'serial'; "
                "it is written by the stack's signing-key custom resource (deploy again)"
            ) from None


def load_private_key(pem: str) -> RSAPrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("CloudFront signs with RSA keys only")
    return key


def rsa_sha1_signer(private_key: RSAPrivateKey) -> Callable[[bytes], bytes]:
    """What ``botocore.signers.CloudFrontSigner`` calls to sign a policy: RSA PKCS#1 v1.5."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    def sign(message: bytes) -> bytes:
        # SHA-1 because CloudFront's signed URLs specify it; the hash is not our choice.
        return private_key.sign(message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303  # nosec B303

    return sign


class CloudFrontUrlSigner:
    """Signs GET URLs of the distribution that serves the uploads bucket."""

    def __init__(
        self,
        base_url: str,
        key_pair_id: str,
        signing_key: SigningKey,
        expected_serial: str | None = None,
        clock: Clock = utc_now,
    ) -> None:
        if expected_serial is not None and signing_key.serial != expected_serial:
            raise SigningKeyMismatch(
                f"the CloudFront key secret holds key serial {signing_key.serial}, this "
                f"function signs with serial {expected_serial}: a key rotation is deploying"
            )
        from botocore.signers import CloudFrontSigner

        self.base_url = base_url.rstrip("/")
        self.key_pair_id = key_pair_id
        self._signer = CloudFrontSigner(
            key_pair_id, rsa_sha1_signer(load_private_key(signing_key.private_key_pem))
        )
        self._clock = clock

    def object_url(self, key: str, version_id: str | None = None) -> str:
        """The unsigned URL of one object (version): the path is the S3 key, percent-encoded."""
        url = f"{self.base_url}/{quote(key, safe='/')}"
        if version_id and version_id != "null":
            url += f"?{VERSION_PARAMETER}={quote(version_id, safe='')}"
        return url

    def signed_get_url(self, key: str, lifetime: timedelta, version_id: str | None = None) -> str:
        """A URL CloudFront serves until now + ``lifetime``, and refuses (403) afterwards."""
        expires: datetime = self._clock() + lifetime
        url: str = self._signer.generate_presigned_url(
            self.object_url(key, version_id), date_less_than=expires
        )
        return url
