"""Every setting the Lambda functions read, validated once per cold start.

Environment variable names live here and only here: the CDK stack and the local
stack import them to build the functions' environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import cache
from urllib.parse import urlsplit

TABLE_NAME = "REPLICAS_TABLE_NAME"
UPLOAD_PREFIX = "UPLOAD_PREFIX"
TAVUS_API_URL = "TAVUS_API_URL"
TAVUS_API_KEY_SECRET_ARN = "TAVUS_API_KEY_SECRET_ARN"  # nosec B105 # noqa: S105 - a variable name
CALLBACK_BASE_URL = "CALLBACK_BASE_URL"
CALLBACK_HMAC_SECRET_ARN = "CALLBACK_HMAC_SECRET_ARN"  # nosec B105 # noqa: S105 - a variable name
SIGNER_SECRET_ARN = "SIGNER_SECRET_ARN"  # nosec B105 # noqa: S105 - a variable name
# Which signer makes Tavus's download URLs: one of SIGNERS.
SIGNER = "SIGNER"
# The cloudfront signer: the distribution's base URL (https://<domain>), the id CloudFront
# gives its public key, the secret holding the private key and the key serial it must carry.
CLOUDFRONT_URL = "CLOUDFRONT_URL"
CLOUDFRONT_KEY_PAIR_ID = "CLOUDFRONT_KEY_PAIR_ID"
CLOUDFRONT_KEY_SECRET_ARN = "CLOUDFRONT_KEY_SECRET_ARN"  # nosec B105 # noqa: S105 - a variable name
CLOUDFRONT_KEY_SERIAL = "CLOUDFRONT_KEY_SERIAL"
PRESIGN_HOURS = "PRESIGN_HOURS"
MIN_DURATION_SECONDS = "MIN_DURATION_SECONDS"
MIN_DURATION_BY_MODEL = "MIN_DURATION_BY_MODEL"
ACCEPTED_CONTAINERS = "ACCEPTED_CONTAINERS"
MIN_RESOLUTION = "MIN_RESOLUTION"
MAX_VIDEO_BYTES = "MAX_VIDEO_BYTES"
PROBE_MAX_BYTES = "PROBE_MAX_BYTES"
TAVUS_CONNECT_TIMEOUT = "TAVUS_CONNECT_TIMEOUT_SECONDS"
TAVUS_READ_TIMEOUT = "TAVUS_READ_TIMEOUT_SECONDS"
TAVUS_MAX_RETRIES = "TAVUS_MAX_RETRIES"
TAVUS_MAX_RETRY_AFTER = "TAVUS_MAX_RETRY_AFTER_SECONDS"
TAVUS_BACKOFF_SECONDS = "TAVUS_BACKOFF_SECONDS"
TAVUS_API_VOCABULARY = "TAVUS_API_VOCABULARY"
SUBMIT_LEASE_SECONDS = "SUBMIT_LEASE_SECONDS"
CREATE_SETTLE_SECONDS = "CREATE_SETTLE_SECONDS"
MAX_DEFERRAL_HOURS = "MAX_DEFERRAL_HOURS"
EVENT_BUS_NAME = "EVENT_BUS_NAME"
PAIR_TIMEOUT_HOURS = "PAIR_TIMEOUT_HOURS"
STALE_SUBMITTING_MINUTES = "STALE_SUBMITTING_MINUTES"
STUCK_TRAINING_HOURS = "STUCK_TRAINING_HOURS"
RECONCILE_BATCH_SIZE = "RECONCILE_BATCH_SIZE"
UNKNOWN_REPLICA_GRACE_MINUTES = "UNKNOWN_REPLICA_GRACE_MINUTES"
MAX_UNKNOWN_REPLICAS_PER_RUN = "MAX_UNKNOWN_REPLICAS_PER_RUN"
# The ingest queue, for the status API's retries and the deep check's verdicts.
INGEST_QUEUE_URL = "INGEST_QUEUE_URL"
# The deep-check queue (the deep_check setting): set for ingest, which sends complete
# submissions there before Create Replica. Absent: no deep check, ingest submits at once.
DEEP_CHECK_QUEUE_URL = "DEEP_CHECK_QUEUE_URL"

# The ingest function's timeout (the CDK stack and the local stack both use it); the
# time budget in ``replica_pipeline.ingest_budget`` checks that a record fits in it.
INGEST_TIMEOUT_SECONDS = 120
# The callback function's timeout: API Gateway waits 29 s at most.
CALLBACK_TIMEOUT_SECONDS = 20
# The deep-check function (both stacks). 3538 MB is where Lambda gives two vCPUs, which
# the check uses (decoding on one, face detection on the other). It downloads the video(s)
# to /tmp: a training + consent pair of the largest size (MAX_VIDEO_BYTES, 750 MB) fits in
# 2 GB. Fifteen minutes is Lambda's most; a 200 MB recording takes seconds.
DEEP_CHECK_TIMEOUT_SECONDS = 900
DEEP_CHECK_MEMORY_MB = 3538
DEEP_CHECK_EPHEMERAL_MB = 2048

DEFAULT_TAVUS_API_URL = "https://tavusapi.com"
# Tavus's two names for one API: "replicas" (/v2/replicas, replica_id) and, in its newest
# pages, "faces" (/v2/faces, face_id). replica_pipeline.adapters.tavus holds what each one names.
TAVUS_VOCABULARIES = ("replicas", "faces")
DEFAULT_TAVUS_VOCABULARY = "replicas"
DEFAULT_UPLOAD_PREFIX = "uploads/"
# What the CDK stack stores in the Tavus key secret until the user sets the real key.
# Never change this text: a new template value would overwrite a real key on deploy.
TAVUS_API_KEY_PLACEHOLDER = "REPLACE-ME-with-your-Tavus-API-key"
MIN_PRESIGN_HOURS = 24
# "iam_user": SigV4 URLs signed with a dedicated IAM user's access key (SIGNER_SECRET_ARN).
# "cloudfront": CloudFront signed URLs, for accounts whose SCPs forbid IAM users and keys.
SIGNER_IAM_USER = "iam_user"
SIGNER_CLOUDFRONT = "cloudfront"
SIGNERS = (SIGNER_IAM_USER, SIGNER_CLOUDFRONT)
DEFAULT_SIGNER = SIGNER_IAM_USER
# Tavus's requirements page: "webm or mp4 (H.264 + AAC)"; .mov is refused with the fix.
DEFAULT_CONTAINERS = (".mp4", ".webm")
# Each model's guide: Phoenix-3 asks for 1 min talking + 1 min silence, Phoenix-4 for
# 30 s + 30 s. The floor is the talking part (Tavus's errors table: "at least 1 minute").
DEFAULT_MIN_DURATION_BY_MODEL = (("phoenix-3", 60.0), ("phoenix-4", 30.0))
MAX_PRESIGN_HOURS = 7 * 24  # SigV4 refuses anything longer


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class ValidationLimits:
    """What a training video must satisfy before we send it to Tavus."""

    # The floor for a drop that names no model (or one not listed below).
    min_duration_seconds: float = 60.0
    # (model name, floor) pairs: the drop's model-name metadata picks one.
    min_duration_by_model: tuple[tuple[str, float], ...] = DEFAULT_MIN_DURATION_BY_MODEL
    containers: tuple[str, ...] = DEFAULT_CONTAINERS  # file extensions, lower case, with the dot
    min_resolution: int = 1080  # the shorter side, so portrait 1080x1920 passes
    min_frame_rate: float = 25.0  # Tavus's errors table: video_fps
    max_bytes: int = 750 * 1024 * 1024
    probe_max_bytes: int = 4 * 1024 * 1024

    def for_consent_video(self) -> ValidationLimits:
        """A separate consent video is the spoken statement alone (10 to 20 s): the training
        length floor is not for it; everything else (format, codec, resolution) is."""
        return replace(self, min_duration_seconds=0.0, min_duration_by_model=())

    def min_duration_for(self, model_name: str | None) -> float:
        """The duration floor of a training video for ``model_name`` (None: no model named)."""
        wanted = (model_name or "").strip().lower()
        return next(
            (floor for model, floor in self.min_duration_by_model if model == wanted),
            self.min_duration_seconds,
        )

    def for_model(self, model_name: str | None) -> ValidationLimits:
        """These limits with the duration floor of ``model_name``."""
        return replace(
            self, min_duration_seconds=self.min_duration_for(model_name), min_duration_by_model=()
        )


@dataclass(frozen=True)
class TavusSettings:
    api_url: str
    api_key_secret_arn: str
    connect_timeout: float = 3.05
    read_timeout: float = 15.0
    max_retries: int = 3
    # A Retry-After longer than this is not slept through in the function (waiting
    # costs nothing in the queue): the work is deferred there instead.
    max_retry_after: float = 5.0
    # Exponential backoff base: waits of about 0.5, 1, 2 s (plus jitter), at most the cap.
    backoff_seconds: float = 0.5
    backoff_max_seconds: float = 8.0
    # Which of TAVUS_VOCABULARIES the client speaks; answers in either are read.
    vocabulary: str = DEFAULT_TAVUS_VOCABULARY

    def __post_init__(self) -> None:
        if self.vocabulary not in TAVUS_VOCABULARIES:
            raise ConfigError(
                f"{TAVUS_API_VOCABULARY}={self.vocabulary!r} must be one of "
                + ", ".join(TAVUS_VOCABULARIES)
            )

    @property
    def slowest_attempt_seconds(self) -> float:
        """One request that connects at the last moment and answers at the last moment."""
        return self.connect_timeout + self.read_timeout

    @property
    def slowest_call_seconds(self) -> float:
        """A call with every retry: each attempt at its slowest, each wait at its longest."""
        longest_wait = max(self.max_retry_after, self.backoff_max_seconds + self.backoff_seconds)
        return (self.max_retries + 1) * self.slowest_attempt_seconds + (
            self.max_retries * longest_wait
        )


@dataclass(frozen=True)
class ReconcileSettings:
    pair_timeout: timedelta = timedelta(hours=24)
    # A submitting item untouched this long lost its invocation (and maybe its message).
    stale_submitting: timedelta = timedelta(minutes=30)
    stuck_training: timedelta = timedelta(hours=8)
    # Items read from the table per query (the reconciler pages on to reach them all).
    batch_size: int = 100
    # Tavus must not know a training replica for this long, over two runs at least,
    # before the item is marked error: one bad answer must not end a healthy replica.
    unknown_grace: timedelta = timedelta(hours=1)
    # More unknown replicas than this in one run means Tavus is broken (or its API
    # moved), not that they all vanished: the run stops changing items and alarms.
    max_unknown_per_run: int = 10


@dataclass(frozen=True)
class CloudFrontSigning:
    """Where the cloudfront signer's URLs point and what signs them."""

    url: str  # https://<distribution domain> (a loopback stand-in locally)
    key_pair_id: str
    key_secret_arn: str
    # The serial the key secret must carry: a mismatch means a rotation is deploying.
    key_serial: str


