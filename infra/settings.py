"""Every deployment setting, read once from CDK context into one validated, typed value.

``cdk.json`` lists each setting with its default; ``-c key=value`` on the CDK
command line overrides it (values then arrive as strings, which is why every
reader below also accepts the text form). A bad value stops synthesis with an
error that names the context key.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from replica_pipeline.config import (
    DEFAULT_TAVUS_API_URL,
    DEFAULT_TAVUS_VOCABULARY,
    DEFAULT_UPLOAD_PREFIX,
    MAX_PRESIGN_HOURS,
    MIN_PRESIGN_HOURS,
    SIGNER_CLOUDFRONT,
    SIGNERS,
    TAVUS_VOCABULARIES,
)

# Where drops land; the bucket notification, the IAM statements and the functions agree on it.
UPLOAD_PREFIX = DEFAULT_UPLOAD_PREFIX

# The retention periods CloudWatch Logs accepts, in days.
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545,
    731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

RemovalPolicyName = Literal["retain", "destroy"]
EventBusChoice = Literal["custom", "default"]
SignerChoice = Literal["iam_user", "cloudfront"]

_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

T = TypeVar("T")

# The values replica_pipeline.config.SIGNERS names, typed for this dataclass.
_SIGNERS: tuple[SignerChoice, ...] = ("iam_user", "cloudfront")
if set(_SIGNERS) != set(SIGNERS):
    raise RuntimeError("infra/settings.py's signers differ from replica_pipeline.config.SIGNERS")


class SettingsError(ValueError):
    """A context value is missing or malformed; the message names the context key."""


@dataclass(frozen=True)
class StackSettings:
    """What one deployment (one stage) of the pipeline is configured with."""

    # Names the stack (ReplicaPipeline-<stage>), the custom event bus and the metrics service.
    stage: str = "dev"
    # Lifetime of the pre-signed URLs handed to Tavus (24 h to 7 days).
    presign_hours: int = 48
    # Most ingest functions running at once: caps the rate of Create Replica calls.
    ingest_max_concurrency: int = 5
    # Deliveries of one S3 notification before it moves to the ingest DLQ.
    dlq_max_receive_count: int = 5
    # Half pairs older than this are rejected by the reconciler.
    pair_timeout_hours: int = 24
    # How often the reconciler runs.
    reconcile_every_minutes: int = 15
    # Where alarms are mailed (None: subscribe to the topic yourself).
    alarm_email: str | None = None
    # What happens to the bucket, table, secrets and logs when the stack is deleted.
    removal_policy: RemovalPolicyName = "retain"
    # Encrypt the uploads bucket with a customer-managed KMS key instead of S3-managed keys.
    bucket_kms: bool = False
    # Delete uploads this many days after they arrive (None: keep them).
    upload_expiry_days: int | None = None
    # Throttling of POST /callbacks/tavus (requests per second, and burst).
    callback_rate_limit: int = 10
    callback_burst_limit: int = 20
    # "custom": a bus named replica-pipeline-<stage>; "default": the account's default bus.
    event_bus: EventBusChoice = "custom"
    # Retention of every log group the stack creates.
    log_retention_days: int = 30
    # Tavus's API base URL.
    tavus_api_url: str = DEFAULT_TAVUS_API_URL
    # Tavus's names the functions speak: "replicas" (/v2/replicas) or "faces" (/v2/faces).
    tavus_api_vocabulary: str = DEFAULT_TAVUS_VOCABULARY
    # Increment to replace the signer's key: the IAM user's access key (infra/secrets.py,
    # "Rotation") or, with signer=cloudfront, the CloudFront key pair (infra/signers.py).
    signer_key_serial: int = 1
    # What signs Tavus's download URLs: "iam_user" (an IAM user's access key, SigV4) or
    # "cloudfront" (CloudFront signed URLs; no IAM user, for accounts whose SCPs forbid them).
    signer: SignerChoice = "iam_user"
    # Check each complete submission's video(s) in a function of its own (PyAV, numpy, OpenCV)
    # before Create Replica: ingest -> deep-check queue -> deep check -> ingest queue.
    deep_check: bool = False

    @property
    def uses_cloudfront_signer(self) -> bool:
        return self.signer == SIGNER_CLOUDFRONT

    @property
    def retain(self) -> bool:
        return self.removal_policy == "retain"

    @property
    def uses_default_event_bus(self) -> bool:
        return self.event_bus == "default"

    @property
    def custom_event_bus_name(self) -> str:
        return f"replica-pipeline-{self.stage}"

    @property
    def service_name(self) -> str:
        """POWERTOOLS_SERVICE_NAME: the ``service`` dimension of every app metric."""
        return f"replica-pipeline-{self.stage}"

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> StackSettings:
        """Read and validate every setting; unknown setting-like keys are typos, so refuse them."""
        _refuse_unknown_keys(context)
        read = _ContextReader(context)
        defaults = cls()
        return cls(
            stage=read.pattern("stage", defaults.stage, _STAGE, "lowercase letters, digits, '-'"),
            presign_hours=read.integer(
                "presign_hours", defaults.presign_hours, MIN_PRESIGN_HOURS, MAX_PRESIGN_HOURS
            ),
            ingest_max_concurrency=read.integer(
                # Lambda's SQS event source accepts 2 to 1000.
                "ingest_max_concurrency",
                defaults.ingest_max_concurrency,
                2,
                1000,
            ),
            dlq_max_receive_count=read.integer(
                "dlq_max_receive_count", defaults.dlq_max_receive_count, 1, 1000
            ),
            pair_timeout_hours=read.integer(
                "pair_timeout_hours", defaults.pair_timeout_hours, 1, 24 * 30
            ),
            reconcile_every_minutes=read.integer(
                "reconcile_every_minutes", defaults.reconcile_every_minutes, 1, 24 * 60
            ),
            alarm_email=read.optional(
                "alarm_email", lambda key, value: _email(key, value), default=None
            ),
            removal_policy=read.choice(
                "removal_policy", defaults.removal_policy, ("retain", "destroy")
            ),
            bucket_kms=read.boolean("bucket_kms", defaults.bucket_kms),
            upload_expiry_days=read.optional(
                "upload_expiry_days",
                lambda key, value: _integer(key, value, 1, 3650),
                default=None,
            ),
            callback_rate_limit=read.integer(
                "callback_rate_limit", defaults.callback_rate_limit, 1, 10_000
            ),
            callback_burst_limit=read.integer(
                "callback_burst_limit", defaults.callback_burst_limit, 1, 5_000
            ),
            event_bus=read.choice("event_bus", defaults.event_bus, ("custom", "default")),
            log_retention_days=read.member(
                "log_retention_days", defaults.log_retention_days, LOG_RETENTION_DAYS
            ),
            tavus_api_url=read.https_url("tavus_api_url", defaults.tavus_api_url),
            tavus_api_vocabulary=read.choice(
                "tavus_api_vocabulary", defaults.tavus_api_vocabulary, TAVUS_VOCABULARIES
            ),
            signer_key_serial=read.integer(
                "signer_key_serial", defaults.signer_key_serial, 1, 1_000_000
            ),
            signer=read.choice("signer", defaults.signer, _SIGNERS),
            deep_check=read.boolean("deep_check", defaults.deep_check),
        )


SETTING_KEYS: frozenset[str] = frozenset(field.name for field in fields(StackSettings))


def _refuse_unknown_keys(context: Mapping[str, Any]) -> None:
    # CDK's own keys contain '@', ':' or '-' (feature flags, lookups); ours are snake_case.
    for key in context:
        if re.fullmatch(r"[a-z][a-z0-9_]*", key) and key not in SETTING_KEYS:
            close = difflib.get_close_matches(key, sorted(SETTING_KEYS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SettingsError(f"context key {key!r} is not a setting of this stack{hint}")


class _ContextReader:
    def __init__(self, context: Mapping[str, Any]) -> None:
        self._context = context

    def _raw(self, key: str) -> Any:
        value = self._context.get(key)
        if isinstance(value, str):
            value = value.strip()
            if value == "":
                return None
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self._raw(key)
        return default if value is None else _integer(key, value, low, high)

    def boolean(self, key: str, default: bool) -> bool:
        value = self._raw(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise SettingsError(f"context {key}={value!r} must be true or false")

    def choice(self, key: str, default: T, choices: tuple[T, ...]) -> T:
        value = self._raw(key)
        if value is None:
            return default
        for choice in choices:
            if value == choice:
                return choice
        options = " or ".join(repr(choice) for choice in choices)
        raise SettingsError(f"context {key}={value!r} must be {options}")

    def member(self, key: str, default: int, allowed: tuple[int, ...]) -> int:
        value = self.integer(key, default, min(allowed), max(allowed))
        if value not in allowed:
            listed = ", ".join(str(days) for days in allowed)
            raise SettingsError(f"context {key}={value} must be one of {listed}")
        return value

    def pattern(self, key: str, default: str, regex: re.Pattern[str], what: str) -> str:
        value = self._raw(key)
        if value is None:
            return default
        if not isinstance(value, str) or not regex.fullmatch(value):
            raise SettingsError(
                f"context {key}={value!r} must match {regex.pattern} ({what}, at most 20)"
            )
        return value

    def https_url(self, key: str, default: str) -> str:
        value = self._raw(key)
        if value is None:
            return default
        parts = urlsplit(str(value))
        if parts.scheme != "https" or not parts.netloc:
            raise SettingsError(f"context {key}={value!r} must be an https:// URL")
        return str(value).rstrip("/")

    def optional(self, key: str, parse: Callable[[str, Any], T], default: T | None) -> T | None:
        value = self._raw(key)
        if value is None or value is False or (isinstance(value, str) and value == "null"):
            return default
        return parse(key, value)


def _integer(key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise SettingsError(f"context {key}={value!r} must be a whole number")
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value):
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise SettingsError(f"context {key}={value!r} must be a whole number")
    if not low <= value <= high:
        raise SettingsError(f"context {key}={value} is out of range ({low} to {high})")
    return value


def _email(key: str, value: Any) -> str:
    if not isinstance(value, str) or not _EMAIL.fullmatch(value):
        raise SettingsError(f"context {key}={value!r} is not an email address")
    return value
