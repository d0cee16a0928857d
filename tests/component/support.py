"""Steps that several component tests share: take a drop to training, finish it in Tavus,
crash an ingest after Create Replica, ask for a retry, wire the reconciler."""

from __future__ import annotations

import json
from typing import Any

import pytest

from replica_pipeline.adapters.store.repository import ReplicaStore
from replica_pipeline.adapters.tavus import TavusClient
from replica_pipeline.config import ReconcileSettings
from replica_pipeline.rules.states import Status
from replica_pipeline.services.ingest import ingest_record
from replica_pipeline.services.reconcile import ReconcileDependencies, ReconcileReport, reconcile
from tests.harness import Pipeline

RETRY_RESOURCE = "/replicas/{submission_id}/retry"


def submitted(pipeline: Pipeline, key: str = "uploads/olga.mp4") -> dict[str, Any]:
    """A drop taken all the way to training; its item."""
    pipeline.upload(key)
    assert pipeline.deliver() == {"batchItemFailures": []}
    [item] = [i for i in pipeline.items() if i["training_key"] == key]
    pipeline.status_events()  # what ingest announced is not this test's business
    return item


def finish_in_tavus(pipeline: Pipeline, replica_id: str, *, error: str | None = None) -> None:
    """Make the emulator's replica finish, as Tavus would before calling back."""
    replica = pipeline.emulator.replicas[replica_id]
    with pipeline.emulator.lock:
        replica.status = "error" if error else "completed"
        replica.error_message = error
        replica.progress = 0 if error else 100


class CrashAfterTavus(ReplicaStore):
    """A store whose process dies right after Tavus answered, before the replica id is written."""

    def transition(self, submission_id: str, new: Status, *args: Any, **kwargs: Any) -> Any:
        if new is Status.TRAINING:
            raise SystemExit("killed between Create Replica and the write")
        return super().transition(submission_id, new, *args, **kwargs)


def crash_after_create(pipeline: Pipeline, key: str) -> str:
    """Upload ``key``; its first handling reaches Tavus and dies. The event body."""
    pipeline.upload(key)
    [body] = pipeline.notification_bodies()
    crashing = pipeline.deps()
    crashing.store = CrashAfterTavus(crashing.store.table)
    with pytest.raises(SystemExit):
        ingest_record(body, crashing)
    pipeline.clock.advance(seconds=pipeline.settings.submit_lease.total_seconds() + 1)
    return body


def retry(pipeline: Pipeline, sid: str, body: Any = None) -> tuple[int, Any]:
    payload = None if body is None else json.dumps(body).encode()
    return pipeline.request(
        "status_api",
        "POST",
        f"/replicas/{sid}/retry",
        resource=RETRY_RESOURCE,
        body=payload,
        headers={"Content-Type": "application/json"},
    )


class CountingTavus(TavusClient):
    """The real client, remembering which replicas it asked about."""

    asked: list[str]

    def get_replica(self, replica_id: str, **kwargs: Any) -> dict[str, Any] | None:
        self.asked.append(replica_id)
        return super().get_replica(replica_id, **kwargs)


def reconciler(
    pipeline: Pipeline,
    *,
    store: ReplicaStore | None = None,
    asked: list[str] | None = None,
    client: type[CountingTavus] = CountingTavus,
    **settings: Any,
) -> ReconcileDependencies:
    """The reconciler wired as its handler wires it, on the pipeline's clock."""
    api_key = pipeline.secret(pipeline.resources.tavus_api_key_secret_arn)
    tavus_settings = pipeline.settings.tavus
    seen = asked if asked is not None else []

    def tavus() -> TavusClient:
        made = client(tavus_settings, api_key)
        made.asked = seen
        return made

    return ReconcileDependencies(
        store=store or pipeline.store(),
        tavus=tavus,
        settings=ReconcileSettings(**settings),
        clock=pipeline.clock,
    )


def run(deps: ReconcileDependencies) -> ReconcileReport:
    return reconcile(deps)
