"""The S3 key convention: which uploads are drops, and what each one is.

- ``uploads/<name>.<ext>``: one video, consent spoken at its start (or a
  non-human replica); submitted alone.
- ``uploads/<name>/train.<ext>`` + ``uploads/<name>/consent.<ext>``: separate
  consent; submitted when both parts exist.

``<name>`` may contain folders (``uploads/team/alice.mp4`` is named
``team/alice``). Keys arrive URL-encoded in S3 events and are decoded here,
once, and nowhere else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.header import Header, decode_header, make_header
from enum import StrEnum
from typing import Any
from urllib.parse import unquote_plus

# User metadata keys (S3 sends them as x-amz-meta-<name>).
META_REPLICA_NAME = "replica-name"
META_MODEL_NAME = "model-name"
META_CALLBACK_TAG = "callback-tag"

TRAINING_STEM = "train"
CONSENT_STEM = "consent"


class Role(StrEnum):
    COMBINED = "combined"  # one video, consent at its start
    TRAINING = "training"  # the training half of a separate-consent pair
    CONSENT = "consent"  # the consent half


class MalformedNotification(ValueError):
    """An SQS message that is not an S3 event notification at all."""


@dataclass(frozen=True)
class ObjectCreated:
    """One S3 ObjectCreated record, key already decoded."""

    bucket: str
    key: str
    size: int | None
    etag: str | None
    version_id: str | None


@dataclass(frozen=True)
class Drop:
    """An upload under the prefix, classified by the key convention."""

    key: str
    name: str
    role: Role
    extension: str  # lower case, with the dot; "" when the key has none

    @property
    def default_replica_name(self) -> str:
        return self.name.rsplit("/", 1)[-1]


def parse_notification(body: str) -> list[ObjectCreated]:
    """The ObjectCreated records of an S3 notification carried in an SQS body.

    ``s3:TestEvent`` messages (sent when a notification is configured) and
    records of other event types yield nothing.
    """
    try:
        message = json.loads(body)
    except json.JSONDecodeError as error:
        raise MalformedNotification(f"SQS body is not JSON: {error.msg}") from None
    if not isinstance(message, dict):
        raise MalformedNotification("SQS body is not a JSON object")
    if message.get("Event") == "s3:TestEvent":
        return []
    records = message.get("Records")
    if not isinstance(records, list):
        raise MalformedNotification("SQS body has no S3 'Records' list")
    return [created for record in records if (created := _object_created(record)) is not None]


def _object_created(record: Any) -> ObjectCreated | None:
    if not isinstance(record, dict):
        raise MalformedNotification("an S3 record is not a JSON object")
    if record.get("eventSource") != "aws:s3" or not str(record.get("eventName", "")).startswith(
        "ObjectCreated:"
    ):
        return None
    try:
        s3 = record["s3"]
        bucket = str(s3["bucket"]["name"])
        obj = s3["object"]
        raw_key = str(obj["key"])
    except (KeyError, TypeError):
        raise MalformedNotification("an S3 record lacks s3.bucket.name or s3.object.key") from None
    size = obj.get("size")
    etag = obj.get("eTag")
    version_id = obj.get("versionId")
    return ObjectCreated(
        bucket=bucket,
        key=unquote_plus(raw_key),
        size=int(size) if isinstance(size, int | float) else None,
        etag=str(etag).strip('"') if etag else None,
        version_id=str(version_id) if version_id else None,
    )


def classify(key: str, prefix: str) -> Drop | None:
    """What the key names under the convention, or None when it is not a drop.

    Keys outside the prefix and folder markers (keys ending in '/') are not drops.
    """
    if not key.startswith(prefix):
        return None
    rest = key[len(prefix) :]
    if not rest or rest.endswith("/"):
        return None
    folder, _, filename = rest.rpartition("/")
    stem, dot, extension = filename.rpartition(".")
    if not dot or not stem:  # no extension, or a dotfile such as ".mp4"
        stem, extension = filename, ""
    extension = f".{extension.lower()}" if extension else ""
    if folder and stem.lower() == TRAINING_STEM:
        return Drop(key=key, name=folder, role=Role.TRAINING, extension=extension)
    if folder and stem.lower() == CONSENT_STEM:
        return Drop(key=key, name=folder, role=Role.CONSENT, extension=extension)
    name = f"{folder}/{stem}" if folder else stem
    return Drop(key=key, name=name, role=Role.COMBINED, extension=extension)


def metadata_text(value: str) -> str:
    """A user-metadata value as the user wrote it.

    S3 metadata is US-ASCII; the console, SDKs and our CLI send other text as
    RFC 2047 encoded words (``=?UTF-8?B?Sm9zw6k=?=``), decoded here.
    """
    if "=?" not in value:
        return value.strip()
    try:
        return str(make_header(decode_header(value))).strip()
    except (ValueError, LookupError):
        return value.strip()


def encode_metadata_text(value: str) -> str:
    """The inverse of ``metadata_text``: ASCII as is, anything else as an RFC 2047 word."""
    if value.isascii():
        return value
    return Header(value, "utf-8").encode()


def pair_folder(drop: Drop, prefix: str) -> str:
    """The folder (key prefix) that holds both halves of a pair, whatever their case."""
    return f"{prefix}{drop.name}/"


def combined_key(name: str, extension: str, prefix: str) -> str:
    return f"{prefix}{name}{extension}"


def pair_keys(name: str, training_ext: str, consent_ext: str, prefix: str) -> tuple[str, str]:
    return (
        f"{prefix}{name}/{TRAINING_STEM}{training_ext}",
        f"{prefix}{name}/{CONSENT_STEM}{consent_ext}",
    )
