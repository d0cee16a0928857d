"""The local stack seen from its edges: S3, the status API, DynamoDB, the emulator's counters."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import requests

from replica_pipeline.rules.identity import combined_submission_id
from replica_pipeline.rules.states import TERMINAL

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "sample.mp4"
DATA = ROOT / "tests" / "data"
TERMINAL_WORDS = {status.value for status in TERMINAL}


class Edges:
    def __init__(self, stack: dict[str, str]) -> None:
        self.stack = stack
        session = boto3.session.Session(
            aws_access_key_id=stack["aws_access_key_id"],
            aws_secret_access_key=stack["aws_secret_access_key"],
            region_name=stack["region"],
        )
        self.s3 = session.client("s3", endpoint_url=stack["aws_endpoint_url"])
        self.table = session.resource("dynamodb", endpoint_url=stack["aws_endpoint_url"]).Table(
            stack["table"]
        )
        # Unique per test, so tests never see each other's drops.
        self.run = uuid.uuid4().hex[:8]

    def key(self, name: str) -> str:
        return f"{self.stack['upload_prefix']}{self.run}-{name}"

    def upload(self, key: str, body: Path | bytes, metadata: dict[str, str] | None = None) -> str:
        data = body.read_bytes() if isinstance(body, Path) else body
        response = self.s3.put_object(
            Bucket=self.stack["bucket"],
            Key=key,
            Body=data,
            Metadata=metadata or {},
            ContentType="video/mp4",
        )
        return str(response["ETag"]).strip('"')

    def api(self, path: str, **params: str) -> tuple[int, Any]:
        response = requests.get(f"{self.stack['api_url']}{path}", params=params, timeout=30)
        return response.status_code, response.json()

    def items_for(self, key_part: str) -> list[dict[str, Any]]:
        """Items whose training or consent key contains ``key_part`` (from the API)."""
        _, page = self.api("/replicas", limit="100")
        return [
            item
            for item in page["items"]
            if key_part in (item.get("training_key") or "") + (item.get("consent_key") or "")
        ]

    def wait_for(
        self, submission_id: str, statuses: set[str] | None = None, timeout: float = 60
    ) -> dict[str, Any]:
        """Poll the status API until the submission is in ``statuses`` (default: terminal)."""
        wanted = statuses or TERMINAL_WORDS
        deadline = time.monotonic() + timeout
        item: dict[str, Any] = {}
        while time.monotonic() < deadline:
            code, body = self.api(f"/replicas/{submission_id}")
            if code == 200:
                item = body
                if item["status"] in wanted:
                    return item
            time.sleep(0.25)
        raise AssertionError(f"{submission_id} did not reach {sorted(wanted)}: {item}")

    def wait_for_key(self, key_part: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            items = [i for i in self.items_for(key_part) if i["kind"] != "part"]
            if items:
                return self.wait_for(items[0]["submission_id"], timeout=deadline - time.monotonic())
            time.sleep(0.25)
        raise AssertionError(f"no submission for {key_part}")

    # -- the emulator ----------------------------------------------------------

    def tavus(self, path: str, method: str = "GET", **json_body: Any) -> Any:
        response = requests.request(
            method, f"{self.stack['tavus_url']}{path}", json=json_body or None, timeout=10
        )
        response.raise_for_status()
        return response.json()

    def inject_faults(self, **faults: Any) -> None:
        self.tavus("/_emulator/faults", "POST", **faults)

    def reset_faults(self) -> None:
        self.tavus("/_emulator/reset", "POST")

    def created_in_tavus(self, fragment: str) -> list[dict[str, Any]]:
        """Replicas in the emulator's own record whose requested name contains ``fragment``."""
        return [
            r
            for r in self.tavus("/_emulator/replicas")["data"]
            if fragment in (r["request"].get("replica_name") or "")
        ]

    def dead_letters(self, fragment: str) -> list[str]:
        """Bodies in the ingest dead-letter queue that mention ``fragment`` (left in place)."""
        sqs = boto3.client(
            "sqs",
            endpoint_url=self.stack["aws_endpoint_url"],
            region_name=self.stack["region"],
            aws_access_key_id=self.stack["aws_access_key_id"],
            aws_secret_access_key=self.stack["aws_secret_access_key"],
        )
        bodies: dict[str, str] = {}
        for _ in range(5):  # a receive samples the queue: look a few times
            for message in sqs.receive_message(
                QueueUrl=self.stack["dlq_url"], MaxNumberOfMessages=10, VisibilityTimeout=0
            ).get("Messages", []):
                bodies[message["MessageId"]] = message["Body"]
        return [body for body in bodies.values() if fragment in body]

    def emulator_replica(self, replica_id: str) -> dict[str, Any]:
        return next(
            r for r in self.tavus("/_emulator/replicas")["data"] if r["replica_id"] == replica_id
        )

    def wait_for_callbacks(
        self, replica_id: str, count: int, status: str | None = None, timeout: float = 20
    ) -> list[dict[str, Any]]:
        """The callbacks (with ``status``, default any) the emulator sent, once ``count`` were."""
        deadline = time.monotonic() + timeout
        sent: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            callbacks = self.emulator_replica(replica_id)["callbacks"]
            sent = [c for c in callbacks if status in (None, c["body"]["status"])]
            if len(sent) >= count:
                return sent
            time.sleep(0.2)
        raise AssertionError(f"only {len(sent)} {status or 'any'!r} callbacks were sent: {sent}")


def submit(edges: Edges, name: str, body: Path = SAMPLE) -> str:
    """Drop a single video; its submission id."""
    key = edges.key(f"{name}.mp4")
    etag = edges.upload(key, body, {"replica-name": f"{edges.run} {name}"})
    return combined_submission_id(
        edges.stack["bucket"],
        key.removeprefix(edges.stack["upload_prefix"]).removesuffix(".mp4"),
        etag,
    )
