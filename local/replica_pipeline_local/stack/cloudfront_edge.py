"""A loopback stand-in for the CloudFront distribution of the cloudfront signer.

It does what the distribution does for a signed URL, and only that: it reads
``Expires``, ``Signature`` and ``Key-Pair-Id`` (or a custom ``Policy``), checks the
signature with the public key of that key-pair id (RSA-SHA1 over the policy, as
CloudFront does), refuses an expired URL, answers CloudFront's 403 otherwise, and
streams the object (the ``versionId`` the URL names) from moto's S3. Nothing else is
served: like a behaviour with a trusted key group, every request must be signed.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from replica_pipeline.adapters.cloudfront_signer import SIGNED_URL_PARAMETERS, VERSION_PARAMETER
from replica_pipeline_local.loopback import LoopbackServer

CHUNK_BYTES = 1024 * 1024


class Refused(Exception):
    """CloudFront's 403: its error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def cloudfront_b64decode(text: str) -> bytes:
    """CloudFront's URL-safe base64: '-' for '+', '_' for '=', '~' for '/'."""
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


def canned_policy(resource: str, expires: int) -> bytes:
    """The policy a canned signed URL stands for, byte for byte as signers build it."""
    statement = {"Resource": resource, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}
    return json.dumps({"Statement": [statement]}, separators=(",", ":")).encode("utf-8")


class SignedUrlVerifier:
    """The edge's check of one signed URL: signature, key-pair id, expiry, resource."""

    def __init__(self, public_keys: Mapping[str, str], clock: Callable[[], float] = time.time):
        from cryptography.hazmat.primitives import serialization

        self._keys = {
            key_id: serialization.load_pem_public_key(pem.encode("ascii"))
            for key_id, pem in public_keys.items()
        }
        self._clock = clock

    def verify(self, resource: str, parameters: Mapping[str, str]) -> None:
        """Raise ``Refused`` unless ``parameters`` sign ``resource`` (the URL without them)."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        key_id, signature = parameters.get("Key-Pair-Id"), parameters.get("Signature")
        if not key_id or not signature:
            raise Refused("MissingKey", "Missing Key-Pair-Id query parameter or cookie value")
        key = self._keys.get(key_id)
        if not isinstance(key, rsa.RSAPublicKey):
            raise Refused("InvalidKey", "Unknown Key")
        if "Policy" in parameters:
            try:
                policy = cloudfront_b64decode(parameters["Policy"])
            except ValueError:
                raise Refused("MalformedPolicy", "Malformed Policy") from None
        elif "Expires" in parameters and parameters["Expires"].isdigit():
            policy = canned_policy(resource, int(parameters["Expires"]))
        else:
            raise Refused("MissingKey", "Missing Expires or Policy query parameter")
        try:
            key.verify(
                cloudfront_b64decode(signature),
                policy,
                padding.PKCS1v15(),
                hashes.SHA1(),  # nosec B303 # noqa: S303 - CloudFront verifies RSA-SHA1
            )
        except (InvalidSignature, ValueError):
            raise Refused("AccessDenied", "Access denied") from None
        self._check_policy(policy, resource, custom="Policy" in parameters)

    def _check_policy(self, policy: bytes, resource: str, custom: bool) -> None:
        try:
            (statement,) = json.loads(policy)["Statement"]
            allowed = str(statement.get("Resource", "*"))
            expires = int(statement["Condition"]["DateLessThan"]["AWS:EpochTime"])
        except (ValueError, KeyError, TypeError):
            raise Refused("MalformedPolicy", "Malformed Policy") from None
        # A canned policy names this very URL; a custom one may use wildcards.
        if custom and not fnmatch.fnmatchcase(resource, allowed):
            raise Refused("AccessDenied", "Access denied")
        if self._clock() >= expires:
            raise Refused("AccessDenied", "Access denied: the URL has expired")


def split_signed_url(url: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """(the URL the policy names, the signing parameters, the other query parameters)."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [
        piece
        for piece in parts.query.split("&")
        if piece and unquote(piece.split("=", 1)[0]) not in SIGNED_URL_PARAMETERS
    ]
    resource = f"{parts.scheme}://{parts.netloc}{parts.path}"
    if kept:
        resource += "?" + "&".join(kept)
    signing = {name: value for name, value in pairs if name in SIGNED_URL_PARAMETERS}
    others = {name: value for name, value in pairs if name not in SIGNED_URL_PARAMETERS}
    return resource, signing, others


class CloudFrontEdge(LoopbackServer):
    """The distribution on 127.0.0.1: signed GET/HEAD of the bucket's objects, 403 otherwise."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        public_keys: Mapping[str, str],
        *,
        clock: Callable[[], float] = time.time,
        port: int = 0,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.verifier = SignedUrlVerifier(public_keys, clock)
        self.requests: list[dict[str, Any]] = []  # what was asked and answered, for tests
        super().__init__(_handler_for(self), port, thread_name="cloudfront-edge")

    def open_object(self, url: str) -> dict[str, Any]:
        """The S3 GetObject answer for a signed URL, or ``Refused``/``LookupError``."""
        resource, signing, others = split_signed_url(url)
        self.verifier.verify(resource, signing)
        request: dict[str, str] = {"Bucket": self.bucket, "Key": unquote(urlsplit(url).path[1:])}
        if others.get(VERSION_PARAMETER):
            request["VersionId"] = others[VERSION_PARAMETER]
        try:
            answer: dict[str, Any] = self.s3.get_object(**request)
        except self.s3.exceptions.NoSuchKey:
            raise LookupError(request["Key"]) from None
        except self.s3.exceptions.ClientError as error:
            raise LookupError(str(error)) from None
        return answer


def _handler_for(edge: CloudFrontEdge) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet, like the others
            return

        def do_GET(self) -> None:
            self._serve(body=True)

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def _refuse(self, status: HTTPStatus, code: str, message: str) -> None:
            payload = (
                f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                f"<Message>{message}</Message></Error>"
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _serve(self, body: bool) -> None:
            url = f"{edge.url}{self.path}"
            try:
                answer = edge.open_object(url)
            except Refused as refused:
                edge.requests.append({"path": self.path, "status": 403, "code": refused.code})
                self._refuse(HTTPStatus.FORBIDDEN, refused.code, refused.message)
                return
            except LookupError:
                edge.requests.append({"path": self.path, "status": 404, "code": "NoSuchKey"})
                self._refuse(HTTPStatus.NOT_FOUND, "NoSuchKey", "The specified key does not exist.")
                return
            edge.requests.append({"path": self.path, "status": 200, "code": ""})
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", answer.get("ContentType", "binary/octet-stream"))
            self.send_header("Content-Length", str(answer["ContentLength"]))
            self.send_header("X-Cache", "Miss from cloudfront")
            self.end_headers()
            stream = answer["Body"]
            try:
                while body and (chunk := stream.read(CHUNK_BYTES)):
                    self.wfile.write(chunk)
            finally:
                stream.close()

    return Handler
