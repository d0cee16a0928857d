"""The running local stack as ``make up`` describes it in ``.local/stack.json``: one typed object.

The local stack writes it (``stack.lifecycle``) once everything answers; the CLI,
``make run``, the integration tests and the benchmarks read it. The file's keys are
the field names, in this order (DESIGN.md's local contracts list the documented ones).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

# Its name in the local stack's state directory (`.local/` for `make up`).
FILE_NAME = "stack.json"
# `tavus` says which Tavus the handlers call.
TAVUS_EMULATOR = "emulator"
TAVUS_EXTERNAL = "external"
# `signer` is written only when the stack signs download URLs as CloudFront does.
CLOUDFRONT_SIGNER = "cloudfront"


@dataclass(frozen=True, kw_only=True)
class LocalStackDescription:
    """Endpoints, credentials and settings of one running local stack.

    The fields are in the order ``make up`` has always written the keys (people read the
    file). What the CLI needs to reach the stack is required; the rest is ``None`` only in
    a description written by hand with just those keys (the CLI accepts one, so do we).
    """

    aws_endpoint_url: str  # moto's
    region: str
    aws_access_key_id: str
    aws_secret_access_key: str = field(repr=False)
    bucket: str
    upload_prefix: str
    table: str
    api_url: str
    callback_url: str | None = None
    tavus_url: str | None = None
    tavus_api_key: str | None = field(default=None, repr=False)
    tavus: str | None = None  # TAVUS_EMULATOR or TAVUS_EXTERNAL
    ingest_concurrency: int | None = None
    reconcile_every_seconds: float | None = None
    event_bus: str | None = None
    queue_url: str
    dlq_url: str
    events_queue_url: str | None = None
    pid: int | None = None  # the process that serves the stack
    # Only with SIGNER=cloudfront: the default stack.json keeps its documented keys.
    signer: str | None = None
    cloudfront_url: str | None = None
    # Only with the deep check on (--deep-check, or deep_check in cdk.json).
    deep_check_queue_url: str | None = None
    deep_check_dlq_url: str | None = None

    @property
    def is_external_tavus(self) -> bool:
        """Whether the stack calls a Tavus other than the emulator."""
        return self.tavus == TAVUS_EXTERNAL

    def as_dict(self) -> dict[str, Any]:
        """The file's object: every key as ``make up`` writes it, the signer's only when set."""
        data = {item.name: getattr(self, item.name) for item in fields(self)}
        return {
            key: value
            for key, value in data.items()
            if value is not None or key not in _ONLY_WHEN_SET
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LocalStackDescription:
        """The description in ``data``; KeyError names a missing required key. Unknown keys
        are ignored, as they always were."""
        for required in fields(cls):
            if required.default is MISSING and required.name not in data:
                raise KeyError(required.name)
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    @classmethod
    def load(cls, path: Path) -> LocalStackDescription:
        """Read ``stack.json``; OSError, ValueError (not JSON) or KeyError when it is not one."""
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{path} is not a JSON object")
        return cls.from_dict(data)


_ONLY_WHEN_SET = frozenset(
    {"signer", "cloudfront_url", "deep_check_queue_url", "deep_check_dlq_url"}
)