@dataclass(frozen=True)
class Settings:
    table_name: str
    upload_prefix: str
    callback_base_url: str
    callback_hmac_secret_arn: str
    # The IAM user's key; None with the cloudfront signer, which has no such user.
    signer_secret_arn: str | None
    presign_lifetime: timedelta
    submit_lease: timedelta
    limits: ValidationLimits
    tavus: TavusSettings
    # After a Create Replica whose outcome is unknown, how long its claim is kept
    # before anyone looks in Tavus for the replica (a slow POST may still land).
    create_settle: timedelta = timedelta(seconds=120)
    # How long a drop may wait in the queue (rate limited, or its submission busy)
    # without using up its deliveries; past this, each wait costs one.
    max_deferral: timedelta = timedelta(hours=24)
    event_bus_name: str = "default"
    reconcile: ReconcileSettings = ReconcileSettings()
    ingest_queue_url: str | None = None  # set for the functions that queue submissions
    deep_check_queue_url: str | None = None  # set for ingest when the deep check is on
    signer: str = DEFAULT_SIGNER
    cloudfront: CloudFrontSigning | None = None  # set with the cloudfront signer

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        reader = _EnvReader(env)
        presign_hours = reader.number(PRESIGN_HOURS, default=48.0)
        if not MIN_PRESIGN_HOURS <= presign_hours <= MAX_PRESIGN_HOURS:
            raise ConfigError(
                f"{PRESIGN_HOURS}={presign_hours:g} is out of range: Tavus needs a URL that "
                f"lives at least {MIN_PRESIGN_HOURS} h and SigV4 allows at most "
                f"{MAX_PRESIGN_HOURS} h"
            )
        prefix = reader.text(UPLOAD_PREFIX, default=DEFAULT_UPLOAD_PREFIX)
        if not prefix.endswith("/"):
            raise ConfigError(f"{UPLOAD_PREFIX}={prefix!r} must end with '/'")
        signer = reader.text(SIGNER, default=DEFAULT_SIGNER).lower()
        if signer not in SIGNERS:
            raise ConfigError(f"{SIGNER}={signer!r} must be one of " + ", ".join(SIGNERS))
        cloudfront = None
        if signer == SIGNER_CLOUDFRONT:
            cloudfront = CloudFrontSigning(
                url=reader.url(CLOUDFRONT_URL).rstrip("/"),
                key_pair_id=reader.text(CLOUDFRONT_KEY_PAIR_ID),
                key_secret_arn=reader.text(CLOUDFRONT_KEY_SECRET_ARN),
                key_serial=reader.text(CLOUDFRONT_KEY_SERIAL),
            )
        return cls(
            table_name=reader.text(TABLE_NAME),
            upload_prefix=prefix,
            callback_base_url=reader.url(CALLBACK_BASE_URL),
            callback_hmac_secret_arn=reader.text(CALLBACK_HMAC_SECRET_ARN),
            signer_secret_arn=(reader.text(SIGNER_SECRET_ARN) if cloudfront is None else None),
            signer=signer,
            cloudfront=cloudfront,
            presign_lifetime=timedelta(hours=presign_hours),
            submit_lease=timedelta(seconds=reader.number(SUBMIT_LEASE_SECONDS, default=300.0)),
            create_settle=timedelta(seconds=reader.number(CREATE_SETTLE_SECONDS, default=120.0)),
            max_deferral=timedelta(hours=reader.number(MAX_DEFERRAL_HOURS, default=24.0)),
            limits=ValidationLimits(
                min_duration_seconds=reader.number(MIN_DURATION_SECONDS, default=60.0),
                min_duration_by_model=reader.floors(
                    MIN_DURATION_BY_MODEL, default=DEFAULT_MIN_DURATION_BY_MODEL
                ),
                containers=reader.extensions(ACCEPTED_CONTAINERS, default=DEFAULT_CONTAINERS),
                min_resolution=int(reader.number(MIN_RESOLUTION, default=1080)),
                max_bytes=int(reader.number(MAX_VIDEO_BYTES, default=750 * 1024 * 1024)),
                probe_max_bytes=int(reader.number(PROBE_MAX_BYTES, default=4 * 1024 * 1024)),
            ),
            tavus=TavusSettings(
                api_url=reader.url(TAVUS_API_URL, default=DEFAULT_TAVUS_API_URL).rstrip("/"),
                api_key_secret_arn=reader.text(TAVUS_API_KEY_SECRET_ARN),
                connect_timeout=reader.number(TAVUS_CONNECT_TIMEOUT, default=3.05),
                read_timeout=reader.number(TAVUS_READ_TIMEOUT, default=15.0),
                max_retries=int(reader.number(TAVUS_MAX_RETRIES, default=3)),
                max_retry_after=reader.number(TAVUS_MAX_RETRY_AFTER, default=5.0),
                backoff_seconds=reader.number(TAVUS_BACKOFF_SECONDS, default=0.5),
                vocabulary=reader.text(
                    TAVUS_API_VOCABULARY, default=DEFAULT_TAVUS_VOCABULARY
                ).lower(),
            ),
            event_bus_name=reader.text(EVENT_BUS_NAME, default="default"),
            ingest_queue_url=reader.optional_url(INGEST_QUEUE_URL),
            deep_check_queue_url=reader.optional_url(DEEP_CHECK_QUEUE_URL),
            reconcile=ReconcileSettings(
                pair_timeout=timedelta(hours=reader.number(PAIR_TIMEOUT_HOURS, default=24.0)),
                stale_submitting=timedelta(
                    minutes=reader.number(STALE_SUBMITTING_MINUTES, default=30.0)
                ),
                stuck_training=timedelta(hours=reader.number(STUCK_TRAINING_HOURS, default=8.0)),
                batch_size=max(1, int(reader.number(RECONCILE_BATCH_SIZE, default=100))),
                unknown_grace=timedelta(
                    minutes=reader.number(UNKNOWN_REPLICA_GRACE_MINUTES, default=60.0)
                ),
                max_unknown_per_run=int(reader.number(MAX_UNKNOWN_REPLICAS_PER_RUN, default=10)),
            ),
        )


