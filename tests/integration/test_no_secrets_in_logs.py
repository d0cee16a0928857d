"""No log line of a full run carries a secret: the Tavus key, the HMAC key, the signer's
secret key, or any submission's callback token."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import requests

from replica_pipeline.rules.callback_token import callback_token
from tests.integration.edges import Edges, submit

pytestmark = [pytest.mark.integration, pytest.mark.security]


def test_a_full_run_logs_no_secret(edges: Edges, stack: dict[str, str]) -> None:
    # given a drop trained to completion (callbacks carry tokens) and some hostile callbacks
    sid = submit(edges, "secret-keeper")
    item = edges.wait_for(sid)
    assert item["status"] == "completed"
    forged = "0" * 64
    for token in (forged, None):
        requests.post(
            stack["callback_url"],
            params={"token": token} if token else None,
            json={"replica_id": item["replica_id"], "status": "ready"},
            timeout=10,
        )

    # when we read everything the stack logged
    log = (Path(stack["state_dir"]) / "logs" / "stack.log").read_text(errors="replace")

    # then no secret appears in it
    session = boto3.session.Session(
        aws_access_key_id=stack["aws_access_key_id"],
        aws_secret_access_key=stack["aws_secret_access_key"],
        region_name=stack["region"],
    )
    secrets = session.client("secretsmanager", endpoint_url=stack["aws_endpoint_url"])
    names = {s["Name"]: s["ARN"] for s in secrets.list_secrets()["SecretList"]}

    def value(fragment: str) -> str:
        arn = next(arn for name, arn in names.items() if fragment in name)
        text: str = secrets.get_secret_value(SecretId=arn)["SecretString"]
        return text

    hmac_key = value("callback-hmac-key")
    signer = json.loads(value("signer-key"))
    table = session.resource("dynamodb", endpoint_url=stack["aws_endpoint_url"]).Table(
        stack["table"]
    )
    tokens = [
        callback_token(str(i["submission_id"]), hmac_key.encode())
        for i in table.scan()["Items"]
        if i.get("replica_id")
    ]
    forbidden = {
        "Tavus API key": stack["tavus_api_key"],
        "callback HMAC key": hmac_key,
        "signer secret key": signer["secret_access_key"],
        "forged token": forged,
        **{f"callback token {n}": token for n, token in enumerate(tokens)},
    }
    assert len(log) > 1000  # the run did log
    leaked = [name for name, secret in forbidden.items() if secret in log]
    assert leaked == []