class _EnvReader:
    """Reads named settings and turns every problem into a ConfigError naming it."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str, default: str | None = None) -> str:
        value = self._env.get(name, "").strip()
        if value:
            return value
        if default is None:
            raise ConfigError(f"missing required setting {name}")
        return default

    def number(self, name: str, default: float) -> float:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a number") from None
        if value < 0:
            raise ConfigError(f"{name}={raw!r} must not be negative")
        return value

    def floors(
        self, name: str, default: tuple[tuple[str, float], ...]
    ) -> tuple[tuple[str, float], ...]:
        """``model=seconds`` pairs, comma separated (e.g. ``phoenix-3=60,phoenix-4=30``)."""
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        pairs: list[tuple[str, float]] = []
        for entry in (part.strip() for part in raw.split(",") if part.strip()):
            model, _, seconds = entry.partition("=")
            try:
                floor = float(seconds)
            except ValueError:
                floor = -1.0
            if not model.strip() or floor < 0:
                raise ConfigError(
                    f"{name}={raw!r}: {entry!r} is not model=seconds (e.g. phoenix-4=30)"
                )
            pairs.append((model.strip().lower(), floor))
        return tuple(pairs)

    def extensions(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        """File extensions, comma separated, each with its dot (e.g. ``.mp4,.webm``)."""
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        chosen = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
        malformed = [ext for ext in chosen if not ext.startswith(".") or len(ext) < 2]
        if not chosen or malformed:
            raise ConfigError(f"{name}={raw!r} must list extensions with their dot, e.g. .mp4")
        return chosen

    def optional_url(self, name: str) -> str | None:
        return self.url(name) if self._env.get(name, "").strip() else None

    def url(self, name: str, default: str | None = None) -> str:
        value = self.text(name, default)
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{name}={value!r} is not an http(s) URL")
        return value


@cache
def load_settings() -> Settings:
    """The settings of this container, read from the environment on first use."""
    return Settings.from_env(os.environ)
